/// <reference lib="dom" />
/**
 * The status page of `aerobak serve` in a real browser: Debian's headless Chromium
 * (scripts/install-chromium.sh) driven by puppeteer-core. The page loads without the token
 * and shows nothing of the service until it is given one; then, after scheduled runs, it
 * shows the routine's last success, the repository's backups on the timeline (a full and
 * its incrementals on one chain) and their sizes. A screenshot is kept in
 * .cache/test-artifacts/status-page.png.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, record, writeRaw } from '../jobs/support.js';
import { TOKEN, startService, waitFor, type Running } from './support.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const chromium = process.env.AEROBAK_CHROMIUM ?? '/usr/bin/chromium';
let cluster: TestCluster;
let wire: Cluster;
let tmp: string;
let r: Running;
let browser: Browser;
const set = uniqueSetName('page');

beforeAll(async () => {
  if (!existsSync(chromium)) throw new Error(`${chromium} is missing: run scripts/install-chromium.sh (npm test does)`);
  cluster = await startCluster();
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-page-'));
  await writeRaw(wire, Array.from({ length: 200 }, (_, i) => record('test', set, i, { n: i, s: `value ${i}` })));
  // A full, then incrementals every 2 seconds.
  r = await startService(`
http: { listen: "127.0.0.1:0", token: "\${AEROBAK_API_TOKEN}" }
clusters:
  main: { hosts: "${cluster.hosts}" }
repositories:
  local: { location: "${join(tmp, 'repo')}" }
routines:
  users-nightly:
    cluster: main
    namespace: test
    sets: [${set}]
    repository: local
    full: "0 2 * * 0"
    incremental: "*/2 * * * * *"
    on-missed: skip
`);
  browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await r?.stop();
  await wire?.close();
  await cluster?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('the status page', () => {
  it('shows nothing without the token, then the routine, its backups on a timeline and their sizes', async () => {
    // Wait for scheduled runs: the first incremental of an empty repository is a full, then incrementals.
    await waitFor('three scheduled backups', async () => {
      const b = (await r.call('GET', '/v1/repositories/local/backups')).body as { backups: Array<{ status: string }> };
      return b.backups.filter((x) => x.status === 'complete').length >= 3;
    }, 30_000, 200);

    const page = await browser.newPage();
    await page.setViewport({ width: 1000, height: 800 });
    await page.goto(`${r.url}/`, { waitUntil: 'load' });
    // Without the token: the form, and none of the service's data.
    expect(await page.$eval('#login', (e) => (e as HTMLElement).hidden)).toBe(false);
    expect(await page.$eval('#status', (e) => (e as HTMLElement).hidden)).toBe(true);
    expect(await page.content()).not.toContain(set);

    // A wrong token is refused and forgotten.
    await page.type('#token', 'not-the-token');
    await page.click('#login button');
    await page.waitForFunction(() => document.getElementById('login-error')!.textContent !== '');
    expect(await page.evaluate(() => sessionStorage.getItem('aerobak-token'))).toBeNull();

    await page.type('#token', TOKEN);
    await page.click('#login button');
    await page.waitForSelector('tr[data-routine="users-nightly"] .last-success');
    await page.waitForFunction(() => document.querySelector('tr[data-routine="users-nightly"] .last-success')!.textContent !== '-');
    const row = await page.$eval('tr[data-routine="users-nightly"]', (e) => e.textContent);
    expect(row).toContain('test');
    expect(row).toContain('local');
    expect(await page.evaluate(() => sessionStorage.getItem('aerobak-token'))).toBe(TOKEN);

    await page.waitForSelector('.repository[data-repository="local"] .timeline .backup.full');
    const fulls = await page.$$eval('.repository[data-repository="local"] .timeline .backup.full', (es) => es.length);
    const incrementals = await page.$$eval('.repository[data-repository="local"] .timeline .backup.incremental', (es) => es.length);
    expect(fulls).toBeGreaterThanOrEqual(1);
    expect(incrementals).toBeGreaterThanOrEqual(1);
    // The chain's full and incrementals sit on one line.
    const ys = await page.$$eval('.repository[data-repository="local"] .timeline .backup', (es) =>
      es.map((e) => Number(e.getAttribute('cy') ?? Number(e.getAttribute('y')) + 5)),
    );
    expect(new Set(ys).size).toBe(1);
    expect(await page.$$eval('.repository[data-repository="local"] .sizes polyline', (es) => es.length)).toBe(1);

    const artifacts = join(root, '.cache', 'test-artifacts');
    await mkdir(artifacts, { recursive: true });
    await page.screenshot({ path: join(artifacts, 'status-page.png'), fullPage: true });
    await page.close();
  }, 90_000);
});
