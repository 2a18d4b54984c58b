// The engine in real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core), in the two
// ways Chromium offers WebGPU on a machine without a GPU:
//   swiftshader: core WebGPU on SwiftShader (slow, ~0.3 GFLOP/s; subgroups, no f16), `--enable-unsafe-webgpu`
//   compat:      compatibility mode on ANGLE's OpenGL ES over Vulkan (Mesa lavapipe), no f16/subgroups
// For each: the PyTorch fixtures through the browser bundle dist/webgpu-unet.js (max |Δ| <= 2e-5, as in
// Node), and the demo page driven like a person would (pick files, drop one, move the sliders) with its
// result checked against the Node engine on the same pixels. Run by `npm run test:browser`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';
import { getDevice, loadModel, releaseGpu } from '../../src/node.js';
import { channelOf, imageToTensor } from '../../web/preprocess.js';
import { startServer } from '../../web/server.js';
import type { FixtureResult } from './in-page.js';
import { encodePng, sampleImage } from './sample-image.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const OUT_DIR = 'test-output/browser';
const MAX_ABS = 2e-5; // as test/model.test.ts
const DEMO_MODEL = 'assets/demo/nuclei_unet.safetensors'; // web/app.ts DEFAULT_MODEL_URL, on disk
const SAMPLES = 8; // assets/demo/samples/nuclei_0{1..8}.png, with PyTorch's masks in assets/demo/torch/
/** Least share of pixels where the page's mask (p >= 0.5) must agree with PyTorch's (p > 0.5). */
const MIN_AGREEMENT = 0.999;
const ALL_FIXTURES = ['b2_rgb', 'gray', 'out2', 'nonsquare_f6', 'f5_odd'];

interface Mode {
  name: string;
  args: string[];
  featureLevel: 'core' | 'compatibility';
  /** what the adapter must look like, so a test never passes on the wrong adapter */
  expectAdapter: RegExp;
  fixtures: string[];
}

const MODES: Mode[] = [
  {
    name: 'swiftshader',
    args: ['--enable-unsafe-webgpu'],
    featureLevel: 'core',
    expectAdapter: /swiftshader/i,
    fixtures: ['b2_rgb', 'f5_odd'], // the smallest: SwiftShader runs the U-Net at ~0.3 GFLOP/s
  },
  {
    name: 'compat',
    args: ['--enable-unsafe-webgpu', '--use-angle=vulkan', '--use-webgpu-adapter=opengles'],
    featureLevel: 'compatibility',
    expectAdapter: /.*/, // Chromium reports no vendor/architecture for the OpenGL ES adapter
    fixtures: ALL_FIXTURES,
  },
];

if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run \`bash scripts/setup.sh --chromium\` (apt-get install chromium)`);
if (!existsSync('dist/webgpu-unet.js') || !existsSync('dist/web/app.js')) throw new Error('no browser bundles: run `npm run build`');
mkdirSync(OUT_DIR, { recursive: true });

const server = await startServer({ port: 0 });
server.server.unref();

// The in-page harness, with the engine left external: the page imports the real bundle.
const harnessJs = (
  await build({
    entryPoints: ['test/browser/in-page.ts'],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    plugins: [
      {
        name: 'engine-from-bundle',
        setup(b) {
          b.onResolve({ filter: /\/src\/index\.js$/ }, () => ({ path: '/dist/webgpu-unet.js', external: true }));
        },
      },
    ],
  })
).outputFiles[0].text;

/** The image the demo test feeds in: not a multiple of 16 on either side, so the engine pads and crops. */
const TEST_IMAGE = sampleImage(60, 44);
const TEST_PNG = encodePng(TEST_IMAGE);

/** The expected demo result, from the Node engine (Dawn) with the page's own preprocessing code. */
async function nodeProbabilities(): Promise<Float32Array> {
  const device = await getDevice();
  try {
    const model = await loadModel(device, DEMO_MODEL);
    const y = await model.run(imageToTensor(TEST_IMAGE, { inChannels: model.info.inChannels }));
    model.dispose();
    return channelOf(y, 0).slice();
  } finally {
    device.destroy();
    releaseGpu();
  }
}
const expected = await nodeProbabilities();

interface Ctx {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** page errors and console errors, printed when a test fails */
  log: string[];
}

