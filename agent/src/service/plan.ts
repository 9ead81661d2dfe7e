/**
 * What installing or removing a service does, as data: files to write or remove and commands to
 * run. Built by pure functions (./systemd.ts, ./windows.ts), printed as-is by `--dry-run`, and
 * carried out step by step by `execute`, so what a technician previews is exactly what happens.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type Action =
  | { kind: 'write'; path: string; content: string; mode: number }
  | { kind: 'copy'; from: string; to: string }
  | { kind: 'mkdir'; path: string }
  | { kind: 'remove'; path: string }
  /** `okExitCodes`: codes that are not failures (stopping a service that is not running). */
  | { kind: 'run'; command: string; args: string[]; okExitCodes?: number[] };

/** A command line as a person would type it, for dry runs and logs. */
export function commandLine(command: string, args: string[]): string {
  const q = (a: string) => (/^[\w@%+=:,./\\-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return [command, ...args].map(q).join(' ');
}

export function describeAction(a: Action): string {
  switch (a.kind) {
    case 'write':
      return `write ${a.path} (mode ${a.mode.toString(8).padStart(4, '0')})`;
    case 'copy':
      return `copy ${a.from} -> ${a.to}`;
    case 'mkdir':
      return `create folder ${a.path}`;
    case 'remove':
      return `remove ${a.path}`;
    case 'run':
      return `run: ${commandLine(a.command, a.args)}`;
  }
}

export class ActionError extends Error {
  readonly action: Action;
  constructor(action: Action, message: string) {
    super(`${describeAction(action)}: ${message}`);
    this.name = 'ActionError';
    this.action = action;
  }
}

/** Carries out the actions in order and stops at the first failure, saying which step failed. */
export function execute(actions: Action[], log: (line: string) => void): void {
  for (const a of actions) {
    log(describeAction(a));
    try {
      switch (a.kind) {
        case 'write':
          mkdirSync(dirname(a.path), { recursive: true });
          writeFileSync(a.path, a.content, { mode: a.mode });
          // The mode given to writeFileSync applies only to a new file.
          chmodSync(a.path, a.mode);
          break;
        case 'copy':
          mkdirSync(dirname(a.to), { recursive: true });
          copyFileSync(a.from, a.to);
          break;
        case 'mkdir':
          mkdirSync(a.path, { recursive: true });
          break;
        case 'remove':
          rmSync(a.path, { force: true });
          break;
        case 'run': {
          const r = spawnSync(a.command, a.args, { encoding: 'utf8' });
          if (r.error)
            throw new Error(
              (r.error as NodeJS.ErrnoException).code === 'ENOENT'
                ? `${a.command} not found`
                : r.error.message,
            );
          if (r.status !== 0 && !(a.okExitCodes ?? []).includes(r.status ?? -1)) {
            throw new Error(`exit code ${r.status}${r.stderr ? `: ${r.stderr.trim()}` : ''}`);
          }
          break;
        }
      }
    } catch (err) {
      if (err instanceof ActionError) throw err;
      const e = err as NodeJS.ErrnoException;
      const hint =
        e.code === 'EACCES' || e.code === 'EPERM' ? ' (run it as root/Administrator, e.g. with sudo)' : '';
      throw new ActionError(a, `${e.message}${hint}`);
    }
  }
}
