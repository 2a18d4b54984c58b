// The engine in real headless Chromium (test/browser/browsers.ts: SwiftShader core WebGPU, and
// compatibility mode on lavapipe): the PyTorch fixtures through the browser bundle dist/webgpu-unet.js
// (max |Δ| <= 2e-5, as in Node), the static server, and the page without WebGPU. The demo app itself is
// tested in app.browser.ts. Run by `npm run test:browser`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { startServer } from '../../web/server.js';
import { type Ctx, MODES, browserSuite, launch, withLog } from './browsers.js';
import type { FixtureResult } from './in-page.js';

const OUT_DIR = 'test-output/browser';
const MAX_ABS = 2e-5; // as test/model.test.ts
const ALL_FIXTURES = ['b2_rgb', 'gray', 'out2', 'nonsquare_f6', 'f5_odd'];
/** SwiftShader runs the U-Net at ~0.3 GFLOP/s: the smallest fixtures there */
const FIXTURES: Record<string, string[]> = { swiftshader: ['b2_rgb', 'f5_odd'], compat: ALL_FIXTURES };

if (!existsSync('dist/webgpu-unet.js') || !existsSync('dist/web/app.js') || !existsSync('dist/web/worker.js'))
  throw new Error('no browser bundles: run `npm run build`');
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

async function launchWithHarness(ctx: Ctx, args: string[]): Promise<void> {
  await launch(ctx, args);
  await ctx.context.route('**/__harness.html', (r) =>
    r.fulfill({ contentType: 'text/html', body: '<!doctype html><title>harness</title><script type="module" src="/__harness.js"></script>' }),
  );
  await ctx.context.route('**/__harness.js', (r) => r.fulfill({ contentType: 'text/javascript', body: harnessJs }));
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
  assert.match((await get('/dist/web/worker.js')).headers.get('content-type') ?? '', /javascript/);
  assert.match((await get('/favicon.svg')).headers.get('content-type') ?? '', /svg/);
  for (const [path, file] of [
    ['/assets/demo/nuclei_unet.safetensors', 'assets/demo/nuclei_unet.safetensors'],
    ['/fixtures/b2_rgb.weights.safetensors', 'test/fixtures/b2_rgb.weights.safetensors'],
  ]) {
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
  const S = browserSuite(`browser (${mode.name})`, (ctx) => launchWithHarness(ctx, mode.args));

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
    console.log(
      `  ${mode.name}: adapter "${name.trim() || '(unnamed)'}", ${core ? 'core' : 'compatibility'}, features: ${r.features.filter((f) => /subgroups|f16|timestamp/.test(f)).join(', ') || 'none of subgroups/f16/timestamp'}`,
    );
  });

  for (const name of FIXTURES[mode.name]) {
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
      console.log(
        `  ${mode.name} ${name} [${r.shape}]: max |gpu - torch| = ${r.maxAbs.toExponential(2)}; run ${r.firstMs.toFixed(0)} ms first (compile), ${r.secondMs.toFixed(0)} ms second`,
      );
    });
  }

  S.run();
}

// ---

const NoGpu = browserSuite('browser without WebGPU', (ctx) => launch(ctx, []));

NoGpu('demo page says WebGPU is unavailable and how to enable it, and a drop runs nothing', async (ctx) => {
  // Whatever this Chromium offers by default, hide navigator.gpu as a browser without WebGPU would.
  await ctx.page.addInitScript(`Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true })`);
  await ctx.page.goto(`${server.url}/`);
  await ctx.page.waitForFunction(`document.body.dataset.state === 'unsupported'`, undefined, { timeout: 15_000 });
  const text = (await ctx.page.textContent('#unsupported')) ?? '';
  assert.ok(await ctx.page.isVisible('#unsupported'));
  assert.match(text, /navigator\.gpu is missing/);
  assert.match(text, /--enable-unsafe-webgpu/);
  assert.ok(await ctx.page.isDisabled('#open-images'), 'the pickers are disabled');
  assert.ok(await ctx.page.isDisabled('#image-files'), 'inputs are disabled');
  // a dropped model does not crash the page (it once failed with "reading 'features'")
  const dt = await ctx.page.evaluateHandle(`(() => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(16)], 'model.safetensors'));
    return dt;
  })()`);
  await ctx.page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
  await ctx.page.waitForFunction(`document.getElementById('message').textContent.startsWith('model.safetensors: not opened')`, undefined, { timeout: 5000 });
  assert.equal(
    ctx.log.filter((l) => l.startsWith('pageerror')),
    [],
    'no page errors',
  );
  mkdirSync('test-output/screenshots', { recursive: true });
  await ctx.page.screenshot({ path: 'test-output/screenshots/no-webgpu.png', fullPage: true });
});

NoGpu.run();