async function launch(ctx: Ctx, mode: Mode): Promise<void> {
  ctx.browser = await chromium.launch({ executablePath: CHROMIUM, args: mode.args, headless: true });
  ctx.context = await ctx.browser.newContext({ viewport: { width: 1200, height: 900 } });
  ctx.log = [];
  await ctx.context.route('**/__harness.html', (r) =>
    r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>harness</title><script type="module" src="/__harness.js"></script>' }),
  );
  await ctx.context.route('**/__harness.js', (r) => r.fulfill({ contentType: 'text/javascript', body: harnessJs }));
  ctx.page = await newPage(ctx);
}

async function newPage(ctx: Ctx): Promise<Page> {
  const page = await ctx.context.newPage();
  page.on('pageerror', (e) => ctx.log.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') ctx.log.push(`console.${m.type()}: ${m.text()}`);
  });
  return page;
}

function withLog(ctx: Ctx, what: string): string {
  return ctx.log.length ? `${what}\n    page log:\n    ${ctx.log.slice(-10).join('\n    ')}` : what;
}

const demoState = (page: Page) => page.evaluate('document.body.dataset.state') as Promise<string>;

async function waitForResults(ctx: Ctx, n: number, timeoutMs: number): Promise<void> {
  try {
    await ctx.page.waitForFunction(`unetDemo.results.length >= ${n} && document.body.dataset.state === 'ready'`, undefined, { timeout: timeoutMs });
  } catch {
    const state = await demoState(ctx.page);
    const message = await ctx.page.textContent('#message');
    assert.unreachable(withLog(ctx, `demo: waited ${timeoutMs} ms for ${n} result(s); state ${state}, message "${message}"`));
  }
}

// ---

const Static = suite('static server (web/server.ts)');

