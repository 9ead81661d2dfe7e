import { writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { collectorCommand } from '../src/cli.ts';
import {
  AGENT,
  e2eConfig,
  getJson,
  startChild,
  startInProcess,
  stopChild,
  tempDir,
} from './helpers/e2e-collector.ts';
import { at, connect, daysAgo, publishAll, telemetryEveryMinute } from './helpers/e2e-mqtt.ts';

/** `dayi collector`: help, config errors with their paths, rederive, and a clean stop on a signal. */

function capture() {
  let text = '';
  const write = (s: string | Uint8Array) => {
    text += String(s);
    return true;
  };
  return { write, text: () => text };
}

async function run(argv: string[]) {
  const stdout = capture();
  const stderr = capture();
  const code = await collectorCommand(argv, { stdout, stderr, stopSignal: Promise.resolve('test') });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

describe('dayi collector', () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());

  it('--help explains the command, its options, an example and where the docs are', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const words of [
      'dayi collector -c collector.yaml',
      'rederive',
      '--instrument',
      'Example:',
      'docs/api.md',
      '/docs',
    ]) {
      expect(r.stdout).toContain(words);
    }
  });

  it('needs -c, and rejects unknown options and arguments with exit code 2', async () => {
    for (const argv of [
      [],
      ['--port', '80'],
      ['-c', 'x.yaml', 'serve'],
      ['-c', 'x.yaml', '--instrument', 'A'],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^dayi collector: /);
      expect(r.stderr).toContain('Usage:');
    }
  });

  it('prints every config error with its path and exits 2', async () => {
    const file = join(tmp.dir, 'bad.yaml');
    writeFileSync(
      file,
      `http: { port: eighty }
offlineAfter: 5 minutes
apiKeys: [{ name: p, key: short, role: platform }]
agents: [{ username: a, password: "\${DAYI_TEST_UNSET_PASSWORD}", instruments: [X-1] }]
colour: red
`,
    );
    const r = await run(['-c', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${file}:`);
    for (const path of [
      'line 1: http.port:',
      'line 2: offlineAfter:',
      'line 3: apiKeys.0.key:',
      'line 4: agents.0.password:',
      'line 5: colour: unknown key',
    ]) {
      expect(r.stderr).toContain(`  ${path}`);
    }
    const missing = await run(['-c', join(tmp.dir, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read file');
  });

  it('a port in use is one line that names the key to change, not a stack trace', async () => {
    // Both the broker's and the API's port: each is taken by another listener first.
    for (const key of ['mqtt', 'http'] as const) {
      const blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const port = (blocker.address() as AddressInfo).port;
      const file = join(tmp.dir, `busy-${key}.yaml`);
      const config = e2eConfig(tmp.dir, ['LAB-BUSY-0001'], {
        store: { sqlite: join(tmp.dir, `busy-${key}.sqlite`) },
      });
      writeFileSync(file, stringify({ ...config, [key]: { host: '127.0.0.1', port } }));
      try {
        const r = await run(['-c', file]);
        expect(r.code).toBe(1);
        expect(r.stderr).toBe(
          `dayi collector: ${key}.port ${port} on 127.0.0.1 is in use by another program: set ${key}.port in ${file} to a free port, or stop that program\n`,
        );
      } finally {
        blocker.close();
      }
    }
  });

  it('rederive rebuilds the figures from the ledger, for one instrument or all', async () => {
    const id = 'LAB-NMR-0001';
    const config = e2eConfig(tmp.dir, [id]);
    const day = daysAgo(4);
    const collector = await startInProcess(config);
    const client = await connect(collector.mqttPort, AGENT);
    await publishAll(
      client,
      telemetryEveryMinute(id, at(day, '09:00'), at(day, '11:00'), () => 'running'),
    );
    await client.endAsync();
    const before = await getJson(collector.baseUrl, `/v1/instruments/${id}/usage?from=${day}&to=${day}`);
    expect(before).toMatchObject({ poweredHours: 2, runningHours: 2 });
    await collector.close();

    const file = join(tmp.dir, 'rederive.yaml');
    writeFileSync(file, stringify(config));
    const one = await run(['rederive', '-c', file, '--instrument', id]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/^rederived LAB-NMR-0001 from the ledger: 1 instruments, 121 messages, /);
    const all = await run(['rederive', '-c', file]);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/^rederived every instrument from the ledger: /);

    const again = await startInProcess(config);
    expect(await getJson(again.baseUrl, `/v1/instruments/${id}/usage?from=${day}&to=${day}`)).toEqual(before);
    await again.close();
  });

  it('runs as `dayi collector -c FILE`, logs its URLs, and stops cleanly on SIGINT', async () => {
    const dir = tempDir();
    try {
      const c = await startChild(e2eConfig(dir.dir, ['LAB-XRD-0001']), dir.dir);
      const ready = c
        .output()
        .split('\n')
        .find((l) => l.includes('dayi collector ready'))!;
      expect(JSON.parse(ready)).toMatchObject({
        api: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/v1$/),
        docs: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/docs$/),
        mqtt: expect.stringMatching(/^mqtt:\/\/127\.0\.0\.1:\d+$/),
      });
      const health = await fetch(`${c.baseUrl}/healthz`);
      expect(await health.json()).toEqual({ status: 'ok', mqtt: { port: c.mqttPort }, store: 'ok' });
      await stopChild(c.child, 'SIGINT');
      expect(c.child.exitCode).toBe(0);
      expect(c.output()).toContain('stopping');
      // Keys and passwords from the config never reach the log.
      expect(c.output()).not.toContain('platform-key-0123456789abcdef');
      expect(c.output()).not.toContain('agent-password-1');
    } finally {
      dir.remove();
    }
  });
});
