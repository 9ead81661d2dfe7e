/**
 * A real pseudo-terminal pair made by socat, standing in for a USB serial sensor: the test writes
 * sensor lines to `device` and the input under test opens `port`. Stopping socat removes both ends,
 * as unplugging a USB adapter removes /dev/ttyUSB0; starting it again brings them back.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PtyPair {
  /** The end the input opens. */
  readonly port: string;
  /** The sensor's end: what the test writes to. */
  readonly device: string;
  write(text: string): void;
  /** Removes both ends (socat exits). */
  unplug(): Promise<void>;
  /** Creates both ends again under the same names. */
  plug(): Promise<void>;
  close(): Promise<void>;
}

async function waitUntil(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startPtyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'dayi-serial-'));
  const device = join(dir, 'device');
  const port = join(dir, 'port');
  let proc: ChildProcess | undefined;
  let fd: number | undefined;
  let stderr = '';

  const plug = async () => {
    if (proc) return;
    stderr = '';
    const p = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${port}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    p.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    proc = p;
    try {
      await waitUntil(`socat to create ${device} and ${port} (socat said: ${stderr})`, () => {
        if (p.exitCode !== null) throw new Error(`socat exited with ${p.exitCode}: ${stderr}`);
        // socat logs "starting data transfer loop" once both ptys exist and are linked.
        return existsSync(device) && existsSync(port) && stderr.includes('starting data transfer loop');
      });
    } catch (err) {
      p.kill('SIGKILL');
      proc = undefined;
      throw err;
    }
    fd = openSync(device, 'w');
  };

  const unplug = async () => {
    if (fd !== undefined) {
      closeSync(fd);
      fd = undefined;
    }
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    await exited;
    await waitUntil('socat to remove the pty links', () => !existsSync(device) && !existsSync(port));
  };

  await plug();
  return {
    port,
    device,
    write(text: string) {
      if (fd === undefined) throw new Error('the pty pair is unplugged');
      writeSync(fd, text);
    },
    unplug,
    plug,
    async close() {
      await unplug();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
