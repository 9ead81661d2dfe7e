/**
 * Node.js flags the installed agent service runs with.
 *
 * `--max-semi-space-size=1`: the agent allocates a little, steadily; V8's default young generation
 * (semi-spaces growing to 16 MiB and more) only inflates its resident memory. With 1 MiB semi-spaces
 * the 10-minute `bench/agent` run peaked at 157 MiB instead of 214 MiB, at the same CPU share
 * (docs/performance.md).
 */
export const AGENT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];
