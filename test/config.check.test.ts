import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dayi } from './helpers/run-dayi.ts';

const ROOT = new URL('..', import.meta.url).pathname;

describe('dayi config check', () => {
  const saved = process.env.DAYI_AGENT_PW;
  afterEach(() => {
    if (saved === undefined) delete process.env.DAYI_AGENT_PW;
    else process.env.DAYI_AGENT_PW = saved;
  });

  it('checks every firmware profile shipped, by its content', async () => {
    for (const kind of ['modbus', 'opcua']) {
      for (const f of readdirSync(join(ROOT, 'firmware-configs', kind))) {
        const r = await dayi(['config', 'check', join(ROOT, 'firmware-configs', kind, f)]);
        expect(r.stderr, f).toBe('');
        expect(r.code, f).toBe(0);
        expect(r.stdout).toContain(`valid ${kind === 'modbus' ? 'Modbus meter' : 'OPC UA'} profile`);
      }
    }
  });

  it('refuses a broken profile with every error, its line and path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dayi-check-'));
    const text = readFileSync(join(ROOT, 'firmware-configs/modbus/eastron-sdm630.yaml'), 'utf8')
      .replace('name: eastron-sdm630', 'name: eastron-sdm63')
      .replace(/^model:/m, 'modell:')
      .concat('x_manufacturer: Eastron\n')
      .replace(/fc: 4, address: 0x0034/, 'fc: 5, address: 0x0034');
    const file = join(dir, 'eastron-sdm630.yaml');
    writeFileSync(file, text);
    const r = await dayi(['config', 'check', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^.*eastron-sdm630\.yaml: 5 errors in Modbus meter profile\n/);
    expect(r.stderr).toContain('\n  model: missing: give text\n');
    expect(r.stderr).toMatch(/line \d+: name: is "eastron-sdm63" but the file is eastron-sdm630\.yaml: /);
    expect(r.stderr).toMatch(/line \d+: modell: unknown key `modell` \(did you mean `model`\?\)/);
    expect(r.stderr).toMatch(/line \d+: x_manufacturer: unknown key `x_manufacturer`/);
    expect(r.stderr).toMatch(/line \d+: points\.\d+\.fc: fc must be 1, 2, 3 or 4/);
  });

  it('reports every error of an agent config in one pass: schema, environment, profiles', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dayi-check-'));
    cpSync(join(ROOT, 'firmware-configs'), join(dir, 'profiles'), { recursive: true });
    // A damaged copy of a profile the config names.
    const opcua = join(dir, 'profiles/opcua/opcua-machinery.yaml');
    writeFileSync(opcua, readFileSync(opcua, 'utf8').replace('rootSearch:', 'rootSerch:'));
    delete process.env.DAYI_AGENT_PW;
    const agent = readFileSync(join(ROOT, 'examples/agent.yaml'), 'utf8')
      .replace(
        'outbox: { dir: ./outbox, maxBytes: 256MiB }',
        'outbox: { dir: ./outbox, maxByte: 256MiB }\nprofilesDir: ./profiles',
      )
      .replace('profile: chint-ddsu666', 'profile: chint-ddsu999');
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, agent);
    const r = await dayi(['config', 'check', file]);
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe(`${file}: 5 errors in agent config`);
    expect(lines.slice(1, 6)).toEqual([
      '  line 4: mqtt.password: environment variable DAYI_AGENT_PW is not set',
      '  line 5: outbox.maxByte: unknown key `maxByte` (did you mean `maxBytes`?)',
      expect.stringMatching(
        /^ {2}line 14: instruments\.0\.inputs\.1\.profile: unknown Modbus profile "chint-ddsu999"; .*chint-ddsu666/,
      ),
      expect.stringMatching(
        /^ {2}line 16: instruments\.0\.inputs\.2\.profile: .*opcua-machinery\.yaml: rootSearch: missing: give text$/,
      ),
      expect.stringMatching(
        /^ {2}line 16: instruments\.0\.inputs\.2\.profile: .*opcua-machinery\.yaml: line \d+: rootSerch: unknown key `rootSerch` \(did you mean `rootSearch`\?\)$/,
      ),
    ]);
  });

  it('refuses an empty file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dayi-check-'));
    for (const [name, text] of [
      ['empty.yaml', ''],
      ['comments.yaml', '# nothing yet\n'],
    ]) {
      writeFileSync(join(dir, name!), text!);
      const r = await dayi(['config', 'check', join(dir, name!)]);
      expect(r.code, name).toBe(1);
      expect(r.stderr).toContain(
        '(root): the file is empty (or only comments): write the configuration into it',
      );
    }
  });
});
