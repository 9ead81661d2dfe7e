/** Retries: when to try again, and which answers are worth trying again at all. Pure. */

export interface RetryPolicy {
  attempts: number;
  initialDelay: number;
  maxDelay: number;
}

/**
 * Wait after failed attempt `attempt` (1 = the first try): initialDelay × 2^(attempt−1), capped at
 * maxDelay, ±10 % jitter from `random` (0..1) so that many failed deliveries do not return in step.
 */
export function backoffMs(policy: RetryPolicy, attempt: number, random: number): number {
  const base = Math.min(policy.maxDelay, policy.initialDelay * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.9 + 0.2 * random));
}

export type Outcome =
  | { ok: true; detail: string }
  | { ok: false; retry: boolean; error: string; retryAfterMs?: number };

/** HTTP status classes: 408, 425, 429 and 5xx are transient; other 4xx will not get better. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/** `Retry-After` (seconds or an HTTP date) in ms, or undefined. */
export function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const s = Number(header);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The robots answer HTTP 200 with an error code in the body; these codes are rate limits or busy. */
const TRANSIENT_ROBOT_CODES: Record<'wecom' | 'dingtalk' | 'feishu', readonly number[]> = {
  // -1 system busy; 45009 API frequency over the limit; 45033 too many concurrent calls.
  wecom: [-1, 45009, 45033],
  // -1 system busy; 130101 sending too fast (over 20 per minute).
  dingtalk: [-1, 130101],
  // 9499 / 11232 / 11233: frequency limited.
  feishu: [9499, 11232, 11233],
};

/** Reads a robot's JSON answer: `errcode` (WeCom, DingTalk), `code` or `StatusCode` (Feishu). */
export function robotOutcome(type: 'wecom' | 'dingtalk' | 'feishu', body: string): Outcome {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return {
      ok: false,
      retry: true,
      error: `the robot answered with something not JSON: ${body.slice(0, 120)}`,
    };
  }
  const code = type === 'feishu' ? (parsed.code ?? parsed.StatusCode) : parsed.errcode;
  const msg = String(type === 'feishu' ? (parsed.msg ?? parsed.StatusMessage ?? '') : (parsed.errmsg ?? ''));
  if (code === 0) return { ok: true, detail: msg || 'ok' };
  if (typeof code !== 'number')
    return { ok: false, retry: true, error: `the robot's answer has no code: ${body.slice(0, 120)}` };
  return {
    ok: false,
    retry: TRANSIENT_ROBOT_CODES[type].includes(code),
    error: `robot error ${code}: ${msg}`,
  };
}
