/**
 * `dayi report …`: download a signed uptime report from a collector, verify a report against its
 * detached signature, rotate the signing key. Talks to the collector over HTTP only (the API key
 * comes from the environment, never from the command line), except `rotate-key`, which opens the
 * store the way `dayi collector rederive` does.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isDate } from '../derive/pure/calendar.ts';
import {
  parseSignatureDocument,
  publicKeyFromPem,
  SIGNATURE_ALGORITHM,
  SIGNATURE_FORMAT,
  type SignatureDocument,
  verifyReport,
} from './core/signature.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export const REPORT_HELP = `Usage:
  dayi report uptime --from D --to D [--format csv|xlsx|pdf] --out FILE [--org O] [--lang zh-CN|en] [--url URL]
  dayi report verify FILE [--sig FILE.sig] [--url URL | --key PUBLIC.pem]
  dayi report rotate-key -c collector.yaml

Uptime reports for auditors, signed by the collector (Ed25519 over the exact bytes of the file).

  uptime       downloads the report for a period from a collector and writes FILE and FILE.sig
               (the detached signature), then checks the signature with the collector's key
  verify       prints OK when FILE is exactly the file the collector signed, FAILED otherwise
  rotate-key   retires the signing key in the collector's store and makes a new one

The API key is read from the environment variable DAYI_API_KEY (an auditor or admin key for
uptime); the collector URL from --url, else DAYI_URL, else ${DEFAULT_URL}.
Each subcommand explains itself with --help (e.g. dayi report verify --help).
Docs: docs/reports.md
`;

const UPTIME_HELP = `Usage: dayi report uptime --from D --to D [--format csv|xlsx|pdf] --out FILE
                         [--org O] [--lang zh-CN|en] [--idle-days N] [--url URL]

Downloads the uptime report from the collector (GET /v1/reports/uptime) and writes FILE and, beside
it, FILE.sig (its detached Ed25519 signature), then verifies FILE against the collector's public key.
A progress bar is drawn on stderr when stderr is a terminal.

  --from D, --to D    the period, calendar dates YYYY-MM-DD in the collector's time zone (to included)
  --format F          csv (default; UTF-8 with BOM), xlsx or pdf
  --out FILE          where to write the report
  --org O             only the instruments of this org
  --lang L            zh-CN or en (default: the collector's default, zh-CN)
  --idle-days N       idle threshold for the idle count (default: the collector's idleDays)
  --url URL           the collector (default: DAYI_URL, else ${DEFAULT_URL})

Environment: DAYI_API_KEY, an API key whose role may read reports (auditor, admin).
Example:
  export DAYI_API_KEY=...   # from a file or a secret store; not on the command line
  dayi report uptime --from 2026-01-01 --to 2026-12-31 --format pdf --out uptime-2026.pdf --url http://collector:8080
`;

const VERIFY_HELP = `Usage: dayi report verify FILE [--sig FILE.sig] [--url URL | --key PUBLIC.pem]

Checks that FILE is, byte for byte, a report the collector signed. Prints OK and exits 0, or prints
FAILED with the reason and exits 1. A missing signature or key is an error (exit 2).

  --sig FILE.sig      the detached signature (default: FILE.sig beside FILE; without one and with
                      --url, the collector is asked for the signature of a report with FILE's SHA-256)
  --url URL           take the public key from the collector (GET /v1/reports/public-key, with
                      DAYI_API_KEY); default DAYI_URL
  --key PUBLIC.pem    take the public key from a file instead (the collector's key as PEM)

Example:
  dayi report verify uptime-2026.pdf --url http://collector:8080
`;

const ROTATE_HELP = `Usage: dayi report rotate-key -c collector.yaml

Retires the report signing key kept in the collector's store and makes a new one. Reports signed
with the retired key still verify (its public key stays listed at /v1/reports/public-key); new
reports are signed with the new key from the next download on, also by a collector that is running.
Prints the new key's id and public key.
`;

type Out = Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean; columns?: number };

export interface ReportIo {
  stdout?: Out;
  stderr?: Out;
  env?: NodeJS.ProcessEnv;
}

class UsageError extends Error {}

export async function reportCommand(argv: string[], io: ReportIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const [sub, ...rest] = argv;
  const helps: Record<string, string> = {
    uptime: UPTIME_HELP,
    verify: VERIFY_HELP,
    'rotate-key': ROTATE_HELP,
  };
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    (sub === undefined ? stderr : stdout).write(REPORT_HELP);
    return sub === undefined ? 2 : 0;
  }
  const help = helps[sub];
  if (!help) {
    stderr.write(`dayi report: unknown subcommand ${JSON.stringify(sub)}\n\n${REPORT_HELP}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    stdout.write(help);
    return 0;
  }
  try {
    if (sub === 'uptime') return await uptime(rest, stdout, stderr, env);
    if (sub === 'verify') return await verifyCommand(rest, stdout, stderr, env);
    return await rotateKey(rest, stdout);
  } catch (err) {
    if (err instanceof UsageError) {
      stderr.write(`dayi report ${sub}: ${err.message}\n\n${help}`);
      return 2;
    }
    stderr.write(`dayi report ${sub}: ${(err as Error).message}\n`);
    return 1;
  }
}

function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string }>>(
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function collectorUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const url = (flag ?? env.DAYI_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  try {
    new URL(url);
  } catch {
    throw new UsageError(`--url: ${JSON.stringify(url)} is not a URL`);
  }
  return url;
}

function authHeaders(env: NodeJS.ProcessEnv): Record<string, string> {
  const key = env.DAYI_API_KEY;
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** The collector's error answer, `{"error":{"code","message"}}`, as one line. */
async function httpError(res: Response, what: string): Promise<Error> {
  const text = await res.text().catch(() => '');
  let detail = text.slice(0, 500);
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (body.error) detail = `${body.error.code}: ${body.error.message}`;
  } catch {
    // not JSON: keep the text
  }
  const hint = res.status === 401 ? ' (set DAYI_API_KEY to an API key of the collector)' : '';
  return new Error(`${what}: HTTP ${res.status} ${detail}${hint}`);
}

