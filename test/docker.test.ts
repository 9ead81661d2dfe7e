import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * No Docker engine runs here, so the image is checked where it can be: docker-compose's own
 * reading of the compose file, and the Dockerfile's instructions. The defect this holds: every
 * folder a container writes must lie in a volume whose mount point the image gives to the user
 * the container runs as (a fresh named volume copies the mount point's owner).
 */

const ROOT = new URL('..', import.meta.url).pathname;
const run = promisify(execFile);

interface Instruction {
  op: string;
  args: string;
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function dockerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

/** Folders made (mkdir) and given to `user` (chown) by RUN before the last USER instruction. */
function ownedBy(instructions: Instruction[], user: string): string[] {
  const last = instructions.map((i) => i.op).lastIndexOf('USER');
  const made = new Set<string>();
  const owned: string[] = [];
  for (const i of instructions.slice(0, last)) {
    if (i.op !== 'RUN') continue;
    for (const cmd of i.args.split(/&&|;/).map((c) => c.trim().split(/\s+/))) {
      const args = cmd.slice(1).filter((a) => !a.startsWith('-'));
      if (cmd[0] === 'mkdir') for (const p of args) made.add(p);
      if (cmd[0] !== 'chown') continue;
      const [owner, ...paths] = args;
      // chown of a folder no step made would fail the build
      if (owner?.split(':')[0] === user) owned.push(...paths.filter((p) => made.has(p)));
    }
  }
  return owned;
}

describe('the container can write its volumes', () => {
  it('each folder a service writes is a named volume owned by the user the image runs as', async () => {
    const { stdout } = await run('docker-compose', ['-f', join(ROOT, 'docker-compose.yml'), 'config'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DAYI_PLATFORM_KEY: 'platform-key-0123456789',
        DAYI_AGENT_PW: 'agent-password',
        DAYI_INFLUX_PASSWORD: 'influx-password',
        DAYI_INFLUX_ADMIN_PASSWORD: 'influx-admin-password',
        DAYI_GRAFANA_INFLUX_PASSWORD: 'grafana-influx-password',
        DAYI_GRAFANA_ADMIN_PASSWORD: 'grafana-admin-password',
      },
    });
    const compose = parse(stdout) as {
      services: Record<string, { volumes?: (string | { type: string; source: string; target: string })[] }>;
      volumes?: Record<string, unknown>;
    };
    const instructions = dockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
    const users = instructions.filter((i) => i.op === 'USER').map((i) => i.args);
    const user = users[users.length - 1];
    expect(user, 'the image runs as a user of its own, not root').toBe('node');
    const owned = ownedBy(instructions, user!);

    // What each service writes, from the configuration it is given.
    const collector = parse(readFileSync(join(ROOT, 'deploy/collector.yaml'), 'utf8')) as {
      store: { sqlite: string };
    };
    const agent = parse(readFileSync(join(ROOT, 'deploy/agent-demo.yaml'), 'utf8')) as {
      outbox: { dir: string };
    };
    const writes: Record<string, string> = {
      collector: posix.dirname(collector.store.sqlite),
      'demo-agent': agent.outbox.dir,
    };
    for (const [service, dir] of Object.entries(writes)) {
      const mounts = (compose.services[service]?.volumes ?? []).map((v) => {
        if (typeof v !== 'string') return { source: v.source, target: v.target, named: v.type === 'volume' };
        const [source, target] = v.split(':') as [string, string];
        return { source, target, named: Object.hasOwn(compose.volumes ?? {}, source) };
      });
      const mount = mounts.find((m) => dir === m.target || dir.startsWith(`${m.target}/`));
      expect(mount, `${service} writes ${dir}: it must be a volume`).toBeDefined();
      expect(mount!.named, `${service}: ${mount!.target} is a named volume`).toBe(true);
      expect(
        owned,
        `${service}: the Dockerfile gives ${mount!.target} to ${user} before USER ${user}`,
      ).toContain(mount!.target);
    }
  });
});
