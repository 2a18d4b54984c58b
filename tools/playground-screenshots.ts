// Screenshots of the model playground (/playground), one PNG a step, as a person goes through it in headless
// Chromium (compatibility mode on lavapipe unless --mode says otherwise): the form, a choice that is not
// allowed and why, a measured model with its per-layer bars (or the note), three configurations pinned side
// by side with their chart, and the app's cards running a playground model. Needs `npm run build`.
//   node --import tsx tools/playground-screenshots.ts OUT_DIR [--readme docs/playground.png] [--mode compat|swiftshader]
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServer } from '../web/server.js';
import { type Ctx, MODES, launch } from '../test/browser/browsers.js';

const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: { readme: { type: 'string' }, mode: { type: 'string', default: 'compat' } },
});
const out = positionals[0];
if (!out) {
  console.error('usage: node --import tsx tools/playground-screenshots.ts OUT_DIR [--readme docs/playground.png] [--mode compat|swiftshader]');
  process.exit(2);
}
const mode = MODES.find((m) => m.name === v.mode);
if (!mode) throw new Error(`--mode ${v.mode}: one of ${MODES.map((m) => m.name).join(', ')}`);
mkdirSync(out, { recursive: true });

const server = await startServer({ port: 0 });
const ctx = {} as Ctx;
await launch(ctx, mode.args);
const page = ctx.page;
await page.setViewportSize({ width: 1280, height: 900 });
const idle = 'unetPlayground.state.busy === 0 && unetPlayground.view !== undefined';
const settle = async () => {
  await page.waitForTimeout(50);
  await page.waitForFunction(idle, undefined, { timeout: 60_000 });
};
const choose = async (label: string, value: string) => {
  await page.getByLabel(label, { exact: true }).selectOption(value);
  await settle();
};
const type = async (label: string, value: string) => {
  await page.getByLabel(label, { exact: true }).fill(value);
  await page.getByLabel(label, { exact: true }).press('Tab');
  await settle();
};
const shots: string[] = [];
const shot = async (name: string, what: string, fullPage = false) => {
  const path = join(out, name);
  // the sticky toolbar would sit in the middle of a whole-page picture
  const style = fullPage ? await page.addStyleTag({ content: '.toolbar { position: static !important; }' }) : undefined;
  await page.screenshot({ path, fullPage });
  await style?.evaluate((e) => (e as Element).remove());
  shots.push(path);
  console.log(`${path}: ${what}`);
};
const measure = async (sizes: string[]) => {
  for (const s of ['256', '512', '1024']) await page.setChecked(`input[name="measure-size"][value="${s}"]`, sizes.includes(s));
  const before = await page.evaluate('unetPlayground.times?.key ?? ""');
  await page.getByRole('button', { name: 'Measure on this device' }).click();
  await page.waitForFunction(`unetPlayground.times !== undefined && unetPlayground.times.key !== ${JSON.stringify(before)} && ${idle}`, undefined, {
    timeout: 600_000,
  });
};
const pin = async (n: number) => {
  await page.getByRole('button', { name: 'Pin', exact: true }).click();
  await page.waitForFunction(`unetPlayground.pinned.length === ${n}`, undefined, { timeout: 60_000 });
};

try {
  await page.goto(`${server.url}/`);
  await page.waitForFunction(`document.body.dataset.state === 'ready'`, undefined, { timeout: 60_000 });
  await page.getByRole('button', { name: 'Playground' }).click();
  await settle();
  await shot('1-form.png', 'the form with smp Unet resnet34 (its defaults), the exact counts, GFLOP and memory at 256, the diagram');

  await choose('Attention', 'scse');
  await type('Decoder channels', '64, 32, 16, 8, 8');
  await page.locator('#pg-problems').scrollIntoViewIfNeeded();
  await shot('2-not-allowed.png', 'scse with 8-channel blocks: the field and the list under the form say why it cannot be built');

  await choose('Attention', 'none');
  await choose('Encoder', 'resnet18');
  await choose('Depth', '4');
  await type('Decoder channels', '64, 32, 16, 16');
  await measure(['256', '512']);
  await pin(1);
  await page.locator('#pg-measured').scrollIntoViewIfNeeded();
  await shot('3-measured.png', 'resnet18 / depth 4 measured at 256 and 512: medians, runs, per-layer bars (or the note without timestamp queries)');

  await choose('Encoder', 'mobilenet_v2');
  await measure(['256', '512']);
  await pin(2);
  await choose('Encoder', 'efficientnet-b0');
  await measure(['256', '512']);
  await pin(3);
  await page.locator('#pg-compare').scrollIntoViewIfNeeded();
  await shot('4-pinned.png', 'three configurations pinned: the table side by side and the ms-vs-size chart');
  await page.evaluate('window.scrollTo(0, 0)');
  await shot('5-overview.png', 'the whole playground, top to bottom', true);

  await page.getByRole('button', { name: 'Run on images' }).click();
  await page.waitForFunction(`document.body.dataset.view === 'app' && unetDemo.modelInfo?.name.includes('efficientnet-b0') && document.body.dataset.state === 'ready'`, undefined, {
    timeout: 120_000,
  });
  await page.setInputFiles('#image-files', { name: 'nuclei_01.png', mimeType: 'image/png', buffer: readFileSync('assets/demo/samples/nuclei_01.png') });
  await page.waitForFunction(`unetDemo.cards.every((c) => c.state === 'done' || c.state === 'error') && unetDemo.cards.length > 0 && document.body.dataset.state === 'ready'`, undefined, {
    timeout: 300_000,
  });
  await shot('6-cards.png', "the playground's efficientnet-b0 model (random decoder) on a sample image in the app's cards");
  if (v.readme) {
    mkdirSync(dirname(v.readme), { recursive: true });
    copyFileSync(join(out, '5-overview.png'), v.readme);
    console.log(`${v.readme}: a copy of 5-overview.png`);
  }
} finally {
  await ctx.browser.close();
  await server.close();
}
