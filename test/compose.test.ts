import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseAgentConfig } from '../agent/src/config.ts';
import { parseCollectorConfigText } from '../collector/src/config.ts';

/**
 * docker-compose.yml as Debian's docker-compose (1.29) sees it, with no Docker engine: the file
 * validates (`docker-compose config`), every file and folder a service mounts exists, the mounted
 * configs are valid for the programs that read them and point at the services of the file, and the
 * Dockerfile is multi-stage and runs as a non-root user.
 */

const ROOT = new URL('..', import.meta.url).pathname;
const run = promisify(execFile);
const SECRETS = {
  DAYI_PLATFORM_KEY: 'platform-key-0123456789',
  DAYI_AGENT_PW: 'agent-password',
  DAYI_INFLUX_PASSWORD: 'influx-password',
  DAYI_INFLUX_ADMIN_PASSWORD: 'influx-admin-password',
  DAYI_GRAFANA_INFLUX_PASSWORD: 'grafana-influx-password',
  DAYI_GRAFANA_ADMIN_PASSWORD: 'grafana-admin-password',
};

interface Service {
  image?: string;
  build?: unknown;
  environment?: Record<string, string>;
  /** docker-compose 1.29 prints the short syntax: `SOURCE:TARGET[:MODE]`. */
  volumes?: (string | { type: string; source: string; target: string; read_only?: boolean })[];
  depends_on?: Record<string, { condition: string }>;
  command?: string[];
}

