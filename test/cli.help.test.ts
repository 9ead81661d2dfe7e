import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../bin/commands.ts';
import { dayi } from './helpers/run-dayi.ts';

const ROOT = new URL('..', import.meta.url).pathname;

/** `dayi agent calibrate --help` gets its own text under issue 15; until then it is the agent's. */
describe('every command answers --help with its own text and exit code 0', () => {
  it.each(COMMANDS.map((c) => c.path))('dayi %s --help', async (path) => {
    const words = path.split(' ');
    const r = await dayi([...words, '--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/Usage/);
    expect(r.stdout).toContain(`dayi ${path}`);
    // `dayi help …` says the same.
    expect((await dayi(['help', ...words])).stdout).toBe(r.stdout);
    if (words.length > 1) {
      // its own: not its parent's text
      const parent = await dayi([...words.slice(0, -1), '--help']);
      expect(r.stdout).not.toBe(parent.stdout);
      expect(r.stdout.split('\n')[0]).toMatch(new RegExp(`^Usage: dayi ${path}( |$)`));
    }
  });

  it('dayi config --help', async () => {
    const r = await dayi(['config', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('check FILE');
  });

  it('the top-level help lists every command', async () => {
    const r = await dayi(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toContain(c.usage);
  });
});

describe("the README's command table", () => {
  it('lists exactly the commands that exist', () => {
    const readme = readFileSync(`${ROOT}/README.md`, 'utf8');
    const section = readme.slice(
      readme.indexOf('## Commands'),
      readme.indexOf('\n## ', readme.indexOf('## Commands') + 3),
    );
    const listed = [...section.matchAll(/^\| `npx dayi ([^`]+)`/gm)].map((m) =>
      // The command's words: up to its first option or argument (`-c`, `FILE`, `--help`).
      m[1]!
        .split(' ')
        .filter((_w, i, all) => all.slice(0, i + 1).every((x) => /^[a-z][a-z-]*$/.test(x)))
        .join(' '),
    );
    expect(listed.filter((c) => c !== '').sort()).toEqual(COMMANDS.map((c) => c.path).sort());
    expect(section).toContain('`npx dayi --help`');
  });
});
