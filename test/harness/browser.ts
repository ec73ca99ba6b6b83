import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { ensureDebianPackages } from '../../scripts/stack/processes.ts';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Debian's Chromium driven by playwright-core (`npx playwright install` cannot download
 * here). Installed from Debian's packages when missing; when that is not possible the
 * error says why, and the test fails: browser tests never skip. Each call is a new browser
 * with a fresh profile (its own --user-data-dir: no cookies or storage from another test).
 */
export async function launchChromium(): Promise<{ page: Page; close(): Promise<void> }> {
  ensureDebianPackages('browser tests (Chromium)', ['chromium'], () => existsSync(CHROMIUM));
  const profile = mkdtempSync(join(tmpdir(), 'segstream-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Requests a page made that failed or got an error status: a test expects none. */
export function watchRequests(page: Page): { failures: string[]; requests: { method: string; url: string; status: number }[]; inFlight(): number } {
  const failures: string[] = [];
  const requests: { method: string; url: string; status: number }[] = [];
  let inFlight = 0;
  page.on('request', () => inFlight++);
  page.on('requestfinished', () => inFlight--);
  page.on('requestfailed', () => inFlight--);
  page.on('requestfailed', (request) => {
    const error = request.failure()?.errorText ?? 'failed';
    // A beacon sent while the page is left is reported aborted to the page it left, while the
    // browser still delivers it (tests check delivery in Kafka and ingest's answer counts).
    if (request.resourceType() === 'ping' && error === 'net::ERR_ABORTED') return;
    failures.push(`${request.method()} ${request.url()}: ${error}`);
  });
  page.on('response', (response) => {
    requests.push({ method: response.request().method(), url: response.url(), status: response.status() });
    if (response.status() >= 400) failures.push(`${response.request().method()} ${response.url()}: HTTP ${response.status()}`);
  });
  page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));
  return { failures, requests, inFlight: () => inFlight };
}

const root = fileURLToPath(new URL('../..', import.meta.url));
const nodeModules = join(root, 'node_modules');

/** Bundles an entry module the way a shop's build would (esbuild, browser IIFE), in memory. */
async function bundle(contents: string): Promise<string> {
  const result = await build({
    stdin: { contents, resolveDir: root, loader: 'js' },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  return result.outputFiles[0]?.text ?? '';
}

export interface PageServer {
  readonly url: string;
  /** Serves `html` at `path` (and a plain page at /away, to navigate to). */
  page(path: string, html: string): void;
  close(): Promise<void>;
}

/**
 * The test's own web server: the pages, and every SDK bundle from node_modules (npm
 * builds bundled here with esbuild; the classic analytics.js at the CDN's path layout).
 * Nothing is loaded from a CDN.
 */
export async function startPageServer(): Promise<PageServer> {
  const [segmentNpm, rudderNpm] = await Promise.all([
    bundle(`import { AnalyticsBrowser } from '@segment/analytics-next'; window.AnalyticsBrowser = AnalyticsBrowser;`),
    bundle(`import { RudderAnalytics } from '@rudderstack/analytics-js/bundled'; window.RudderAnalytics = RudderAnalytics;`),
  ]);
  const files: Record<string, () => string | Buffer> = {
    '/sdk/segment-npm.js': () => segmentNpm,
    '/sdk/rudderstack-npm.js': () => rudderNpm,
    '/sdk/sensorsdata.min.js': () => readFileSync(join(nodeModules, 'sa-sdk-javascript/sensorsdata.min.js')),
  };
  const pages = new Map<string, string>([['/away', '<!doctype html><title>away</title><p>away</p>']]);
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] as string;
    const html = pages.get(path);
    if (html !== undefined) {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
      return;
    }
    // The classic snippet loads analytics.js from <cdn>/analytics.js/v1/<writeKey>/analytics.min.js.
    const classic = /^\/analytics\.js\/v1\/[^/]+\/analytics\.min\.js$/.test(path);
    const file = classic ? () => readFileSync(join(nodeModules, '@segment/analytics-next/dist/umd/standalone.js')) : files[path];
    if (file) {
      response.writeHead(200, { 'content-type': 'application/javascript; charset=utf-8' }).end(file());
      return;
    }
    if (path === '/favicon.ico') {
      response.writeHead(204).end();
      return;
    }
    response.writeHead(404).end('not found');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    page: (path, html) => pages.set(path, html),
    close: () => new Promise((done) => server.close(() => done())),
  };
}