async function composeConfig(env: Record<string, string>) {
  try {
    const r = await run('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('docker-compose.yml', () => {
  it('validates with docker-compose config, and names a missing secret', async () => {
    const ok = await composeConfig(SECRETS);
    expect(ok.code, ok.stderr).toBe(0);
    const { DAYI_INFLUX_PASSWORD: _, ...missing } = SECRETS;
    const bad = await composeConfig(missing);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/DAYI_INFLUX_PASSWORD/);
  });

  it('mounts only files and folders that exist, and configs that are valid and agree', async () => {
    const { stdout } = await composeConfig(SECRETS);
    const config = parse(stdout) as { services: Record<string, Service>; volumes: Record<string, unknown> };
    const services = config.services;
    expect(Object.keys(services).sort()).toEqual([
      'collector',
      'demo-agent',
      'grafana',
      'influxdb',
      'prometheus',
    ]);
    const binds: { service: string; source: string; target: string }[] = [];
    for (const [name, s] of Object.entries(services)) {
      // images are pinned: no implicit or explicit `latest`
      if (s.image) expect(s.image, name).toMatch(/:[^:]+$/);
      if (s.image) expect(s.image, name).not.toMatch(/:latest$/);
      for (const spec of s.volumes ?? []) {
        const v =
          typeof spec === 'string'
            ? (([source, target, mode]) => ({
                type: source!.startsWith('/') || source!.startsWith('.') ? 'bind' : 'volume',
                source: source!,
                target: target!,
                read_only: mode === 'ro',
              }))(spec.split(':'))
            : spec;
        if (v.type === 'bind') {
          expect(existsSync(v.source), `${name}: ${v.source}`).toBe(true);
          expect(v.source.startsWith(ROOT), `${name}: ${v.source} is in the repository`).toBe(true);
          expect(v.read_only, `${name}: ${v.target} is mounted read-only`).toBe(true);
          binds.push({ service: name, source: v.source, target: v.target });
        } else {
          expect(Object.keys(config.volumes), `${name}: volume ${v.source}`).toContain(v.source);
        }
      }
      for (const dep of Object.keys(s.depends_on ?? {}))
        expect(Object.keys(services), `${name} -> ${dep}`).toContain(dep);
    }
    const bind = (service: string, target: string) => {
      const b = binds.find((x) => x.service === service && x.target === target);
      expect(b, `${service} mounts ${target}`).toBeDefined();
      return b!.source;
    };

    // the collector: its config is valid with the service's environment and ships to the influxdb service
    const collectorEnv = services.collector!.environment!;
    const collectorYaml = readFileSync(bind('collector', '/etc/dayi/collector.yaml'), 'utf8');
    const collector = parseCollectorConfigText(collectorYaml, collectorEnv);
    expect(collector.influx?.url).toBe('http://influxdb:8086');
    expect(collector.influx?.database).toBe(services.influxdb!.environment!.INFLUXDB_DB);
    expect(collector.influx?.username).toBe(services.influxdb!.environment!.INFLUXDB_USER);
    expect(collector.influx?.password).toBe(services.influxdb!.environment!.INFLUXDB_USER_PASSWORD);
    expect(services.collector!.command).toEqual(['collector', '-c', '/etc/dayi/collector.yaml']);

    // the demo agent publishes to the collector service with an identity the collector knows
    const agent = parseAgentConfig(readFileSync(bind('demo-agent', '/etc/dayi/agent.yaml'), 'utf8'), {
      env: services['demo-agent']!.environment!,
      baseDir: '/app',
    });
    expect(agent.mqtt.url).toBe(`mqtt://collector:${collector.mqtt.port}`);
    const known = collector.agents.find((a) => a.username === agent.mqtt.username);
    expect(known?.password).toBe(agent.mqtt.password);
    for (const i of agent.instruments) expect(known?.instruments).toContain(i.id);

    // Prometheus scrapes the collector's HTTP port
    const prom = parse(readFileSync(bind('prometheus', '/etc/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    expect(prom.scrape_configs[0]!.static_configs[0]!.targets).toEqual([`collector:${collector.http.port}`]);
    expect(services.prometheus!.command).toContain('--config.file=/etc/prometheus/prometheus.yml');

    // Grafana: provisioning files exist; their data sources are the ones the dashboards use, and
    // point at the services; the dashboards provider reads the folder the dashboards are mounted on
    const provisioning = bind('grafana', '/etc/grafana/provisioning');
    const grafanaEnv = services.grafana!.environment!;
    const expand = (s: string) =>
      s.replace(/\$\{(\w+)\}/g, (_, v: string) => grafanaEnv[v] ?? `<unset ${v}>`);
    const uids = new Set<string>();
    for (const f of readdirSync(join(provisioning, 'datasources'))) {
      const ds = parse(readFileSync(join(provisioning, 'datasources', f), 'utf8')) as {
        datasources: {
          uid: string;
          type: string;
          url: string;
          jsonData?: { dbName?: string };
          user?: string;
        }[];
      };
      for (const d of ds.datasources) {
        uids.add(d.uid);
        const url = expand(d.url);
        expect(url, d.uid).not.toMatch(/unset/);
        const host = new URL(url).hostname;
        expect(Object.keys(services), `${d.uid} -> ${url}`).toContain(host);
        if (d.type === 'influxdb') {
          expect(expand(d.jsonData?.dbName ?? '')).toBe(collector.influx?.database);
          expect(expand(d.user ?? '')).toBe(services.influxdb!.environment!.INFLUXDB_READ_USER);
        }
      }
    }
    const dashboardsDir = bind('grafana', '/var/lib/grafana/dashboards/dayi');
    for (const f of readdirSync(join(provisioning, 'dashboards'))) {
      const p = parse(readFileSync(join(provisioning, 'dashboards', f), 'utf8')) as {
        providers: { options: { path: string } }[];
      };
      expect(p.providers[0]!.options.path).toBe('/var/lib/grafana/dashboards/dayi');
    }
    const dashboards = readdirSync(dashboardsDir).filter((f) => f.endsWith('.json'));
    expect(dashboards.length).toBeGreaterThanOrEqual(4);
    for (const f of dashboards) {
      const text = readFileSync(join(dashboardsDir, f), 'utf8');
      for (const [, uid] of text.matchAll(/"uid":\s*"(dayi-[a-z]+)"/g)) {
        if (uid === JSON.parse(text).uid) continue;
        expect(uids, `${f}: data source ${uid}`).toContain(uid);
      }
    }
  });

  it('builds from a multi-stage Dockerfile that runs as a non-root user and copies what exists', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m).slice(1);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const final = stages[stages.length - 1]!;
    const user = [...final.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
    expect(user.length).toBeGreaterThan(0);
    expect(user[user.length - 1]).not.toMatch(/^(root|0)(:|$)/);
    for (const [, args] of dockerfile.matchAll(/^COPY\s+(?!--from)(.+)$/gm)) {
      const parts = args!.trim().split(/\s+/);
      for (const src of parts.slice(0, -1)) expect(existsSync(join(ROOT, src)), `COPY ${src}`).toBe(true);
    }
  });
});