Static('serves the page, the bundles, the demo model and the fixtures; nothing outside its folders', async () => {
  const get = (path: string) => fetch(server.url + path);
  const page = await get('/');
  assert.is(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  assert.match(await page.text(), /dist\/web\/app\.js/);
  assert.match((await get('/dist/webgpu-unet.js')).headers.get('content-type') ?? '', /javascript/);
  for (const [path, file] of [['/assets/demo/nuclei_unet.safetensors', DEMO_MODEL], ['/fixtures/b2_rgb.weights.safetensors', 'test/fixtures/b2_rgb.weights.safetensors']]) {
    const r = await get(path);
    assert.is(r.status, 200, path);
    assert.is(Number(r.headers.get('content-length')), readFileSync(file).length, path);
  }
  for (const path of ['/%2e%2e/package.json', '/dist/%2e%2e/package.json', '/fixtures/..%2f..%2fpackage.json', '/nope.html']) {
    assert.is((await get(path)).status, 404, path);
  }
});

Static.run();

// ---

for (const mode of MODES) {
  const S = suite<Ctx>(`browser (${mode.name})`);
  let t0 = 0;
  S.before(async (ctx) => {
    t0 = performance.now();
    await launch(ctx, mode);
  });
  S.after(async (ctx) => {
    await ctx.browser?.close();
    console.log(`  ${mode.name}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  });

  S(`${mode.name}: bundle loads and finds the adapter`, async (ctx) => {
    await ctx.page.goto(`${server.url}/__harness.html`);
    await ctx.page.waitForFunction('globalThis.harness !== undefined', undefined, { timeout: 10_000 });
    const r = (await ctx.page.evaluate(`(async () => {
      const unet = await import('/dist/webgpu-unet.js');
      const device = await unet.getDevice({ featureLevel: '${mode.featureLevel}' });
      const a = unet.describeDevice(device);
      device.destroy();
      return a;
    })()`)) as { vendor: string; architecture: string; description: string; features: string[] };
    const name = [r.vendor, r.architecture, r.description].join(' ');
    assert.match(name, mode.expectAdapter, `adapter "${name}"`);
    const core = r.features.includes('core-features-and-limits');
    assert.is(core, mode.featureLevel === 'core', withLog(ctx, `featureLevel: features [${r.features}]`));
    console.log(`  ${mode.name}: adapter "${name.trim() || '(unnamed)'}", ${core ? 'core' : 'compatibility'}, features: ${r.features.filter((f) => /subgroups|f16|timestamp/.test(f)).join(', ') || 'none of subgroups/f16/timestamp'}`);
  });

  for (const name of mode.fixtures) {
    S(`${mode.name}: ${name} through dist/webgpu-unet.js, max |gpu - torch| <= ${MAX_ABS}`, async (ctx) => {
      let r: FixtureResult;
      try {
        r = (await ctx.page.evaluate(`harness.runFixture(${JSON.stringify(name)}, '${mode.featureLevel}')`)) as FixtureResult;
      } catch (e) {
        assert.unreachable(withLog(ctx, `${name}: ${(e as Error).message.split('\n')[0]}`));
        return;
      }
      assert.is(r.featureLevel, mode.featureLevel);
      assert.ok(r.maxAbs <= MAX_ABS, `${name}: max |diff| ${r.maxAbs} at ${r.worst} (gpu ${r.got}, torch ${r.want})`);
      console.log(`  ${mode.name} ${name} [${r.shape}]: max |gpu - torch| = ${r.maxAbs.toExponential(2)}; run ${r.firstMs.toFixed(0)} ms first (compile), ${r.secondMs.toFixed(0)} ms second`);
    });
  }

  S(`${mode.name}: demo page segments picked images and matches the Node engine`, async (ctx) => {
    const page = ctx.page;
    // No ?featureLevel=: the page asks for core WebGPU and falls back to compatibility mode by itself.
    await page.goto(`${server.url}/`);
    await page.waitForFunction(`unetDemo.modelInfo !== undefined && document.body.dataset.state === 'ready'`, undefined, { timeout: 60_000 }).catch(async () => {
      assert.unreachable(withLog(ctx, `demo did not load its model: state ${await demoState(page)}, message "${await page.textContent('#message')}"`));
    });
    assert.match((await page.textContent('#model-description')) ?? '', /DEMO ONLY/, 'the model describes itself');
    assert.not.ok(await page.isVisible('#model-note'), 'no random-weight warning for a trained model');
    assert.match((await page.textContent('#adapter')) ?? '', mode.featureLevel === 'core' ? /core WebGPU/ : /compatibility WebGPU/);

    // Two images at once through the file picker: the synthetic RGB test image and a gray sample.
    await page.setInputFiles('#image-files', [
      { name: 'test-60x44.png', mimeType: 'image/png', buffer: TEST_PNG },
      { name: 'nuclei_05.png', mimeType: 'image/png', buffer: readFileSync('assets/demo/samples/nuclei_05.png') },
    ]);
    await waitForResults(ctx, 2, 120_000);
    const got = (await page.evaluate(`(() => {
      const r = unetDemo.results.find((r) => r.name === 'test-60x44.png');
      return { width: r.width, height: r.height, probs: Array.from(r.probs[0]), runMs: r.runMs };
    })()`)) as { width: number; height: number; probs: number[]; runMs: number };
    assert.equal([got.width, got.height, got.probs.length], [60, 44, 60 * 44], 'result size = image size (padding cropped off)');
    let maxAbs = 0;
    let above = 0;
    for (let i = 0; i < expected.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(got.probs[i] - expected[i]));
      if (got.probs[i] >= 0.5) above++;
    }
    assert.ok(maxAbs <= MAX_ABS, `page vs Node engine: max |diff| ${maxAbs}`);
    assert.ok(above > 0 && above < expected.length, `mask at 0.5 has ${above} of ${expected.length} pixels: should be neither empty nor full`);
    const shown = Number(await page.getAttribute('.result:has-text("test-60x44.png")', 'data-mask-pixels'));
    assert.is(shown, above, 'the overlay draws the thresholded mask');
    console.log(`  ${mode.name} demo: 60x44 image, page vs Node engine max |diff| = ${maxAbs.toExponential(2)}, mask ${above}/${expected.length} px, run ${got.runMs.toFixed(0)} ms`);

    // The threshold slider changes the mask, the opacity slider the overlay.
    await page.fill('#threshold', '0.8');
    const shownHigh = Number(await page.getAttribute('.result:has-text("test-60x44.png")', 'data-mask-pixels'));
    const aboveHigh = expected.filter((p) => p >= 0.8).length;
    assert.ok(Math.abs(shownHigh - aboveHigh) <= 2, `threshold 0.8: page ${shownHigh} px, Node ${aboveHigh}`);
    await page.fill('#threshold', '0.5');
    await page.fill('#opacity', '0.6');
    assert.is(await page.textContent('#opacity-value'), '0.60');

    // One more by drag and drop.
    const dt = await page.evaluateHandle(`(() => {
      const dt = new DataTransfer();
      const bytes = Uint8Array.from(atob('${TEST_PNG.toString('base64')}'), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
      return dt;
    })()`);
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
    await waitForResults(ctx, 3, 60_000);
    const dropped = (await page.evaluate(`Array.from(unetDemo.results.find((r) => r.name === 'dropped.png').probs[0])`)) as number[];
    assert.ok(dropped.every((p, i) => Math.abs(p - expected[i]) <= MAX_ABS), 'the dropped copy gives the same result');

    // The samples button: 8 held-out images, whose masks must agree with PyTorch's.
    await page.click('#sample');
    await waitForResults(ctx, 3 + SAMPLES, 120_000);
    const agreement = (await page.evaluate(`(async () => {
      const out = [];
      for (const r of unetDemo.results.filter((r) => r.name.startsWith('nuclei_'))) {
        const blob = await (await fetch('assets/demo/torch/' + r.name)).blob();
        const bmp = await createImageBitmap(blob, { colorSpaceConversion: 'none' });
        const g = new OffscreenCanvas(bmp.width, bmp.height).getContext('2d');
        g.drawImage(bmp, 0, 0);
        const torch = g.getImageData(0, 0, bmp.width, bmp.height).data;
        const p = r.probs[0];
        let same = 0;
        for (let i = 0; i < p.length; i++) same += (p[i] >= 0.5) === (torch[4 * i] > 127) ? 1 : 0;
        out.push({ name: r.name, size: [r.width, r.height], torchSize: [bmp.width, bmp.height], agree: same / p.length });
      }
      return out;
    })()`)) as { name: string; size: number[]; torchSize: number[]; agree: number }[];
    assert.is(agreement.length, SAMPLES + 1, 'nuclei results (the picked one and the samples)');
    for (const a of agreement) {
      assert.equal(a.size, a.torchSize, `${a.name}: size`);
      assert.ok(a.agree >= MIN_AGREEMENT, `${a.name}: mask agrees with PyTorch's on ${(100 * a.agree).toFixed(3)}% of pixels`);
    }
    const worst = agreement.reduce((m, a) => Math.min(m, a.agree), 1);
    console.log(`  ${mode.name} demo: ${agreement.length} nuclei samples, mask vs PyTorch agreement >= ${(100 * worst).toFixed(3)}%`);
    assert.is(await page.textContent('#message.error').catch(() => null), null, 'no error shown');

    const shot = `${OUT_DIR}/demo-${mode.name}.png`;
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: shot }); // the top of the page: header, adapter, model, controls, newest results
    await page.screenshot({ path: `${OUT_DIR}/demo-${mode.name}-full.png`, fullPage: true });
    console.log(`  ${mode.name} demo: screenshots ${shot}, ${OUT_DIR}/demo-${mode.name}-full.png`);
  });

  S.run();
}