async function get(url: string, env: NodeJS.ProcessEnv): Promise<Response> {
  try {
    return await fetch(url, { headers: authHeaders(env) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new Error(`cannot reach ${new URL(url).origin}: ${cause ?? (err as Error).message}`);
  }
}

async function uptime(args: string[], stdout: Out, stderr: Out, env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse(args, {
    from: { type: 'string' },
    to: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string', short: 'o' },
    org: { type: 'string' },
    lang: { type: 'string' },
    'idle-days': { type: 'string' },
    url: { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  for (const name of ['from', 'to'] as const) {
    const v = values[name];
    if (v === undefined) throw new UsageError(`--${name} is required`);
    if (!isDate(v)) throw new UsageError(`--${name}: ${JSON.stringify(v)} is not a date YYYY-MM-DD`);
  }
  const format = values.format ?? 'csv';
  if (!['csv', 'xlsx', 'pdf'].includes(format)) {
    throw new UsageError(`--format: ${JSON.stringify(format)} is not csv, xlsx or pdf`);
  }
  if (values.lang !== undefined && !['zh-CN', 'en'].includes(values.lang)) {
    throw new UsageError(`--lang: ${JSON.stringify(values.lang)} is not zh-CN or en`);
  }
  if (!values.out) throw new UsageError('--out FILE is required');
  const base = collectorUrl(values.url, env);
  const query = new URLSearchParams({ from: values.from!, to: values.to!, format });
  if (values.org !== undefined) query.set('org', values.org);
  if (values.lang !== undefined) query.set('lang', values.lang);
  if (values['idle-days'] !== undefined) query.set('idleDays', values['idle-days']);

  const progress = new Progress(stderr);
  progress.waiting();
  let res: Response;
  try {
    res = await get(`${base}/v1/reports/uptime?${query}`, env);
  } finally {
    progress.stopWaiting();
  }
  if (!res.ok) {
    progress.done();
    throw await httpError(res, 'the collector refused the report');
  }
  const signature = res.headers.get('x-dayi-signature');
  const keyId = res.headers.get('x-dayi-signature-key');
  const reportId = res.headers.get('x-dayi-report-id');
  if (!signature || !keyId || !reportId || !res.body) {
    throw new Error('the collector sent no signature with the report (X-Dayi-Signature is missing)');
  }
  const total = Number(res.headers.get('content-length') ?? 0) || null;
  const out = values.out;
  const partial = `${out}.part`;
  const hash = createHash('sha256');
  let bytes = 0;
  const file = await open(partial, 'w');
  try {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      bytes += value.length;
      await file.write(value);
      progress.download(bytes, total);
    }
    await file.sync();
  } catch (err) {
    await file.close();
    rmSync(partial, { force: true });
    progress.done();
    throw new Error(`the download broke off after ${bytes} bytes: ${(err as Error).message}`);
  }
  await file.close();
  progress.done();
  if (total !== null && bytes !== total) {
    rmSync(partial, { force: true });
    throw new Error(`the download is incomplete: ${bytes} of ${total} bytes`);
  }
  renameSync(partial, out);
  const doc: SignatureDocument = {
    format: SIGNATURE_FORMAT,
    algorithm: SIGNATURE_ALGORITHM,
    keyId,
    signature,
    sha256: hash.digest('hex'),
    bytes,
    reportId,
    fileName: fileNameOf(res.headers.get('content-disposition')) ?? out,
  };
  writeFileSync(`${out}.sig`, `${JSON.stringify(doc, null, 2)}\n`);
  const key = await collectorKey(base, keyId, env);
  const result = verifyReport(readFileSync(out), doc, key);
  if (!result.ok) {
    stderr.write(`dayi report uptime: the downloaded file does not verify: ${result.reason}\n`);
    return 1;
  }
  stdout.write(
    `wrote ${out} (${bytes} bytes, sha256 ${doc.sha256}) and ${out}.sig; signature OK (key ${keyId}, report ${reportId})\n`,
  );
  return 0;
}

function fileNameOf(disposition: string | null): string | null {
  if (!disposition) return null;
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (star) return decodeURIComponent(star[1]!);
  return /filename="([^"]+)"/i.exec(disposition)?.[1] ?? null;
}

/** The public key `keyId` from the collector (retired keys included). */
async function collectorKey(base: string, keyId: string, env: NodeJS.ProcessEnv): Promise<KeyObject> {
  const res = await get(`${base}/v1/reports/public-key`, env);
  if (!res.ok) throw await httpError(res, 'cannot read the public key');
  const body = (await res.json()) as { keys?: { id: string; publicKey: string }[] };
  const key = body.keys?.find((k) => k.id === keyId);
  if (!key) {
    throw new Error(`the collector at ${base} has no signing key ${keyId}: the signature is not from it`);
  }
  return publicKeyFromPem(key.publicKey);
}

async function verifyCommand(
  args: string[],
  stdout: Out,
  stderr: Out,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const { values, positionals } = parse(args, {
    sig: { type: 'string' },
    url: { type: 'string' },
    key: { type: 'string' },
  });
  if (positionals.length !== 1) throw new UsageError('give exactly one FILE to verify');
  if (values.url !== undefined && values.key !== undefined)
    throw new UsageError('give --url or --key, not both');
  const file = positionals[0]!;
  if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
  const bytes = readFileSync(file);
  const url = values.key === undefined && (values.url ?? env.DAYI_URL) ? collectorUrl(values.url, env) : null;

  let doc: SignatureDocument;
  const sigFile = values.sig ?? `${file}.sig`;
  if (existsSync(sigFile)) {
    try {
      doc = parseSignatureDocument(readFileSync(sigFile, 'utf8'));
    } catch (err) {
      stderr.write(`dayi report verify: ${sigFile}: ${(err as Error).message}\n`);
      return 2;
    }
  } else if (values.sig !== undefined) {
    throw new UsageError(`--sig ${values.sig}: no such file`);
  } else if (url) {
    // No .sig beside the file: ask the collector whether it issued exactly these bytes.
    const sha = createHash('sha256').update(bytes).digest('hex');
    const res = await get(`${url}/v1/reports/signatures/${sha}`, env);
    if (res.status === 404) {
      stdout.write(`FAILED ${file}: the collector issued no report with these bytes (sha256 ${sha})\n`);
      return 1;
    }
    if (!res.ok) throw await httpError(res, 'cannot read the signature');
    doc = parseSignatureDocument(await res.text());
  } else {
    throw new UsageError(
      `no signature: ${sigFile} does not exist; pass --sig FILE.sig, or --url COLLECTOR_URL to ask the collector`,
    );
  }

  let key: KeyObject;
  if (values.key !== undefined) {
    if (!existsSync(values.key)) throw new UsageError(`--key ${values.key}: no such file`);
    key = publicKeyFromPem(readFileSync(values.key, 'utf8'));
  } else if (url) {
    key = await collectorKey(url, doc.keyId, env);
  } else {
    throw new UsageError(
      'no public key to check against: pass --url COLLECTOR_URL (or set DAYI_URL), or --key PUBLIC.pem',
    );
  }
  const result = verifyReport(bytes, doc, key);
  if (result.ok) {
    stdout.write(`OK ${file}: signed by key ${doc.keyId}, report ${doc.reportId}\n`);
    return 0;
  }
  stdout.write(`FAILED ${file}: ${result.reason}\n`);
  return 1;
}

async function rotateKey(args: string[], stdout: Out): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string', short: 'c' } });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  if (!values.config) throw new UsageError('-c collector.yaml is required');
  const { loadCollectorConfig } = await import('../config.ts');
  const { openDatabase } = await import('../store/sqlite.ts');
  const { createMetrics } = await import('../metrics.ts');
  const { pino } = await import('pino');
  const { rotateSigningKey } = await import('./keys.ts');
  const config = loadCollectorConfig(values.config);
  const db = openDatabase(config.store.sqlite, { sync: config.store.sync });
  try {
    const ctx = { config, db, metrics: createMetrics(), log: pino({ level: 'warn' }), now: Date.now };
    const { retired, active } = rotateSigningKey(ctx);
    stdout.write(
      `${retired ? `retired key ${retired}; ` : ''}reports are now signed with key ${active.id}\n${active.publicKey}`,
    );
    return 0;
  } finally {
    db.close();
  }
}

/**
 * Progress on stderr, only when it is a terminal: elapsed seconds while the collector builds the
 * report (it cannot know how far it is before the first byte), then the bytes received.
 */
class Progress {
  private readonly out: Out;
  private readonly tty: boolean;
  private timer: NodeJS.Timeout | null = null;
  private readonly started = Date.now();
  private lastDraw = 0;
  private drawn = false;

  constructor(out: Out) {
    this.out = out;
    this.tty = out.isTTY === true;
  }

  waiting(): void {
    if (!this.tty) return;
    const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let i = 0;
    const draw = () => {
      const s = ((Date.now() - this.started) / 1000).toFixed(1);
      this.line(`${frames[i++ % frames.length]} the collector is building the report… ${s} s`);
    };
    draw();
    this.timer = setInterval(draw, 100);
  }

  stopWaiting(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  download(bytes: number, total: number | null): void {
    if (!this.tty) return;
    const now = Date.now();
    if (now - this.lastDraw < 50 && bytes !== total) return;
    this.lastDraw = now;
    this.line(progressLine(bytes, total, Math.max(20, Math.min(40, (this.out.columns ?? 80) - 40))));
  }

  done(): void {
    this.stopWaiting();
    if (this.tty && this.drawn) this.out.write('\n');
    this.drawn = false;
  }

  private line(text: string): void {
    this.out.write(`\r\x1b[2K${text}`);
    this.drawn = true;
  }
}

/** `[#########...........]  45%  1.2 of 2.6 MB` (kB below a megabyte; the bytes alone when the total is unknown). */
export function progressLine(bytes: number, total: number | null, width = 30): string {
  const big = (total ?? bytes) >= 1_048_576;
  const unit = big ? 'MB' : 'kB';
  const size = (n: number) => (big ? n / 1_048_576 : n / 1024).toFixed(1);
  if (!total) return `downloading ${size(bytes)} ${unit}`;
  const share = Math.min(1, bytes / total);
  const filled = Math.round(share * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(share * 100)).padStart(3)}%  ${size(bytes)} of ${size(total)} ${unit}`;
}
