import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/** A value that only names environment variables (`${VAR}`) holds no secret itself. */
const ONLY_ENV = /^(\s*\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}\s*)+$/;

interface RawConfig {
  apiKeys?: { key?: unknown }[];
  agents?: { password?: unknown }[];
  influx?: { token?: unknown; password?: unknown };
  http?: { tls?: { key?: unknown } };
  mqtt?: { tls?: { key?: unknown } };
}

const literal = (v: unknown): v is string => typeof v === 'string' && v !== '' && !ONLY_ENV.test(v);
const pemText = (v: unknown): boolean => typeof v === 'string' && v.includes('-----BEGIN');

/**
 * Warnings about files that hold secrets and that other local users may read: the configuration
 * when it holds an API key, an agent password, an InfluxDB token or password, or a TLS key
 * literally (not as `${VAR}`), and the TLS key files it names. Never throws: a file that cannot
 * be read is the config loader's business.
 */
export function secretFileWarnings(file: string): string[] {
  let raw: RawConfig;
  let mode: number;
  try {
    mode = statSync(file).mode;
    raw = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as RawConfig;
  } catch {
    return [];
  }
  if (process.platform === 'win32' || typeof raw !== 'object') return [];
  const warnings: string[] = [];
  const held: string[] = [];
  if (raw.apiKeys?.some?.((k) => literal(k?.key))) held.push('apiKeys');
  if (raw.agents?.some?.((a) => literal(a?.password))) held.push('agents passwords');
  if (literal(raw.influx?.token) || literal(raw.influx?.password)) held.push('influx credentials');
  if (pemText(raw.http?.tls?.key) || pemText(raw.mqtt?.tls?.key)) held.push('TLS keys');
  if (held.length > 0 && (mode & 0o077) !== 0) {
    warnings.push(
      `${file} holds secrets (${held.join(', ')}) and is readable by ${whom(mode)} (mode ${octal(mode)}): ` +
        `chmod 600 it, or take the secrets from the environment with \${VAR}`,
    );
  }
  for (const [key, value] of [
    ['http.tls.key', raw.http?.tls?.key],
    ['mqtt.tls.key', raw.mqtt?.tls?.key],
  ] as const) {
    if (typeof value !== 'string' || pemText(value) || ONLY_ENV.test(value)) continue;
    try {
      // relative to the working directory, as the listeners read it
      const m = statSync(value).mode;
      if ((m & 0o077) !== 0) {
        warnings.push(`${key}: ${value} is readable by ${whom(m)} (mode ${octal(m)}): chmod 600 it`);
      }
    } catch {
      // a missing key file is reported when the listener starts
    }
  }
  return warnings;
}

function whom(mode: number): string {
  return (mode & 0o007) !== 0 ? 'every local user' : 'its group';
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
