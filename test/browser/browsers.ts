// Headless Chromium for the browser tests (Debian's /usr/bin/chromium driven by playwright-core), in the
// two ways Chromium offers WebGPU on a machine without a GPU:
//   swiftshader: core WebGPU on SwiftShader (slow, ~0.3 GFLOP/s; subgroups, no f16), `--enable-unsafe-webgpu`
//   compat:      compatibility mode on ANGLE's OpenGL ES over Vulkan (Mesa lavapipe), no f16/subgroups
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`bash scripts/setup.sh --chromium\` (apt-get install chromium)`);

export interface Mode {
  name: string;
  args: string[];
  featureLevel: 'core' | 'compatibility';
  /** what the adapter must look like, so a test never passes on the wrong adapter */
  expectAdapter: RegExp;
  /** whether the adapter has timestamp queries (per-layer GPU times) */
  timestamps: boolean;
}

const ALL_MODES: Mode[] = [
  { name: 'swiftshader', args: ['--enable-unsafe-webgpu'], featureLevel: 'core', expectAdapter: /swiftshader/i, timestamps: true },
  {
    name: 'compat',
    args: ['--enable-unsafe-webgpu', '--use-angle=vulkan', '--use-webgpu-adapter=opengles'],
    featureLevel: 'compatibility',
    expectAdapter: /.*/, // Chromium reports no vendor/architecture for the OpenGL ES adapter
    timestamps: false,
  },
];

/** BROWSER_MODES=compat (or swiftshader) runs one mode only, for a quicker look while working on the page. */
export const MODES = ALL_MODES.filter((m) => !process.env.BROWSER_MODES || process.env.BROWSER_MODES.split(',').includes(m.name));

export interface Ctx {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** page errors and console errors and warnings, printed when a test fails */
  log: string[];
}

export async function launch(ctx: Ctx, args: string[]): Promise<void> {
  ctx.browser = await chromium.launch({ executablePath: CHROMIUM, args, headless: true });
  ctx.context = await ctx.browser.newContext({ viewport: { width: 1200, height: 900 }, acceptDownloads: true });
  ctx.log = [];
  ctx.page = await newPage(ctx);
}

export async function newPage(ctx: Ctx): Promise<Page> {
  const page = await ctx.context.newPage();
  page.on('pageerror', (e) => ctx.log.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') ctx.log.push(`console.${m.type()}: ${m.text()}`);
  });
  // Keeps file-chooser interception on for the page's life: enabled only while a test waits for the event,
  // a chooser opened just before it is on (a keypress racing the subscription) goes to the real dialog.
  page.on('filechooser', () => undefined);
  return page;
}

export function withLog(ctx: Ctx, what: string): string {
  return ctx.log.length ? `${what}\n    page log:\n    ${ctx.log.slice(-10).join('\n    ')}` : what;
}

/** Waits for `condition` (a page expression); on a timeout fails with the page's state and log. */
export async function waitFor(ctx: Ctx, condition: string, timeoutMs: number, what: string): Promise<void> {
  try {
    await ctx.page.waitForFunction(condition, undefined, { timeout: timeoutMs });
  } catch {
    const state = await ctx.page
      .evaluate(`document.body.dataset.state + '; message "' + document.getElementById('message')?.textContent + '"'`)
      .catch(() => '?');
    assert.unreachable(withLog(ctx, `${what}: waited ${timeoutMs} ms for ${condition}; state ${state}`));
  }
}

/** A suite with its own Chromium: started by `start` before the tests, closed after them, its time printed. */
export function browserSuite(title: string, start: (ctx: Ctx) => Promise<void>) {
  const S = suite<Ctx>(title);
  let t0 = 0;
  S.before(async (ctx) => {
    t0 = performance.now();
    await start(ctx);
  });
  S.after(async (ctx) => {
    await ctx.browser?.close();
    console.log(`  ${title}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  });
  return S;
}
