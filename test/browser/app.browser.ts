// The demo app (web/, `npm run serve`) in headless Chromium, in both WebGPU modes (test/browser/browsers.ts),
// driven as a person would: keyboard to the pickers (playwright's filechooser), drops, sliders, Cancel,
// downloads. Results are checked against the Node engine on the same pixels (test/browser/reference.ts);
// screenshots of each bad input and of a good run go to test-output/screenshots/.
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import { startServer } from '../../web/server.js';
import type { RgbaImage } from '../../src/index.js';
import { type Ctx, MODES, browserSuite, launch, waitFor, withLog } from './browsers.js';
import { maxAbsDiff, nodeReference } from './reference.js';
import { encodePng, sampleImage } from './sample-image.js';

const SHOTS = 'test-output/screenshots';
const MAX_ABS = 2e-5; // as test/model.test.ts
const DEMO_MODEL = 'assets/demo/nuclei_unet.safetensors'; // web/app.ts DEFAULT_MODEL_URL, on disk
const SMP_FOLDER = 'test/fixtures/smp/eb1_d3_scse_softmax'; // 1 -> 3 classes, softmax
const SAMPLES = 8; // assets/demo/samples/nuclei_0{1..8}.png, with PyTorch's masks in assets/demo/torch/
/** Least share of pixels where the page's mask (p >= 0.5) must agree with PyTorch's (p > 0.5). */
const MIN_AGREEMENT = 0.999;

/** the smp fixtures' weights are not committed (test/fixtures/smp/README.md) */
const HAVE_SMP = existsSync(`${SMP_FOLDER}/model.safetensors`);
mkdirSync(SHOTS, { recursive: true });

/** Gray (R = G = B): every gray conversion (mean, luma) gives the same value, so 1-channel models agree. */
function grayImage(width: number, height: number): RgbaImage {
  const img = sampleImage(width, height);
  for (let i = 0; i < width * height; i++) {
    const g = Math.round((img.data[4 * i] + img.data[4 * i + 1] + img.data[4 * i + 2]) / 3);
    img.data.set([g, g, g], 4 * i);
  }
  return img;
}

// The inputs: not multiples of 16 (the demo model pads and crops), one larger than the previews.
const SMALL = sampleImage(60, 44);
const SMALL_T = sampleImage(44, 60);
const BIG = sampleImage(1200, 900);
const GRAY = grayImage(72, 56);
const png = (img: RgbaImage) => encodePng(img);
const file = (name: string, buffer: Buffer) => ({ name, mimeType: name.endsWith('.png') ? 'image/png' : 'application/octet-stream', buffer });

const [refSmall, refSmallT, refBig] = await nodeReference(DEMO_MODEL, [SMALL, SMALL_T, BIG]);
const [refPt] = await nodeReference('test/fixtures/checkpoints/unet.expected.safetensors', [SMALL]);
const [refSmp] = HAVE_SMP ? await nodeReference(SMP_FOLDER, [GRAY]) : [];

const server = await startServer({ port: 0 });
server.server.unref();

// --- helpers ------------------------------------------------------------------------------------------

/** The named card has finished (a result, an error, or cancelled) and nothing else runs. */
const finished = (name: string) =>
  `['done', 'error', 'cancelled'].includes(unetDemo.cards.find((c) => c.name === ${JSON.stringify(name)})?.state) && document.body.dataset.state === 'ready'`;
const settled = (n: number) =>
  `unetDemo.cards.length >= ${n} && unetDemo.cards.every((c) => c.state === 'done' || c.state === 'error' || c.state === 'cancelled') && document.body.dataset.state === 'ready'`;

/** Focuses `button` and presses `key` on it: the chooser it opens gets `files`. */
async function pickWithKey(
  ctx: Ctx,
  button: string,
  key: 'Enter' | ' ',
  files: Parameters<import('playwright-core').FileChooser['setFiles']>[0],
): Promise<void> {
  await ctx.page.focus(button);
  const [chooser] = await Promise.all([ctx.page.waitForEvent('filechooser', { timeout: 5000 }), ctx.page.keyboard.press(key)]);
  await chooser.setFiles(files);
}

