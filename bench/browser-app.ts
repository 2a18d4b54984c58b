// The demo app (web/) in headless Chromium, timed on large images: for each WebGPU mode of
// test/browser/browsers.ts (SwiftShader core, compatibility mode on lavapipe) and each size, one image is
// picked on the page and run twice (the first run compiles that size's plan; the second is "Run again").
// Prints per run: the worker's model.segment time, the page's time from the pick (or the click) to the
// finished card (decode, transfer, previews included), and the windows. Needs `npm run build`.
//   node --import tsx bench/browser-app.ts [--sizes 1200x900,4096x4096] [--modes swiftshader,compat] [--json]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeImage } from '../src/io/image.js';
import { encodePng } from '../src/io/png.js';
import { startServer } from '../web/server.js';
import { type Ctx, MODES, launch } from '../test/browser/browsers.js';

const { values: v } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1200x900,4096x4096' },
    modes: { type: 'string', default: MODES.map((m) => m.name).join(',') },
    json: { type: 'boolean' },
  },
});
const sizes = v.sizes!.split(',').map((s) => s.split('x').map(Number) as [number, number]);

/** A gray W x H mosaic of the demo samples (what the demo model was trained on), as PNG bytes. */
function mosaicPng(W: number, H: number): Buffer {
  const tiles = Array.from({ length: 8 }, (_, i) => decodeImage(readFileSync(`assets/demo/samples/nuclei_0${i + 1}.png`)));
  const data = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const t = tiles[(Math.floor(y / 96) * 7 + Math.floor(x / 96)) % tiles.length];
      data[y * W + x] = t.data[((y % 96) * t.width + (x % 96)) * t.channels];
    }
  }
  return Buffer.from(encodePng({ width: W, height: H, channels: 1, data }));
}

interface Row {
  mode: string;
  adapter: string;
  size: string;
  run: 'first' | 'second';
  segmentMs: number;
  pageMs: number;
  windows: string;
}

const server = await startServer({ port: 0 });
const rows: Row[] = [];
for (const mode of MODES.filter((m) => v.modes!.split(',').includes(m.name))) {
  const ctx = {} as Ctx;
  await launch(ctx, mode.args);
  const page = ctx.page;
  await page.goto(`${server.url}/`);
  await page.waitForFunction(`unetDemo.modelInfo !== undefined && document.body.dataset.state === 'ready'`, undefined, { timeout: 60_000 });
  const adapter = (await page.textContent('#adapter')) ?? '';
  for (const [W, H] of sizes) {
    const name = `mosaic_${W}x${H}.png`;
    const png = mosaicPng(W, H);
    for (const run of ['first', 'second'] as const) {
      const t0 = Date.now();
      if (run === 'first') await page.setInputFiles('#image-files', { name, mimeType: 'image/png', buffer: png });
      else await page.click(`.result[data-name="${name}"] button.retry`);
      await page.waitForFunction(
        `document.querySelector('.result[data-name="${name}"]')?.dataset.state === 'done' && document.body.dataset.state === 'ready'`,
        undefined,
        { timeout: 1_200_000, polling: 100 },
      );
      const pageMs = Date.now() - t0;
      const r = (await page.evaluate(
        `(() => { const r = unetDemo.results.find((r) => r.name === '${name}'); return { runMs: r.runMs, tiling: r.tiling }; })()`,
      )) as {
        runMs: number;
        tiling?: { roi: number[]; windows: number; batch: number };
      };
      const windows = r.tiling ? `${r.tiling.windows} of ${r.tiling.roi[1]}x${r.tiling.roi[0]}, batch ${r.tiling.batch}` : 'one pass';
      rows.push({ mode: mode.name, adapter, size: `${W}x${H}`, run, segmentMs: Math.round(r.runMs), pageMs, windows });
      if (!v.json)
        console.log(
          `${mode.name.padEnd(11)} ${`${W}x${H}`.padEnd(10)} ${run.padEnd(6)} segment ${String(Math.round(r.runMs)).padStart(7)} ms   page ${String(pageMs).padStart(7)} ms   ${windows}`,
        );
    }
    await page.click('#clear');
  }
  if (!v.json) console.log(`  ${mode.name} adapter: ${adapter}`);
  await ctx.browser.close();
}
await server.close();
if (v.json) console.log(JSON.stringify(rows, null, 2));
