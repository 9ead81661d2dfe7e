#!/usr/bin/env node
// The `dayi` command. dayi's sources are TypeScript run by Node 24's type stripping; when this file
// is started by an older Node (the system Node 20 on many machines), re-run it with the Node 24
// that `npm ci` installed into node_modules, so `npx dayi …` and `node bin/dayi.js …` both work.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const node24 = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(node24)) {
    console.error(
      `dayi needs Node.js 24 or later (this is ${process.version}); run \`npm ci\` in ${root} first.`,
    );
    process.exit(1);
  }
  relaunch(node24, [fileURLToPath(import.meta.url), ...process.argv.slice(2)]);
} else {
  const { main } = await import('./cli.ts');
  process.exitCode = await main(process.argv.slice(2));
}

/**
 * Runs the command in Node 24 and stays until it ends, so the shell prompt comes back only after
 * the command is done (a calibration report, a clean stop), with its exit status.
 *
 * Signals: Ctrl-C (and a terminal hang-up) reach the terminal's whole foreground process group,
 * this launcher and the child alike; the child handles them, and passing them on would deliver them
 * twice. A signal sent to this launcher alone (`kill`, a service manager, a test harness) is passed
 * on, so the child never outlives the launcher.
 */
function relaunch(node, args) {
  const child = spawn(node, args, { stdio: 'inherit' });
  const forward = (signal) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    if (signal !== 'SIGTERM' && fromTerminal()) return;
    try {
      child.kill(signal);
    } catch {
      // Gone already: its exit ends this process.
    }
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  if (process.platform !== 'win32') for (const s of signals) process.on(s, forward);
  // Windows: Ctrl-C reaches every process of the console; child.kill() would only terminate it.
  else process.on('SIGINT', () => {});
  child.on('error', (err) => {
    console.error(`dayi: cannot start ${node}: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (code !== null) process.exit(code);
    // Killed by a signal: end the same way, so the shell sees what the child died of.
    for (const s of signals) process.removeAllListeners(s);
    try {
      process.kill(process.pid, signal);
    } catch {
      // Fall through to an exit status of 128 + the signal's number.
    }
    process.exit(128 + (constants.signals[signal] ?? 0));
  });
}

/**
 * Whether this process belongs to the foreground process group of a terminal: a SIGINT, SIGQUIT or
 * SIGHUP then came from that terminal and reached the child as well. Linux tells it in
 * /proc/self/stat (pgrp and tpgid); elsewhere a terminal on stdin is the best guess.
 */
function fromTerminal() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // After the command name in parentheses: state ppid pgrp session tty_nr tpgid …
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pgrp = Number(fields[2]);
    const tpgid = Number(fields[5]);
    return tpgid > 0 && tpgid === pgrp;
  } catch {
    return Boolean(process.stdin.isTTY);
  }
}
