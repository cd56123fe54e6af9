import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, MeasureReport } from '@medplum/fhirtypes';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportRows } from '../../src/governance/rows.js';
import { startTestService, testToken, type TestService } from '../harness.js';
import { period } from './cohort.js';
import { loadCohort } from './load-cohort.js';

const chromiumPath = '/usr/bin/chromium';
const hasChromium = existsSync(chromiumPath);
const outputDir = join(import.meta.dirname, '../../test-output');

if (!hasChromium) {
  // Skipped, not failed: the page itself is still covered by the HTTP tests; CI installs chromium.
  process.stderr.write(`governance page browser test skipped: ${chromiumPath} is absent (apt-get install -y chromium)\n`);
}

describe.skipIf(!hasChromium)(`GET /governance in headless Chromium${hasChromium ? '' : ' (skipped: /usr/bin/chromium is absent)'}`, () => {
  let svc: TestService;
  let browser: Browser;
  let reports: Bundle<MeasureReport>;

  beforeAll(async () => {
    svc = await startTestService({ ESCALATION_INTERVAL_MS: '0' });
    await loadCohort(svc, 4242);
    const res = await fetch(`${svc.url}/governance/measures?start=${period.start}&end=${period.end}`, {
      headers: { Authorization: `Bearer ${testToken}` },
    });
    reports = await res.json();
    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await svc?.close();
  });

  it('renders every measure as a chart, the numbers equal the MeasureReports, and a screenshot is written', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.setExtraHTTPHeaders({ Authorization: `Bearer ${testToken}` });
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    page.on('pageerror', (e) => failed.push(e.message));
    const res = await page.goto(`${svc.url}/governance?start=${period.start}&end=${period.end}`);
    expect(res?.status()).toBe(200);
    await page.waitForSelector('body[data-charts-drawn]');
    expect(failed).toEqual([]);

    const drawn = Number(await page.getAttribute('body', 'data-charts-drawn'));
    const canvases = await page.locator('canvas').count();
    expect(drawn).toBe(canvases);
    expect(canvases).toBeGreaterThanOrEqual(10);
    expect(await page.locator('section.measure').count()).toBe(12);

    // Every number on the page is the MeasureReport's, row by row.
    const shown = await page.$$eval('tr[data-measure]', (trs) =>
      trs.map((tr) => ({
        key: [tr.getAttribute('data-measure'), tr.getAttribute('data-group'), tr.getAttribute('data-stratum')].join('|'),
        counts: Object.fromEntries(
          [...tr.querySelectorAll('td[data-population]')]
            .filter((td) => td.textContent !== '')
            .map((td) => [td.getAttribute('data-population'), Number(td.textContent)]),
        ),
        score: tr.querySelector('td[data-score]')?.getAttribute('data-score') ?? '',
      })),
    );
    const expected = reportRows(reports).map((r) => ({
      key: [r.measure, r.group, r.stratum].join('|'),
      counts: r.counts,
      score: r.score === undefined ? '' : String(r.score),
    }));
    const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
    expect(shown.sort(byKey)).toEqual(expected.sort(byKey));

    // The role-integrity panel and its target-0 tile.
    expect(await page.textContent('[data-tile="clinical-tasks-owned-by-peer-role"] .n')).toBe('1');
    expect(await page.getAttribute('[data-tile="clinical-tasks-owned-by-peer-role"]', 'class')).toContain('alarm');

    // With and without peer support side by side in one chart.
    const datasets = await page.evaluate(() =>
      (window as any).governanceCharts
        .find((c: any) => c?.canvas?.id === 'chart-first-appointment-attendance')
        ?.data.datasets.map((d: any) => d.label),
    );
    expect(datasets).toEqual(['All', 'With peer support', 'Without peer support']);

    mkdirSync(outputDir, { recursive: true });
    await page.screenshot({ path: join(outputDir, 'governance-page.png'), fullPage: true });
    expect(existsSync(join(outputDir, 'governance-page.png'))).toBe(true);
  });

  it('the period picker reloads the page for the chosen period', async () => {
    const page = await browser.newPage();
    await page.setExtraHTTPHeaders({ Authorization: `Bearer ${testToken}` });
    await page.goto(`${svc.url}/governance?start=${period.start}&end=${period.end}`);
    await page.fill('input[name="start"]', '2024-01-01');
    await page.fill('input[name="end"]', '2024-01-31');
    await Promise.all([page.waitForURL(/start=2024-01-01/), page.click('button[type="submit"]')]);
    expect(await page.textContent('[data-period-start]')).toBe('2024-01-01');
    expect(await page.textContent('[data-tile="blocked-records"] .n')).toBe('0');
  });
});
