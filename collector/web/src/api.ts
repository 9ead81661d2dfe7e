/**
 * The collector's API as the page calls it: same origin, the key in the Authorization header
 * (kept in sessionStorage: gone when the tab closes, never in a URL or in localStorage).
 */
import { t } from './i18n.ts';

const KEY = 'dayi.apiKey';

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, key);
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Told when the collector refuses the key (401): the page goes back to the sign-in form. */
let onUnauthorized: (message: string) => void = () => {};
export function whenUnauthorized(f: (message: string) => void): void {
  onUnauthorized = f;
}

async function call(path: string, init: RequestInit = {}, key = apiKey()): Promise<Response> {
  const headers = new Headers(init.headers);
  if (key) headers.set('authorization', `Bearer ${key}`);
  let res: Response;
  try {
    res = await fetch(path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network', t('err.network'));
  }
  if (res.ok) return res;
  let code = 'error';
  let message = res.statusText;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // not our error format (a proxy's page): the status says enough
  }
  if (res.status === 401) {
    const err = new ApiError(401, code, t('err.401'));
    if (key === apiKey()) onUnauthorized(err.message);
    throw err;
  }
  if (res.status === 403) throw new ApiError(403, code, `${t('err.403')} ${message}`);
  throw new ApiError(res.status, code, t('err.other', { status: res.status, message }));
}

export async function get<T>(path: string): Promise<T> {
  return (await call(path)).json() as Promise<T>;
}

export async function post<T>(path: string, body: unknown): Promise<T & { httpStatus: number }> {
  const res = await call(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { ...((await res.json()) as T), httpStatus: res.status };
}

/** Whether `key` is accepted: throws the ApiError otherwise (401 for an unknown key). */
export async function checkKey(key: string): Promise<void> {
  await call('/v1/instruments?limit=1', {}, key);
}

/** Every page of a paged list (`items`, `next`), up to `max` items. */
export async function getAll<T>(path: string, max = 20_000): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page: { items: T[]; next: string | null } = await get(
      `${path}${sep}limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    out.push(...page.items);
    cursor = page.next;
  } while (cursor && out.length < max);
  return out;
}

/**
 * Downloads a file the API answers (a report): fetched with the key in the header, saved from a
 * Blob, so the key never appears in a URL, the history or a server log.
 */
export async function download(path: string, fallbackName: string): Promise<{ name: string; bytes: number }> {
  const res = await call(path);
  const blob = await res.blob();
  const disposition = res.headers.get('content-disposition') ?? '';
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  const plain = /filename="?([^";]+)"?/i.exec(disposition);
  const name = star ? decodeURIComponent(star[1]!) : (plain?.[1] ?? fallbackName);
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return { name, bytes: blob.size };
}
