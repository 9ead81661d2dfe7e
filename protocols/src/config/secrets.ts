import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/** A value that only names environment variables (`${VAR}`) holds no secret itself. */
const ONLY_ENV = /^(\s*\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}\s*)+$/;

/** A secret written in the file itself, not taken from the environment. */
export function isLiteralSecret(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && !ONLY_ENV.test(value);
}

export function onlyEnv(value: string): boolean {
  return ONLY_ENV.test(value);
}

/**
 * A warning when the config `file` holds secrets itself (`held` names them from the parsed YAML,
 * before `${VAR}` interpolation) and other local users may read it; else null. Never throws: a file
 * that cannot be read or parsed is the config loader's business. Not on Windows (no POSIX modes).
 */
export function readableSecretsWarning(
  file: string,
  held: (doc: Record<string, unknown>) => string[],
): string | null {
  if (process.platform === 'win32') return null;
  try {
    const mode = statSync(file).mode;
    if ((mode & 0o077) === 0) return null;
    const doc = parseYaml(readFileSync(file, 'utf8')) as unknown;
    if (!doc || typeof doc !== 'object') return null;
    const names = held(doc as Record<string, unknown>);
    if (names.length === 0) return null;
    return (
      `${file} holds secrets (${names.join(', ')}) and is readable by ${whom(mode)} (mode ${octal(mode)}): ` +
      'chmod 600 it, or take the secrets from the environment with ${VAR}'
    );
  } catch {
    return null;
  }
}

/** Who besides the owner may read a file of this mode. */
export function whom(mode: number): string {
  return (mode & 0o007) !== 0 ? 'every local user' : 'its group';
}

export function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
