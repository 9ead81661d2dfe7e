/**
 * `dayi agent calibrate` as a technician runs it: through bin/dayi.js, under the README's default
 * launcher on an older Node too (it re-runs itself on the repository's Node 24), on a real
 * terminal (a pty) where Ctrl-C is a keypress. Each test here was written against a usability
 * defect of issue 15 and failed before its fix.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const DAYI = join(ROOT, 'bin/dayi.js');
const PTY_RUN = join(import.meta.dirname, 'fixtures/pty-run.py');
const dir = mkdtempSync(join(tmpdir(), 'dayi-calibrate-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A process with its output captured as it comes; `closed` resolves once its pipes are closed. */
function started(command: string, args: string[]) {
  const p = spawn(command, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const seen = { stdout: '', stderr: '' };
  p.stdout!.on('data', (d: Buffer) => {
    seen.stdout += d.toString();
  });
  p.stderr!.on('data', (d: Buffer) => {
    seen.stderr += d.toString();
  });
  const closed = new Promise<Run>((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, ...seen }));
  });
  return { p, seen, closed };
}

const run = (node: string, args: string[]): Promise<Run> => started(node, [DAYI, ...args]).closed;

const dayi = (args: string[]) => run(process.execPath, args);

/** The system's older Node (the README's launcher case): the first `node` on PATH older than 24. */
function olderNode(): string {
  const candidates = [
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'node')),
    '/usr/bin/node',
    '/usr/local/bin/node',
  ];
  for (const c of candidates) {
    if (!existsSync(c) || c.includes('node_modules')) continue;
    try {
      const v = execFileSync(c, ['--version'], { encoding: 'utf8' }).trim();
      if (Number(v.slice(1).split('.')[0]) < 24) return c;
    } catch {
      // not runnable: next
    }
  }
  throw new Error(
    'these tests need a system Node older than 24 (the README: "any Node.js ≥ 20"); none found on PATH',
  );
}

/** A config holding only the instrument: a fast simulated cycle, classified at the same pace. */
const INSTRUMENT_ONLY = `instruments:
  - id: ZJ-CAL-0001
    inputs:
      - type: simulated
        pattern: steps
        every: 5ms
        steps:
          - { watts: 0, for: 100ms }
          - { watts: 15, for: 100ms }
          - { watts: 900, for: 100ms }
    state: { signal: power_w, window: 20ms, minDwell: 30ms, thresholds: { standby: 1, idle: 2, running: 3 } }
`;
const instrumentOnly = join(dir, 'instrument-only.yaml');
writeFileSync(instrumentOnly, INSTRUMENT_ONLY);
/** The same with the sections the agent itself needs. */
const config = join(dir, 'agent.yaml');
writeFileSync(config, `agent: { id: lab-pc }\nmqtt: { url: "mqtt://127.0.0.1:1883" }\n${INSTRUMENT_ONLY}`);

/** A live recording of an hour: ended by a signal in the tests that use it. */
const RECORD_AN_HOUR = [
  'agent',
  'calibrate',
  '-c',
  config,
  '--instrument',
  'ZJ-CAL-0001',
  '--duration',
  '1h',
];

