/**
 * The web dashboard in a real browser (issue 11): Debian's Chromium, headless, driven by
 * playwright-core, against a real collector on loopback with seeded telemetry and an open alert.
 * A phone-width (375 px) user signs in, opens an instrument, acknowledges its alert, reports an
 * anomaly, downloads a report and switches language; any console error or page error fails it, and
 * so does a request to anywhere but the collector.
 *
 * DAYI_SCREENSHOT=docs/img/dashboard.png also writes the screenshot there (the README's).
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page, type Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildWebInto,
  type DashboardCollector,
  NMR,
  REPORT_TEXT,
  startDashboardCollector,
  WEB_KEYS,
  XRD,
} from './helpers/web.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const PHONE = { width: 375, height: 812 };

interface Watched {
  page: Page;
  problems: string[];
}

/** A page whose console errors, page errors and requests off the collector are collected. */
async function watchedPage(context: BrowserContext, base: string, allowed: RegExp[] = []): Promise<Watched> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !allowed.some((re) => re.test(msg.text())))
      problems.push(`console error: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('request', (req) => {
    const url = req.url();
    if (!url.startsWith(`${base}/`) && !url.startsWith('data:') && !url.startsWith('blob:'))
      problems.push(`request off the collector: ${url}`);
  });
  return { page, problems };
}

async function signIn(page: Page, base: string, key: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.locator('input[name="apikey"]').fill(key);
  await page.locator('form.signin button[type="submit"]').click();
}

/** PNG width and height from its IHDR chunk. */
function pngSize(file: string): { width: number; height: number } {
  const b = readFileSync(file);
  expect(b.subarray(1, 4).toString('latin1')).toBe('PNG');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

describe('the web dashboard in headless Chromium', () => {
  let web: ReturnType<typeof buildWebInto>;
  let collector: DashboardCollector;
  let browser: Browser;
  let out: string;

  beforeAll(async () => {
    web = buildWebInto();
    collector = await startDashboardCollector(web.dist);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    out = mkdtempSync(join(tmpdir(), 'dayi-web-shot-'));
  });
  afterAll(async () => {
    await browser?.close();
    await collector?.close();
    web?.remove();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('zh-CN browser at 375 px: signs in, opens an instrument, acknowledges its alert, reports, downloads, switches to English', async () => {
    const base = collector.baseUrl;
    const context = await browser.newContext({ locale: 'zh-CN', viewport: PHONE, acceptDownloads: true });
    context.setDefaultTimeout(20_000);
    const { page, problems } = await watchedPage(context, base);
    try {
      // The browser's language decides the first view's. The first load's assets (what the
      // browser fetched that is not the API), as sent: compressed, and under 300 KB.
      const loaded: Response[] = [];
      const onResponse = (r: Response) => {
        if (!new URL(r.url()).pathname.startsWith('/v1/')) loaded.push(r);
      };
      page.on('response', onResponse);
      await page.goto(`${base}/`, { waitUntil: 'load' });
      await expect.poll(() => page.locator('h1').textContent()).toBe('登录');
      page.off('response', onResponse);
      let wire = 0;
      for (const r of loaded) {
        expect(r.status(), r.url()).toBe(200);
        expect(r.headers()['content-encoding'], r.url()).toBe('br');
        wire += (await r.request().sizes()).responseBodySize;
      }
      expect(loaded.map((r) => new URL(r.url()).pathname)).toEqual(
        expect.arrayContaining(['/', expect.stringMatching(/\.js$/), expect.stringMatching(/\.css$/)]),
      );
      process.stdout.write(
        `web dashboard first load in Chromium: ${loaded.length} files, ${(wire / 1024).toFixed(1)} KiB as sent\n`,
      );
      expect(wire).toBeGreaterThan(0);
      expect(wire).toBeLessThan(300 * 1024);
      await signIn(page, base, WEB_KEYS.admin);

      // Overview: counts by state now, idle, the trend, utilisation by org.
      await page.locator('.tile').first().waitFor();
      await expect
        .poll(() => page.locator('section h2').allTextContents())
        .toEqual(expect.arrayContaining(['当前仪器状态', '闲置 90 天以上']));
      await page.locator('svg.chart').first().waitFor();
      await expect.poll(() => page.locator('main').textContent()).toContain('浙江大学');
      // The key is in this tab's session only: not in the URL, not in localStorage.
      expect(page.url()).not.toContain(WEB_KEYS.admin);
      expect(await page.evaluate(() => sessionStorage.getItem('dayi.apiKey'))).toBe(WEB_KEYS.admin);
      expect(await page.evaluate(() => JSON.stringify(localStorage))).not.toContain(WEB_KEYS.admin);

      // Instruments: search, then open one.
      await page.locator('nav a[href="#/instruments"]').click();
      await page.locator('input[name="q"]').fill('核磁');
      await expect.poll(() => page.locator('.rows a.row').count()).toBe(1);
      await page.locator('.rows a.row').first().click();
      await expect.poll(() => page.url()).toContain(`#/instruments/${NMR}`);
      await page.locator('svg.chart path.line').waitFor();
      await expect.poll(() => page.locator('svg.chart rect.st-running').count()).toBeGreaterThan(0);
      await expect.poll(() => page.locator('svg.chart rect.running').count()).toBeGreaterThan(0);

      // Its alert: the user's report, open; acknowledge it.
      const alert = page.locator(`article.alert[data-alert="${collector.alertId}"]`);
      await expect.poll(() => alert.textContent()).toContain(REPORT_TEXT);
      await alert.locator('button.ack').click();
      await expect
        .poll(() =>
          page.locator(`article.alert[data-alert="${collector.alertId}"] .badge`).first().textContent(),
        )
        .toBe('已确认');
      const check = await fetch(`${base}/v1/alerts/${collector.alertId}`, {
        headers: { authorization: `Bearer ${WEB_KEYS.admin}` },
      });
      const acked = (await check.json()) as { status: string; acknowledged: { by: string } };
      expect(acked.status).toBe('acknowledged');
      expect(acked.acknowledged.by).toBe('管理员');

      // 反馈: a runtime anomaly from the instrument's page.
      await page.locator('form.feedback textarea[name="text"]').fill('真空泵异响');
      await page.locator('form.feedback button[type="submit"]').click();
      await expect.poll(() => page.locator('form.feedback .ok').textContent()).toMatch(/感谢反馈/);
      // a new alert, or added to the acknowledged one (a report joins the alert still active)
      const feedbackAlert = /告警 (\S+?)。/.exec(
        (await page.locator('form.feedback .ok').textContent())!,
      )![1]!;

      // A phone-width screenshot of the instrument page.
      const shot = join(out, 'dashboard.png');
      await page.evaluate('window.scrollTo(0, 0)');
      await page.screenshot({ path: shot, fullPage: false });
      expect(pngSize(shot).width).toBe(375);
      if (process.env.DAYI_SCREENSHOT) copyFileSync(shot, process.env.DAYI_SCREENSHOT);

      // Switch to English; the choice is kept.
      await page.locator('button.lang').click();
      await expect.poll(() => page.locator('nav a[href="#/alerts"]').textContent()).toBe('Alerts');
      expect(await page.evaluate('document.documentElement.lang')).toBe('en');
      await page.reload();
      await expect.poll(() => page.locator('nav a[href="#/alerts"]').textContent()).toBe('Alerts');

      // Alerts list, every status: the feedback's alert is there; resolve it.
      await page.goto(`${base}/#/alerts?status=`);
      const reported = page.locator(`article.alert[data-alert="${feedbackAlert}"]`);
      await reported.locator('button.resolve').click();
      await expect.poll(() => reported.locator('.muted[aria-live]').textContent()).toContain('resolved');

      // Idle list and a report download (fetch + Blob: the key never in a URL).
      await page.locator('nav a[href="#/idle"]').click();
      await expect.poll(() => page.locator('main').textContent()).toContain('Registered, never reported');
      await expect
        .poll(() => page.locator('main li').allTextContents())
        .toEqual([expect.stringContaining('ZJ-SEM-0001')]);
      await page.locator('nav a[href="#/reports"]').click();
      const [file] = await Promise.all([
        page.waitForEvent('download'),
        page.locator('form button[type="submit"]').click(),
      ]);
      expect(file.suggestedFilename()).toMatch(/\.csv$/);
      const saved = join(out, file.suggestedFilename());
      await file.saveAs(saved);
      expect(readFileSync(saved, 'utf8')).toContain(NMR);
      expect(file.url()).not.toContain(WEB_KEYS.admin);

      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);

  it('a wrong key (401) and a role that may not acknowledge (403) each get a clear message', async () => {
    const base = collector.baseUrl;
    const context = await browser.newContext({ locale: 'en-US', viewport: PHONE });
    // Chromium logs every 4xx answer to fetch; these two are what this test provokes.
    const { page, problems } = await watchedPage(context, base, [/status of 40[13]/]);
    context.setDefaultTimeout(20_000);
    const seeded = await fetch(`${base}/v1/instruments/${XRD}/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${WEB_KEYS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'door interlock fault' }),
    });
    expect(seeded.status).toBe(201);
    try {
      await signIn(page, base, 'not-a-key-of-this-collector');
      await expect.poll(() => page.locator('[role="alert"]').textContent()).toContain('not accepted (401)');
      expect(await page.evaluate(() => sessionStorage.getItem('dayi.apiKey'))).toBeNull();

      await signIn(page, base, WEB_KEYS.auditor);
      await page.goto(`${base}/#/alerts?status=open&kind=reported`);
      const first = page.locator('article.alert', { hasText: 'door interlock fault' });
      await first.locator('button.resolve').click();
      await expect.poll(() => first.locator('[role="alert"]').textContent()).toContain('(403)');

      // A key revoked while signed in: back to the sign-in form, saying why.
      await page.evaluate(() => sessionStorage.setItem('dayi.apiKey', 'revoked-key-0123456789abcdef'));
      await page.goto(`${base}/#/instruments`);
      await expect.poll(() => page.locator('h1').textContent()).toBe('Sign in');
      await expect.poll(() => page.locator('[role="alert"]').textContent()).toContain('(401)');
      expect(problems).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);
});