async function downloadOf(ctx: Ctx, card: string, button: string): Promise<{ name: string; png: PNG; bytes: Buffer }> {
  const [dl] = await Promise.all([ctx.page.waitForEvent('download', { timeout: 60_000 }), ctx.page.click(`.result[data-name="${card}"] button.${button}`)]);
  const bytes = readFileSync((await dl.path())!);
  return { name: dl.suggestedFilename(), png: PNG.sync.read(bytes, { skipRescale: true }), bytes };
}

async function resultOf(ctx: Ctx, name: string): Promise<{ width: number; height: number; probs: number[][]; labels?: number[] }> {
  return (await ctx.page.evaluate(`(() => {
    const r = unetDemo.results.find((r) => r.name === ${JSON.stringify(name)});
    return r && { width: r.width, height: r.height, probs: r.probs.map((p) => Array.from(p)), labels: r.labels && Array.from(r.labels) };
  })()`)) as { width: number; height: number; probs: number[][]; labels?: number[] };
}

const cardText = (ctx: Ctx, name: string) => ctx.page.textContent(`.result[data-name="${name}"]`);

async function shot(ctx: Ctx, mode: string, what: string, selector?: string): Promise<string> {
  if (selector) await ctx.page.locator(selector).first().scrollIntoViewIfNeeded();
  const path = `${SHOTS}/${mode}-${what}.png`;
  await ctx.page.screenshot({ path });
  return path;
}

/** Loads the demo model again (after tests that load others), with no results on the page. */
async function resetToDemo(ctx: Ctx): Promise<void> {
  await ctx.page.click('#clear');
  await ctx.page.click('#model-default');
  await waitFor(ctx, `unetDemo.modelInfo?.name === 'nuclei_unet.safetensors' && document.body.dataset.state === 'ready'`, 30_000, 'default model');
}

// ---

