import { statSync } from 'node:fs';
import { isLiteralSecret, octal, onlyEnv, readableSecretsWarning, whom } from '@dayi/protocols';

interface RawConfig {
  apiKeys?: { key?: unknown }[];
  agents?: { password?: unknown }[];
  influx?: { token?: unknown; password?: unknown };
  http?: { tls?: { key?: unknown } };
  mqtt?: { tls?: { key?: unknown } };
}

const pemText = (v: unknown): boolean => typeof v === 'string' && v.includes('-----BEGIN');

/** The secrets a collector config holds itself (not as `${VAR}`). */
function heldSecrets(doc: Record<string, unknown>): string[] {
  const raw = doc as RawConfig;
  const held: string[] = [];
  if (Array.isArray(raw.apiKeys) && raw.apiKeys.some((k) => isLiteralSecret(k?.key))) held.push('apiKeys');
  if (Array.isArray(raw.agents) && raw.agents.some((a) => isLiteralSecret(a?.password))) {
    held.push('agents passwords');
  }
  if (isLiteralSecret(raw.influx?.token) || isLiteralSecret(raw.influx?.password))
    held.push('influx credentials');
  if (pemText(raw.http?.tls?.key) || pemText(raw.mqtt?.tls?.key)) held.push('TLS keys');
  return held;
}

/**
 * Warnings about files that hold secrets and that other local users may read: the configuration
 * when it holds an API key, an agent password, an InfluxDB token or password, or a TLS key
 * literally, and the TLS key files it names. Never throws.
 */
export function secretFileWarnings(
  file: string,
  config?: { httpTlsKey?: string; mqttTlsKey?: string },
): string[] {
  const warnings: string[] = [];
  const w = readableSecretsWarning(file, heldSecrets);
  if (w) warnings.push(w);
  if (process.platform === 'win32') return warnings;
  for (const [key, value] of [
    ['http.tls.key', config?.httpTlsKey],
    ['mqtt.tls.key', config?.mqttTlsKey],
  ] as const) {
    if (typeof value !== 'string' || pemText(value) || onlyEnv(value)) continue;
    try {
      // relative to the working directory, as the listeners read it
      const m = statSync(value).mode;
      if ((m & 0o077) !== 0)
        warnings.push(`${key}: ${value} is readable by ${whom(m)} (mode ${octal(m)}): chmod 600 it`);
    } catch {
      // a missing key file is reported when the listener starts
    }
  }
  return warnings;
}