// ---

const NoGpu = suite<Ctx>('browser without WebGPU');
NoGpu.before(async (ctx) => {
  ctx.browser = await chromium.launch({ executablePath: CHROMIUM, args: [], headless: true });
  ctx.context = await ctx.browser.newContext();
  ctx.log = [];
  ctx.page = await newPage(ctx);
});
NoGpu.after(async (ctx) => ctx.browser?.close());

NoGpu('demo page says WebGPU is unavailable and how to enable it', async (ctx) => {
  // Whatever this Chromium offers by default, hide navigator.gpu as a browser without WebGPU would.
  await ctx.page.addInitScript(`Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true })`);
  await ctx.page.goto(`${server.url}/`);
  await ctx.page.waitForFunction(`document.body.dataset.state === 'unsupported'`, undefined, { timeout: 15_000 });
  const text = (await ctx.page.textContent('#unsupported')) ?? '';
  assert.ok(await ctx.page.isVisible('#unsupported'));
  assert.match(text, /navigator\.gpu is missing/);
  assert.match(text, /--enable-unsafe-webgpu/);
  assert.ok(await ctx.page.isDisabled('#image-files'), 'inputs are disabled');
  await ctx.page.screenshot({ path: `${OUT_DIR}/no-webgpu.png`, fullPage: true });
});

NoGpu.run();