for (const mode of MODES) {
  const S = browserSuite(`app (${mode.name})`, (ctx) => launch(ctx, mode.args));

  S(`${mode.name}: the page finds the adapter, says what it is, loads the default model; no console errors`, async (ctx) => {
    // No ?featureLevel=: the worker asks for core WebGPU and falls back to compatibility mode by itself.
    await ctx.page.goto(`${server.url}/`);
    await waitFor(ctx, `unetDemo.modelInfo !== undefined && document.body.dataset.state === 'ready'`, 60_000, 'default model');
    const adapter = (await ctx.page.textContent('#adapter')) ?? '';
    assert.match(adapter, mode.featureLevel === 'core' ? /core WebGPU/ : /compatibility WebGPU/);
    if (mode.name === 'swiftshader') assert.match(adapter, /software adapter .*slow/, 'SwiftShader is named a software adapter');
    assert.match(adapter, /timestamp-query|without shader-f16, subgroups or timestamp queries/, 'the features are listed');
    assert.match((await ctx.page.textContent('#model-description')) ?? '', /DEMO ONLY/, 'the model describes itself');
    assert.not.ok(await ctx.page.isVisible('#model-note'), 'no random-weight warning for a trained model');
    // the cost rows (GFLOP, GPU memory) follow the model's info: the worker computes them after the load
    await waitFor(ctx, `unetDemo.cost !== undefined`, 60_000, "the model panel's cost rows");
    const arch = (await ctx.page.textContent('#model-arch')) ?? '';
    for (const term of ['encoder', 'depth', 'decoder channels', 'classes', 'activation', 'parameters', 'GFLOP', 'GPU memory'])
      assert.ok(arch.includes(term), `architecture table shows ${term}: ${arch}`);
    assert.match((await ctx.page.textContent('#model-preprocessing')) ?? '', /zscore/);
    assert.equal(ctx.log, [], 'no console errors or warnings (favicon included)');
    console.log(`  ${mode.name} app: adapter line "${adapter}"`);
  });

  S(`${mode.name}: per-layer GPU times where the adapter has timestamp queries (keyboard)`, async (ctx) => {
    const page = ctx.page;
    await page.focus('#layers summary');
    await page.keyboard.press('Enter');
    assert.ok(await page.evaluate(`document.getElementById('layers').open`), 'Enter opens the section');
    if (!mode.timestamps) {
      assert.ok(await page.isDisabled('#profile'), 'no button to press (so no Tab stop)');
      assert.match((await page.textContent('#profile-note')) ?? '', /no timestamp queries/);
      return;
    }
    await page.keyboard.press('Tab');
    assert.is(await page.evaluate('document.activeElement.id'), 'profile', 'Tab reaches the button');
    await page.keyboard.press('Enter');
    await waitFor(ctx, `unetDemo.layers !== undefined && document.body.dataset.state === 'ready'`, 60_000, 'layer times');
    const t = (await page.evaluate('unetDemo.layers')) as { method: string; layers: { label: string; ms: number }[] };
    assert.is(t.method, 'timestamp-query');
    assert.ok(t.layers.length > 10 && t.layers.every((l) => l.ms >= 0), `${t.layers.length} layers`);
    assert.is(await page.locator('#profile-table tr').count(), t.layers.length + 1, 'one row a layer, and the header');
    const slowest = [...t.layers].sort((a, b) => b.ms - a.ms)[0];
    console.log(
      `  ${mode.name} app: ${t.layers.length} layers timed; slowest ${slowest.label} ${slowest.ms.toFixed(2)} ms; screenshot ${await shot(ctx, mode.name, 'layer-times', '#layers')}`,
    );
  });

  S(`${mode.name}: Tab reaches "Open images…", Enter opens the chooser; a broken file's error sits on its own card beside the good results`, async (ctx) => {
    const page = ctx.page;
    await page.evaluate('window.scrollTo(0, 0)');
    await page.click('h1'); // the keyboard starts from the top of the page
    await page.keyboard.press('Tab');
    assert.is(await page.evaluate('document.activeElement.id'), 'open-images', 'the first Tab stop');
    const outline = await page.evaluate(`getComputedStyle(document.activeElement).outlineStyle`);
    assert.is.not(outline, 'none', 'visible focus');
    const [chooser] = await Promise.all([page.waitForEvent('filechooser', { timeout: 5000 }), page.keyboard.press('Enter')]);
    assert.ok(chooser.isMultiple(), 'several images at once');
    await chooser.setFiles([
      file('test-60x44.png', png(SMALL)),
      file('broken_scan.png', Buffer.from('this is not a PNG at all, just some text that was renamed')),
      file('nuclei_05.png', readFileSync('assets/demo/samples/nuclei_05.png')),
    ]);
    await waitFor(ctx, settled(3), 120_000, 'three cards');
    assert.is(
      await cardText(ctx, 'broken_scan.png').then((t) => /broken_scan\.png: not an image \(expected PNG or JPEG\)/.test(t ?? '')),
      true,
      'the broken file says what it is on its card',
    );
    assert.not.ok(await page.isVisible('.result[data-name="broken_scan.png"] button.retry'), 'no Run again for a file that is not an image');
    const states = (await page.evaluate('unetDemo.cards.map((c) => c.name + " " + c.state).sort()')) as string[];
    assert.equal(states, ['broken_scan.png error', 'nuclei_05.png done', 'test-60x44.png done']);

    const got = await resultOf(ctx, 'test-60x44.png');
    assert.equal([got.width, got.height, got.probs[0].length], [60, 44, 60 * 44], 'result size = image size (padding cropped off)');
    const d = maxAbsDiff(got.probs[0], refSmall.probabilities);
    assert.ok(d.max <= MAX_ABS, `page vs Node engine: max |diff| ${d.max} at ${d.at}`);
    const above = Array.from(refSmall.probabilities).filter((p) => p > 0.5).length;
    assert.ok(above > 0 && above < refSmall.probabilities.length, `mask at 0.5 has ${above} pixels: should be neither empty nor full`);
    const shown = Number(await page.getAttribute('.result[data-name="test-60x44.png"]', 'data-mask-pixels'));
    assert.is(shown, above, 'the overlay draws the thresholded mask');

    // The threshold slider changes the mask (drawn on the next frame), the opacity slider the overlay.
    await page.fill('#threshold', '0.8');
    const aboveHigh = Array.from(refSmall.probabilities).filter((p) => p > 0.8).length;
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))'); // redrawn on the next frame
    const shownHigh = Number(await page.getAttribute('.result[data-name="test-60x44.png"]', 'data-mask-pixels'));
    assert.ok(Math.abs(shownHigh - aboveHigh) <= 2, `threshold 0.8: page ${shownHigh} px, Node ${aboveHigh}`);
    await page.fill('#threshold', '0.5');
    await page.fill('#opacity', '0.6');
    assert.is(await page.textContent('#opacity-value'), '0.60');

    // The same image again (Space on the button this time): no second card, the page says so.
    await pickWithKey(ctx, '#open-images', ' ', [file('copy-of-test.png', png(SMALL))]);
    await waitFor(ctx, `document.getElementById('message').textContent.includes('already shown')`, 10_000, 'duplicate');
    assert.is(await page.evaluate('unetDemo.cards.length'), 3, 'identical images make no second card');
    console.log(`  ${mode.name} app: 60x44 page vs Node max |diff| = ${d.max.toExponential(2)}; broken file on its own card`);
    console.log(`  ${mode.name} app: screenshot ${await shot(ctx, mode.name, 'broken-beside-good', '.result[data-state="error"]')}`);
  });

  S(`${mode.name}: a drop, and the samples, agree with the Node engine and PyTorch`, async (ctx) => {
    const page = ctx.page;
    const dt = await page.evaluateHandle(`(() => {
      const dt = new DataTransfer();
      const bytes = Uint8Array.from(atob('${png(SMALL_T).toString('base64')}'), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
      return dt;
    })()`);
    await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
    await waitFor(ctx, settled(4), 60_000, 'dropped image');
    const dropped = await resultOf(ctx, 'dropped.png');
    assert.ok(maxAbsDiff(dropped.probs[0], refSmallT.probabilities).max <= MAX_ABS, 'the dropped image gives the Node engine result');

    await page.click('#sample');
    await waitFor(ctx, settled(4 + SAMPLES - 1), 120_000, 'samples'); // nuclei_05 is there already: 7 new cards
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
    assert.is(agreement.length, SAMPLES, 'one card per sample (nuclei_05 not twice)');
    for (const a of agreement) {
      assert.equal(a.size, a.torchSize, `${a.name}: size`);
      assert.ok(a.agree >= MIN_AGREEMENT, `${a.name}: mask agrees with PyTorch's on ${(100 * a.agree).toFixed(3)}% of pixels`);
    }
    console.log(
      `  ${mode.name} app: ${agreement.length} samples, mask vs PyTorch agreement >= ${(100 * Math.min(...agreement.map((a) => a.agree))).toFixed(3)}%`,
    );
    // the toolbar stays in view at the bottom of a long page
    await page.evaluate('window.scrollTo(0, document.body.scrollHeight)');
    const top = (await page.evaluate(`document.getElementById('open-images').getBoundingClientRect().top`)) as number;
    assert.ok(top >= 0 && top < 100, `the pickers are in view after scrolling down (top ${top})`);
    await page.evaluate('window.scrollTo(0, 0)');
    console.log(`  ${mode.name} app: screenshots ${await shot(ctx, mode.name, 'good-run')}`);
    await page.screenshot({ path: `${SHOTS}/${mode.name}-good-run-full.png`, fullPage: true });
  });

  S(`${mode.name}: 1200×900 runs at its own size; the downloads are 1200×900 and match the Node engine`, async (ctx) => {
    const page = ctx.page;
    await pickWithKey(ctx, '#open-images', 'Enter', [file('scan.png', png(BIG))]);
    await waitFor(ctx, finished('scan.png'), 240_000, '1200x900');
    const r = (await page.evaluate(
      `(() => { const r = unetDemo.results.find((r) => r.name === 'scan.png'); return { size: [r.width, r.height], preview: r.preview, runMs: r.runMs, tiling: r.tiling }; })()`,
    )) as {
      size: number[];
      preview: number[];
      runMs: number;
      tiling?: unknown;
    };
    assert.equal(r.size, [1200, 900], 'full size, no downscale');
    assert.equal(r.preview, [1024, 768], 'the page shows a preview');
    const n = 1200 * 900;

    const mask = await downloadOf(ctx, 'scan.png', 'dl-mask');
    assert.is(mask.name, 'scan_mask.png');
    assert.equal([mask.png.width, mask.png.height], [1200, 900]);
    let differ = 0;
    for (let i = 0; i < n; i++) if (mask.png.data[4 * i] > 127 !== refBig.probabilities[i] > 0.5) differ++;
    assert.ok(differ <= n * 1e-4, `mask PNG vs Node: ${differ} of ${n} pixels differ`);

    const probs = await downloadOf(ctx, 'scan.png', 'dl-probs');
    assert.is(probs.name, 'scan_probs.png');
    assert.equal([probs.png.width, probs.png.height], [1200, 900]);
    const p16 = Float32Array.from({ length: n }, (_, i) => (probs.png.data as unknown as Uint16Array)[4 * i] / 65535);
    const dp = maxAbsDiff(p16, refBig.probabilities);
    assert.ok(dp.max <= 1 / 65535 + MAX_ABS, `16-bit probabilities vs Node: max |diff| ${dp.max} at ${dp.at}`);

    const ov = await downloadOf(ctx, 'scan.png', 'dl-overlay');
    assert.is(ov.name, 'scan_overlay.png');
    assert.equal([ov.png.width, ov.png.height], [1200, 900]);
    console.log(
      `  ${mode.name} app: 1200x900 in ${r.runMs.toFixed(0)} ms${r.tiling ? ` (${JSON.stringify(r.tiling)})` : ' (one pass)'}; mask PNG differs from Node on ${differ} px, probabilities within ${dp.max.toExponential(2)}`,
    );
  });

  S(`${mode.name}: Cancel stops a run in windows; the worker moves on`, async (ctx) => {
    const page = ctx.page;
    await page.selectOption('#tile', '128');
    await pickWithKey(ctx, '#open-images', 'Enter', [file('large.png', png(sampleImage(1000, 1000)))]);
    const card = '.result[data-name="large.png"]';
    await waitFor(ctx, `Number(document.querySelector('${card}')?.dataset.done) > 0`, 120_000, 'first window batch');
    const progress = await page.getAttribute(card, 'data-done');
    const total = await page.getAttribute(card, 'data-total');
    await page.focus(`${card} button.cancel`);
    await page.keyboard.press('Enter');
    await waitFor(ctx, `document.querySelector('${card}').dataset.state === 'cancelled'`, 2000, 'cancelled card');
    // The worker's run stops at its next window batch: a second later it has reported no more windows
    // than one batch (4) past the cancel.
    await page.waitForTimeout(1000);
    const status = (await page.evaluate('unetDemo.workerStatus()')) as { cancelled: number; running: string | null; windowsAfterCancel: number };
    assert.ok(status.cancelled >= 1, `the worker saw the cancel (${JSON.stringify(status)})`);
    assert.ok(status.windowsAfterCancel <= 4, `windows run after the cancel: ${status.windowsAfterCancel}`);
    assert.ok(await page.isVisible(`${card} button.retry`), 'a cancelled card can be run again');
    await page.selectOption('#tile', 'auto');
    // The next image runs as usual.
    await pickWithKey(ctx, '#open-images', 'Enter', [file('after-cancel.png', png(sampleImage(50, 40)))]);
    await waitFor(ctx, `unetDemo.results.some((r) => r.name === 'after-cancel.png')`, 60_000, 'image after cancel');
    console.log(`  ${mode.name} app: cancelled "large.png" after ${progress} of ${total} windows; ${status.windowsAfterCancel} more ran`);
    console.log(`  ${mode.name} app: screenshot ${await shot(ctx, mode.name, 'cancelled', card)}`);
  });

  S(`${mode.name}: a PyTorch .pt through "Open model files…" (Space) runs like its converted safetensors in Node`, async (ctx) => {
    const page = ctx.page;
    await page.click('#clear');
    assert.is(await page.evaluate('unetDemo.cards.length'), 0, 'Clear empties the page');
    await pickWithKey(ctx, '#open-model', ' ', ['test/fixtures/checkpoints/unet_zip.pt']);
    await waitFor(ctx, `unetDemo.modelInfo?.name === 'unet_zip.pt' && document.body.dataset.state === 'ready'`, 30_000, '.pt model');
    assert.match((await page.textContent('#model-notes')) ?? '', /converted from a PyTorch checkpoint \(zip format/);
    await pickWithKey(ctx, '#open-images', 'Enter', [file('test-60x44.png', png(SMALL))]);
    await waitFor(ctx, finished('test-60x44.png'), 60_000, '.pt result');
    const got = await resultOf(ctx, 'test-60x44.png');
    const d = maxAbsDiff(got.probs[0], refPt.probabilities);
    assert.ok(d.max <= MAX_ABS, withLog(ctx, `.pt model on the page vs its safetensors in Node: max |diff| ${d.max}`));
  });

  S(`${mode.name}: an smp save_pretrained folder (multi-class) through "Open model folder…": legend, label map PNG`, async (ctx) => {
    if (!HAVE_SMP) return console.log(`  SKIP ${mode.name} multi-class: ${SMP_FOLDER}/model.safetensors is missing (bash scripts/smp-weights.sh makes it)`);
    const page = ctx.page;
    await page.click('#clear');
    await pickWithKey(ctx, '#open-folder', 'Enter', SMP_FOLDER);
    await waitFor(ctx, `unetDemo.modelInfo?.multiClass === true && document.body.dataset.state === 'ready'`, 60_000, 'smp folder');
    const name = (await page.evaluate('unetDemo.modelInfo.name')) as string;
    assert.match(name, /eb1_d3_scse_softmax\/$/, 'named after the folder');
    assert.match((await page.textContent('#model-arch')) ?? '', /efficientnet-b1/);
    assert.match((await page.textContent('#model-classes')) ?? '', /0 background.*1 red.*2 green/s, 'class colours');
    await pickWithKey(ctx, '#open-images', 'Enter', [file('gray.png', png(GRAY))]);
    await waitFor(ctx, finished('gray.png'), 120_000, 'multi-class result');
    const got = await resultOf(ctx, 'gray.png');
    let differ = 0;
    got.labels!.forEach((l, i) => (differ += l === refSmp.mask[i] ? 0 : 1));
    assert.ok(differ <= 2, `page labels vs Node: ${differ} differ`);
    assert.match((await cardText(ctx, 'gray.png')) ?? '', /0 background: [\d.]+%/, 'the card has a legend');
    const labels = await downloadOf(ctx, 'gray.png', 'dl-mask');
    assert.is(labels.name, 'gray_labels.png');
    assert.equal([labels.png.width, labels.png.height], [GRAY.width, GRAY.height]);
    const colors = [
      [0, 0, 0],
      [230, 25, 75],
      [60, 180, 75],
    ];
    let wrong = 0;
    for (let i = 0; i < GRAY.width * GRAY.height; i++) {
      const c = colors.findIndex((rgb) => rgb.every((v, k) => labels.png.data[4 * i + k] === v));
      if (c !== refSmp.mask[i]) wrong++;
    }
    assert.ok(wrong <= 2, `label map PNG vs Node: ${wrong} pixels differ`);
    console.log(`  ${mode.name} app: screenshot ${await shot(ctx, mode.name, 'multi-class', '.result')}`);
  });

  S(`${mode.name}: bad inputs, each named with its problem where it belongs (screenshots)`, async (ctx) => {
    const page = ctx.page;
    await resetToDemo(ctx);
    const said: [string, string, string][] = [];
    // images: each on its own card, beside a good one
    const truncated = png(SMALL).subarray(0, 120);
    await pickWithKey(ctx, '#open-images', 'Enter', [
      file('good.png', png(SMALL)),
      file('broken_scan.png', Buffer.from('not an image')),
      file('truncated.png', truncated),
      file('empty.png', Buffer.alloc(0)),
      file('notes.txt', Buffer.from('hello')),
    ]);
    await waitFor(ctx, `${finished('good.png')} && ${finished('notes.txt')} && ${finished('empty.png')}`, 60_000, 'bad images');
    const expectCard: [string, RegExp][] = [
      ['broken_scan.png', /^broken_scan\.png: not an image \(expected PNG or JPEG\)$/],
      ['truncated.png', /^truncated\.png: a damaged PNG file/],
      ['empty.png', /^empty\.png: empty file \(0 bytes\)$/],
      ['notes.txt', /^notes\.txt: not an image \(expected PNG or JPEG\)$/],
    ];
    for (const [name, re] of expectCard) {
      const text = ((await page.textContent(`.result[data-name="${name}"] .error`)) ?? '').trim();
      assert.match(text, re, `${name}: "${text}"`);
      said.push([name, text, await shot(ctx, mode.name, `bad-image-${name.replace(/\W/g, '_')}`, `.result[data-name="${name}"]`)]);
    }
    assert.ok((await resultOf(ctx, 'good.png')) !== undefined, 'the good image has its result beside them');
    assert.match((await page.textContent('#message')) ?? '', /1 of 5 images segmented; 4 could not be/);

    // model files: the model panel says what is wrong, the loaded model stays
    const demoBytes = readFileSync(DEMO_MODEL);
    const vgg = JSON.stringify({ ...JSON.parse(readFileSync(`${SMP_FOLDER}/config.json`, 'utf8')), encoder_name: 'vgg16' });
    const bad: [string, Parameters<typeof pickWithKey>[3], RegExp][] = [
      [
        'model.bin',
        [file('model.bin', Buffer.from('PyTorch? no: random bytes'))],
        /^model\.bin: not a safetensors file — to use a PyTorch \.pt\/\.pth, convert it with `unet convert` or drop the \.pt here/,
      ],
      ['truncated.safetensors', [file('truncated.safetensors', demoBytes.subarray(0, 4000))], /^truncated\.safetensors: /],
      ['evil_reduce.pt', ['test/fixtures/checkpoints/evil_reduce.pt'], /^evil_reduce\.pt: .*(system|posix)/],
      ['config.json', [file('config.json', Buffer.from(vgg))], /^config\.json: a model config without its weights/],
    ];
    if (HAVE_SMP)
      bad.push([
        'vgg-config',
        [file('config.json', Buffer.from(vgg)), file('model.safetensors', readFileSync(`${SMP_FOLDER}/model.safetensors`))],
        /^config\.json: not supported: encoder "vgg16"/,
      ]);
    for (const [what, files, re] of bad) {
      await page.evaluate(`document.getElementById('model-error').textContent = ''`);
      await pickWithKey(ctx, '#open-model', 'Enter', files);
      await waitFor(ctx, `document.getElementById('model-error').textContent !== '' && document.body.dataset.state === 'ready'`, 30_000, what);
      const text = ((await page.textContent('#model-error')) ?? '').trim();
      assert.match(text, re, `${what}: "${text}"`);
      assert.match(text, /still using nuclei_unet\.safetensors/, 'the loaded model stays');
      said.push([what, text, await shot(ctx, mode.name, `bad-model-${what.replace(/\W/g, '_')}`, '#model-panel')]);
    }
    assert.is(await page.evaluate('unetDemo.modelInfo.name'), 'nuclei_unet.safetensors');
    for (const [what, text, path] of said) console.log(`  ${mode.name} bad input ${what} -> "${text}" (${path})`);
  });

  S(`${mode.name}: Remove takes one card away (keyboard), Clear the rest`, async (ctx) => {
    const page = ctx.page;
    const before = (await page.evaluate('unetDemo.cards.length')) as number;
    await page.focus('.result[data-name="notes.txt"] button.remove');
    await page.keyboard.press('Enter');
    assert.is(await page.evaluate('unetDemo.cards.length'), before - 1);
    assert.is(await page.evaluate(`unetDemo.cards.some((c) => c.name === 'notes.txt')`), false);
    assert.ok(await page.evaluate(`document.activeElement.tagName === 'BUTTON'`), 'focus moves to a neighbouring button');
    await page.click('#clear');
    assert.is(await page.evaluate('unetDemo.cards.length'), 0);
    assert.is(await page.locator('.result').count(), 0);
    assert.equal(
      ctx.log.filter((l) => l.startsWith('pageerror') || l.startsWith('console.error')),
      [],
      'no errors in the console',
    );
  });

  S.run();
}