/** The pids of a process's children (Linux /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    if (text) out.push(...text.split(/\s+/).map(Number));
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('dayi agent calibrate --help', () => {
  it('explains calibrate itself: sources, --duration units, its default and maximum, Ctrl-C, the output', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await dayi(['agent', 'calibrate', flag]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      const help = r.stdout;
      expect(help).toMatch(/^Usage: dayi agent calibrate /);
      expect(help).toMatch(/--duration TIME +how long to record live: a number and a unit, ms, s, m, h or d/);
      expect(help).toContain('default 2h, at most 24d');
      expect(help).toContain('Ctrl-C (or SIGTERM) ends the recording early');
      expect(help).toMatch(/--from-csv FILE +ts,value rows/);
      expect(help).toMatch(/--running-from LEVEL/);
      expect(help).toMatch(/Output: the report on stdout/);
      expect(help).toMatch(/Exit status: 0 thresholds suggested/);
      expect(help).not.toContain('dayi agent install');
    }
  });
});

describe('README', () => {
  it('lists calibrate in its command table, with options calibrate has', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const table = readme.slice(
      readme.indexOf('## Commands'),
      readme.indexOf('\n## ', readme.indexOf('## Commands') + 3),
    );
    const row = table.split('\n').find((l) => l.startsWith('| `npx dayi agent calibrate'));
    expect(row, 'a row for npx dayi agent calibrate').toBeDefined();
    const help = (await dayi(['agent', 'calibrate', '--help'])).stdout;
    for (const option of row!.match(/--[a-z-]+/g) ?? []) expect(help, option).toContain(option);
    expect(row).toMatch(/--from-csv/);
  });
});

describe('a config holding only the instrument', () => {
  it('is enough for calibrate (no agent: or mqtt: section)', async () => {
    const r = await dayi(['agent', 'calibrate', '-c', instrumentOnly, '--duration', '2s']);
    expect(r.stderr).not.toMatch(/agent:|mqtt:|invalid configuration/);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Suggested state for ZJ-CAL-0001');
  });
});

describe('errors on stderr, the report on stdout', () => {
  it('an unknown instrument and a duration out of range are errors on stderr, with nothing on stdout', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['agent', 'calibrate', '-c', config, '--instrument', 'NOPE'],
        /no instrument "NOPE" in .*; it has: ZJ-CAL-0001/,
      ],
      [
        ['agent', 'calibrate', '-c', config, '--instrument', 'ZJ-CAL-0001', '--duration', '25d'],
        /at most 24d/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await dayi(args);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.code, args.join(' ')).not.toBe(0);
    }
  });

  it('progress goes to stderr, the report alone to stdout', async () => {
    const r = await dayi([
      'agent',
      'calibrate',
      '-c',
      config,
      '--instrument',
      'ZJ-CAL-0001',
      '--duration',
      '2s',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('Recording');
    expect(r.stderr).toContain('Recording power_w of ZJ-CAL-0001');
    expect(r.stdout).toMatch(/^Calibration of ZJ-CAL-0001/);
  });

  it('every other error too, with its exit status', async () => {
    const cases: [string[], number, RegExp][] = [
      [['agent', 'calibrate', '-c', config, '--duration', 'soon'], 2, /--duration: invalid duration "soon"/],
      [['agent', 'calibrate', '--from-csv', join(dir, 'missing.csv')], 1, /cannot read .*missing\.csv/],
      [['agent', 'calibrate'], 2, /-c agent\.yaml is required for a live recording/],
      [['agent', 'calibrate', '-c', config, '--bogus'], 2, /Unknown option '--bogus'/],
      [
        ['agent', 'calibrate', '-c', config, '--running-from', 'lots'],
        2,
        /--running-from: "lots" is neither a level number/,
      ],
      [
        ['agent', 'calibrate', '--from-csv', config, '--duration', '1h'],
        2,
        /--duration is for a live recording/,
      ],
    ];
    for (const [args, code, message] of cases) {
      const r = await dayi(args);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.code, args.join(' ')).toBe(code);
    }
  });
});

describe('a recording saved and analysed again', () => {
  it('a live recording is saved as CSV, and --from-csv gives the same block', async () => {
    const save = join(dir, 'rec.csv');
    const r = await dayi(['agent', 'calibrate', '-c', instrumentOnly, '--duration', '2s', '--save', save]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Recording saved to ${save}`);
    const again = await dayi(['agent', 'calibrate', '-c', instrumentOnly, '--from-csv', save]);
    expect(again.code).toBe(0);
    const block = (text: string) => text.slice(text.indexOf('    state:'), text.indexOf('On this recording'));
    expect(block(again.stdout)).toContain('thresholds:');
    expect(block(again.stdout)).toBe(block(r.stdout));
  });
});

describe('dayi config check', () => {
  it('refuses standby 0, which makes an unplugged instrument powered', async () => {
    const file = join(dir, 'standby-zero.yaml');
    writeFileSync(
      file,
      `agent: { id: a }\nmqtt: { url: "mqtt://127.0.0.1:1883" }\n${INSTRUMENT_ONLY.replace('standby: 1,', 'standby: 0,')}`,
    );
    const r = await dayi(['config', 'check', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/instruments\.0\.state\.thresholds\.standby: must be above 0/);
  });
});

describe('under the default launcher on an older Node', () => {
  const node = olderNode();

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} sent to the launcher alone stops the recording: report, exit status, no recorder left`, async () => {
      const { p, seen, closed } = started(node, [DAYI, ...RECORD_AN_HOUR]);
      const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)));
      await until('the recording to start', () =>
        `${seen.stdout}${seen.stderr}`.includes('Recording power_w'),
      );
      const recorders = childrenOf(p.pid!);
      expect(recorders.length).toBe(1);
      // Let it record a few cycles of the simulated meter (a second is 3 cycles).
      await new Promise((r) => setTimeout(r, 1500));
      process.kill(p.pid!, signal);
      const code = await exited;
      // The launcher waited for the recorder, which stopped and reported: it is gone too.
      const left = recorders.filter(alive);
      for (const pid of left) process.kill(pid, 'SIGKILL');
      expect(left, 'recorders still running when the launcher had exited').toEqual([]);
      const { stdout, stderr } = await closed;
      expect(stdout).toMatch(/^Calibration of ZJ-CAL-0001/);
      expect(code).toBe(stdout.includes('Suggested state for') ? 0 : 1);
      expect(stderr).toContain(`Recording ended (${signal === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM'})`);
    });
  }

  it('Ctrl-C on a terminal: the report (and the choice of running) comes before the prompt returns', async () => {
    const script = [
      { wait: 'Recording power_w', then_sleep: 1.5, keys: '\u0003' },
      // A terminal is attached: calibrate asks which level starts running.
      { wait: 'Which level starts running', keys: '2\r' },
    ];
    const pty = await started('python3', [
      PTY_RUN,
      JSON.stringify(script),
      '--',
      node,
      DAYI,
      ...RECORD_AN_HOUR,
    ]).closed;
    const raw = pty.stdout;
    if (!raw) throw new Error(`pty-run.py: ${pty.stderr}`);
    const r = JSON.parse(raw) as {
      code: number | null;
      signal: number | null;
      atExit: string;
      output: string;
      steps: number;
    };
    // When the launcher (the shell's job) ended, the report was already on the terminal.
    expect(r.atExit, r.output).toMatch(/Calibration of ZJ-CAL-0001/);
    expect(r.signal).toBeNull();
    expect(r.atExit).toContain('Recording ended (Ctrl-C)');
    expect(r.atExit).toContain('Which level starts running');
    expect(r.steps).toBe(2);
    expect(r.atExit).toMatch(/With running from level 2, the state for ZJ-CAL-0001 is:[\s\S]*thresholds:/);
    expect(r.code).toBe(0);
    // Nothing came after the prompt would have returned.
    expect(r.output).toBe(r.atExit);
  });
});
