import { readFileSync } from 'node:fs';

/** A certificate or key from the config: PEM text as is, else a file path read now (errors name `key`). */
export function pem(value: string, key: string): Buffer {
  if (value.includes('-----BEGIN')) return Buffer.from(value);
  try {
    return readFileSync(value);
  } catch (err) {
    throw new Error(`${key}: cannot read ${value}: ${(err as Error).message}`);
  }
}
