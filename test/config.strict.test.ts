import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAgentConfig } from '@dayi/agent/config.ts';
import { parseCollectorConfigText } from '@dayi/collector/config.ts';
import { ConfigError, type ConfigIssue, looseObjects, parseConfig } from '@dayi/protocols';
import { profileSchema } from '@dayi/protocols/modbus/profile.ts';
import { opcuaProfileSchema } from '@dayi/protocols/opcua/profile.ts';
import { describe, expect, it } from 'vitest';
import { isMap, isPair, isScalar, isSeq, parseDocument, visit } from 'yaml';

const ROOT = new URL('..', import.meta.url).pathname;
const ENV = {
  DAYI_PLATFORM_KEY: 'platform-key-0123456789',
  DAYI_AUDITOR_KEY: 'auditor-key-0123456789',
  DAYI_AGENT_PW: 'agent-password',
  DAYI_OPCUA_PW: 'opcua-password',
  DAYI_INFLUX_PASSWORD: 'influx-password',
  HOOK_SECRET: 'hook-secret-0123456789',
  WECOM_ROBOT_URL: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=example',
};

/** Every section of every config the collector and agent read: collector, agent, both kinds of profile. */
const SCHEMAS = {
  collector: () => import('@dayi/collector/config.ts').then((m) => m.collectorConfigSchema),
  agent: () => import('@dayi/agent/config.ts').then((m) => m.agentConfigSchema),
  'modbus profile': async () => profileSchema,
  'opcua profile': async () => opcuaProfileSchema,
};

describe('every configuration section refuses unknown keys', () => {
  it.each(Object.keys(SCHEMAS))('%s: no object schema drops unknown keys silently', async (name) => {
    const schema = await SCHEMAS[name as keyof typeof SCHEMAS]();
    // A section written with z.object() (not z.strictObject) would accept `threshold:` for
    // `thresholds:` and ignore it. The list names each such section.
    expect(looseObjects(schema)).toEqual([]);
  });
});

/** A collector config that uses every section, so that every key of it is exercised. */
const FULL_COLLECTOR = `
http: { host: 127.0.0.1, port: 8080 }
mqtt:
  host: 127.0.0.1
  port: 1883
  maxPacketBytes: 256KiB
  tls: { port: 8883, cert: server.crt, key: server.key }
store: { sqlite: ./data/dayi.sqlite, sync: normal }
influx: { url: "http://127.0.0.1:8086", database: dayi, username: u, password: p }
timezone: Asia/Shanghai
idleDays: 90
offlineAfter: 5m
log: { level: info }
apiKeys:
  - { name: platform, key: "\${DAYI_PLATFORM_KEY}", role: platform }
agents:
  - { username: lab3-pc7, password: "\${DAYI_AGENT_PW}", instruments: [ZJ-NMR-0001] }
instruments:
  - id: ZJ-NMR-0001
    name: 600 MHz NMR
    org: Zhejiang University
    category: NMR
    quotaHours: 1400
    idleDays: 30
    thresholds: { signal: power_w, standby: 5, idle: 80, running: 400 }
`;

type Parser = (text: string) => unknown;
const collector: Parser = (t) => parseCollectorConfigText(t, ENV);
const agent: Parser = (t) => parseAgentConfig(t, { env: ENV, baseDir: ROOT });
const modbusProfile: Parser = (t) => parseConfig(t, profileSchema, { env: {} });
const opcuaProfile: Parser = (t) => parseConfig(t, opcuaProfileSchema, { env: {} });

const FILES: [string, string, Parser][] = [
  ['a collector config using every section', FULL_COLLECTOR, collector],
  ['examples/collector.yaml', readFileSync(join(ROOT, 'examples/collector.yaml'), 'utf8'), collector],
  ['deploy/collector.yaml', readFileSync(join(ROOT, 'deploy/collector.yaml'), 'utf8'), collector],
  ['examples/agent.yaml', readFileSync(join(ROOT, 'examples/agent.yaml'), 'utf8'), agent],
  ['deploy/agent-demo.yaml', readFileSync(join(ROOT, 'deploy/agent-demo.yaml'), 'utf8'), agent],
  ...readdirSync(join(ROOT, 'firmware-configs/modbus')).map((f): [string, string, Parser] => [
    `firmware-configs/modbus/${f}`,
    readFileSync(join(ROOT, 'firmware-configs/modbus', f), 'utf8'),
    modbusProfile,
  ]),
  ...readdirSync(join(ROOT, 'firmware-configs/opcua')).map((f): [string, string, Parser] => [
    `firmware-configs/opcua/${f}`,
    readFileSync(join(ROOT, 'firmware-configs/opcua', f), 'utf8'),
    opcuaProfile,
  ]),
  ...['modbus', 'opcua', 'serial', 'simulated'].map((type): [string, string, Parser] => {
    const text = readFileSync(join(ROOT, `agent/src/inputs/${type}/sample.yaml`), 'utf8');
    // A sample of inputs only goes under instruments[] of an agent.yaml.
    const whole = /^inputs:/m.test(text)
      ? `agent: { id: a }\nmqtt: { url: "mqtt://127.0.0.1:1883" }\ninstruments:\n  - id: X-1\n${text.replace(/^/gm, '    ')}`
      : text;
    return [`agent/src/inputs/${type}/sample.yaml`, whole, agent];
  }),
];

/** Mappings whose keys are data (state texts, namespace aliases, metric names), not settings. */
const FREE_KEYS = new Set(['map', 'namespaces', 'scale']);

/** Each settings key of the document, by its dotted path, with a copy of the text where it is misspelt. */
function misspellings(text: string): { path: string; key: string; text: string }[] {
  const paths: string[][] = [];
  visit(parseDocument(text), {
    Pair(_key, pair, path) {
      if (!isScalar(pair.key)) return;
      const at: string[] = [];
      let parentKey: string | undefined;
      for (let i = 0; i < path.length; i++) {
        const node = path[i];
        const child = path[i + 1] ?? pair;
        if (isPair(node) && isScalar(node.key)) at.push(String(node.key.value));
        if (isSeq(node)) at.push(String(node.items.indexOf(child as never)));
        if (isMap(node) && i === path.length - 1) {
          const owner = path[i - 1];
          parentKey = isPair(owner) && isScalar(owner.key) ? String(owner.key.value) : undefined;
        }
      }
      if (parentKey !== undefined && FREE_KEYS.has(parentKey)) return;
      paths.push([...at, String(pair.key.value)]);
    },
  });
  return paths.map((p) => {
    const doc = parseDocument(text);
    const key = p[p.length - 1]!;
    const typo = key.length > 3 ? key.slice(0, -1) : `${key}x`;
    const node = doc.getIn(p.slice(0, -1)) ?? doc.contents;
    const pair = (node as { items: { key: { value: unknown } }[] }).items.find((i) => i.key.value === key)!;
    pair.key.value = typo;
    return { path: [...p.slice(0, -1), typo].join('.'), key, text: doc.toString() };
  });
}

describe('a config file with one misspelt key anywhere is refused with the path of the key', () => {
  it.each(FILES)('%s', (_name, text, parse) => {
    expect(() => parse(text)).not.toThrow();
    const cases = misspellings(text);
    expect(cases.length).toBeGreaterThan(3);
    for (const c of cases) {
      let issues: ConfigIssue[] = [];
      try {
        parse(c.text);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        issues = err.issues;
      }
      const at = issues.find((i) => i.path === c.path);
      expect(at, `${c.path} accepted; issues: ${JSON.stringify(issues)}`).toBeDefined();
      expect(at!.message).toMatch(/^unknown key `/);
      expect(at!.line).toBeGreaterThan(0);
    }
  });

  it('names the key that was meant when one is close, and the keys allowed when none is', () => {
    const issuesOf = (text: string) => {
      try {
        collector(text);
      } catch (err) {
        if (err instanceof ConfigError) return err.issues;
        throw err;
      }
      return [];
    };
    expect(
      issuesOf(
        'instruments:\n  - id: A-1\n    threshold: { standby: 5, idle: 80, running: 400 }\nstore: { retentionDay: 3 }\n',
      ),
    ).toEqual([
      {
        line: 3,
        path: 'instruments.0.threshold',
        message: 'unknown key `threshold` (did you mean `thresholds`?)',
      },
      {
        line: 4,
        path: 'store.retentionDay',
        message: 'unknown key `retentionDay`: remove it; allowed here are sqlite, sync, rejected',
      },
    ]);
  });
});
