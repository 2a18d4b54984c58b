// The model playground (/playground and the toolbar's Playground button) in headless Chromium, in both WebGPU
// modes (test/browser/browsers.ts), driven by its labels as a person would: resnet34 / depth 5 / 3 classes and
// efficientnet-b0 / depth 4 / 2 classes built from the form, their parameter counts read off the page and
// compared with smp's (PyTorch running smp from its source: tools/smp_playground.py), both pinned, config.json
// exported and built by smp with the same count, the URL hash reproducing the form, a small model measured
// (per-layer bars where timestamps exist, the note where not), every control reachable and labelled.
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../../web/server.js';
import { skip } from '../skip.js';
import { runSmp, smpSource, tempDir } from '../playground/smp.js';
import { type Ctx, MODES, browserSuite, launch, waitFor } from './browsers.js';

const SHOTS = 'test-output/screenshots';
mkdirSync(SHOTS, { recursive: true });

/** smp's own configs for the two networks of the issue (what `Unet(**config)` takes), written here, not by the page. */
const R34 = { _model_class: 'Unet', encoder_weights: null, encoder_name: 'resnet34', encoder_depth: 5, classes: 3, decoder_channels: [256, 128, 64, 32, 16] };
const EB0 = {
  _model_class: 'Unet',
  encoder_weights: null,
  encoder_name: 'efficientnet-b0',
  encoder_depth: 4,
  classes: 2,
  decoder_channels: [256, 128, 64, 32],
};

const work = tempDir();
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

interface Counts {
  parameters: number;
  buffers: number;
}

/** smp's parameter and buffer counts for config.json objects (smp from its source under PyTorch). */
function smpCounts(configs: Record<string, unknown>[], name: string): Counts[] {
  const files = configs.map((c, i) => {
    const file = join(work, `${name}-${i}.json`);
    writeFileSync(file, JSON.stringify(c));
    return file;
  });
  return runSmp(['count', ...files]).map((r) => ({ parameters: r.parameters as number, buffers: r.buffers as number }));
}

const noSmp = smpSource().why;

let pthFile: string | undefined;
/** A torchvision-format resnet18 checkpoint with seeded weights (tools/smp_playground.py make-pth, ~45 MB: made here, once). */
function resnet18Pth(): string {
  if (pthFile) return pthFile;
  const file = join(work, 'resnet18-seeded.pth');
  runSmp(['make-pth', '--seed', '3', '--file', 'resnet18', file]);
  return (pthFile = file);
}
/** More networks, each opened by its link (the URL hash): the page's counts against smp's for each. */
const LINKED: { hash: string; config: Record<string, unknown> }[] = [
  {
    hash: 'architecture=Unet&encoder=mobilenet_v2&depth=5&decoderChannels=256,128,64,32,16&inChannels=1&classes=2',
    config: { _model_class: 'Unet', encoder_weights: null, encoder_name: 'mobilenet_v2', encoder_depth: 5, in_channels: 1, classes: 2 },
  },
  {
    hash: 'architecture=Unet&encoder=resnet18&depth=5&decoderChannels=256,128,64,32,16&attention=scse&classes=4',
    config: { _model_class: 'Unet', encoder_weights: null, encoder_name: 'resnet18', encoder_depth: 5, decoder_attention_type: 'scse', classes: 4 },
  },
  {
    hash: 'architecture=UnetPlusPlus&encoder=resnet34&depth=5&decoderChannels=256,128,64,32,16&classes=1',
    config: { _model_class: 'UnetPlusPlus', encoder_weights: null, encoder_name: 'resnet34', encoder_depth: 5, classes: 1 },
  },
  {
    hash: 'architecture=Unet&encoder=efficientnet-b3&depth=3&decoderChannels=64,32,16&inChannels=4&classes=3',
    config: {
      _model_class: 'Unet',
      encoder_weights: null,
      encoder_name: 'efficientnet-b3',
      encoder_depth: 3,
      decoder_channels: [64, 32, 16],
      in_channels: 4,
      classes: 3,
    },
  },
];

const [smpR34, smpEb0, ...smpLinked] = noSmp ? [] : smpCounts([R34, EB0, ...LINKED.map((l) => l.config)], 'issue');

const server = await startServer({ port: 0 });
server.server.unref();

// --- helpers ------------------------------------------------------------------------------------------

/** The playground has answered everything asked (no request in flight) and shows these options. */
const idle = `unetPlayground.state.busy === 0 && unetPlayground.view !== undefined`;

async function settle(ctx: Ctx, what: string): Promise<void> {
  await ctx.page.waitForTimeout(50); // a change event's describe call starts on the next task
  await waitFor(ctx, idle, 30_000, what);
}

/** Chooses `value` in the select labelled `label` (by its visible label, exactly). */
async function choose(ctx: Ctx, label: string, value: string): Promise<void> {
  await ctx.page.getByLabel(label, { exact: true }).selectOption(value);
  await settle(ctx, `${label} = ${value}`);
}

/** Types `value` into the field labelled `label` and leaves it (change fires on Tab, as for a person). */
async function type(ctx: Ctx, label: string, value: string): Promise<void> {
  const field = ctx.page.getByLabel(label, { exact: true });
  await field.fill(value);
  await field.press('Tab');
  await settle(ctx, `${label} = ${value}`);
}

const pageCount = async (ctx: Ctx, id: string) => Number(((await ctx.page.textContent(`#pg-${id}`)) ?? '').replace(/,/g, ''));

async function shot(ctx: Ctx, mode: string, what: string): Promise<string> {
  const path = `${SHOTS}/${mode}-playground-${what}.png`;
  // the sticky toolbar would sit in the middle of a whole-page picture
  const style = await ctx.page.addStyleTag({ content: '.toolbar { position: static !important; }' });
  await ctx.page.screenshot({ path, fullPage: true });
  await style.evaluate((e) => (e as Element).remove());
  return path;
}

// ---

for (const mode of MODES) {
  const S = browserSuite(`playground (${mode.name})`, (ctx) => launch(ctx, mode.args));

  S(`${mode.name}: the Playground button (keyboard) opens /playground; every control is reachable and labelled`, async (ctx) => {
    const page = ctx.page;
    await page.goto(`${server.url}/`);
    await waitFor(ctx, `document.body.dataset.state === 'ready'`, 60_000, 'app ready');
    await page.focus('#show-playground');
    await page.keyboard.press('Enter');
    await settle(ctx, 'playground');
    assert.is(new URL(page.url()).pathname, '/playground', 'the address is /playground');
    // the server answers /playground with the page, and /playground/ (whose relative URLs would miss) with a redirect
    assert.match(await (await fetch(`${server.url}/playground`)).text(), /id="playground"/);
    const slash = await fetch(`${server.url}/playground/?x=1`, { redirect: 'manual' });
    assert.equal([slash.status, slash.headers.get('location')], [301, '/playground?x=1']);
    assert.ok(await page.isVisible('#playground'), 'the playground is shown');
    assert.not.ok(await page.isVisible('#drop'), 'the app view is hidden');
    for (const label of [
      'Architecture',
      'Encoder',
      'Depth',
      'Decoder channels',
      'Attention',
      'Upsampling',
      'Decoder norm',
      'Input channels',
      'Classes',
      'Activation',
    ])
      assert.ok(await page.getByLabel(label, { exact: true }).isVisible(), `a control labelled ${label}`);
    // every control has a name a screen reader says, and Tab reaches each enabled one
    const unnamed = (await page.evaluate(`[...document.querySelectorAll('#playground input, #playground select, #playground button')]
      .filter((e) => e.tabIndex >= 0 && !e.disabled && !(e.labels?.length || e.getAttribute('aria-label') || e.textContent.trim() || e.getAttribute('aria-labelledby')))
      .map((e) => e.id || e.outerHTML.slice(0, 60))`)) as string[];
    assert.equal(unnamed, [], 'controls without a name');
    await page.focus('#pg-architecture');
    const reached = new Set<string>();
    for (let i = 0; i < 60; i++) {
      reached.add((await page.evaluate('document.activeElement.id || document.activeElement.name')) as string);
      await page.keyboard.press('Tab');
    }
    for (const id of [
      'pg-encoder',
      'pg-depth',
      'pg-decoderChannels',
      'pg-activation',
      'pg-seed',
      'pg-encoder-file-button',
      'pg-encoder-url',
      'pg-measure',
      'pg-pin',
      'pg-export-config',
    ])
      assert.ok(reached.has(id), `Tab reaches #${id} (reached: ${[...reached].join(', ')})`);
    // a back to the app and forth again by the browser's history
    await page.goBack();
    await waitFor(ctx, `document.body.dataset.view === 'app'`, 5000, 'back to the app');
    await page.goForward();
    await waitFor(ctx, `document.body.dataset.view === 'playground'`, 5000, 'forward to the playground');
  });

  S(`${mode.name}: resnet34 / depth 5 / 3 classes and efficientnet-b0 / depth 4 / 2 classes: smp's parameter counts; both pinned`, async (ctx) => {
    if (noSmp) return skip(`smp's counts need smp and PyTorch: ${noSmp}`);
    const page = ctx.page;
    const want = { r34: smpR34, eb0: smpEb0 };
    await choose(ctx, 'Architecture', 'Unet');
    await choose(ctx, 'Encoder', 'resnet34');
    await choose(ctx, 'Depth', '5');
    await type(ctx, 'Classes', '3');
    const r34 = { parameters: await pageCount(ctx, 'parameters'), buffers: await pageCount(ctx, 'buffers') };
    assert.equal(r34, want.r34, 'resnet34 / depth 5 / 3 classes: page vs smp');
    await page.getByRole('button', { name: 'Pin', exact: true }).click();
    await waitFor(ctx, 'unetPlayground.pinned.length === 1', 30_000, 'first pin');

    await choose(ctx, 'Encoder', 'efficientnet-b0');
    await choose(ctx, 'Depth', '4');
    await type(ctx, 'Classes', '2');
    assert.is(await page.getByLabel('Decoder channels', { exact: true }).inputValue(), '256, 128, 64, 32', 'decoder channels follow the depth');
    const eb0 = { parameters: await pageCount(ctx, 'parameters'), buffers: await pageCount(ctx, 'buffers') };
    assert.equal(eb0, want.eb0, 'efficientnet-b0 / depth 4 / 2 classes: page vs smp');
    await page.getByRole('button', { name: 'Pin', exact: true }).click();
    await waitFor(ctx, 'unetPlayground.pinned.length === 2', 30_000, 'second pin');
    const cols = await page.locator('#pg-pinned tr:first-child th[scope="col"]').count();
    assert.is(cols, 3, 'the table: a heading column and one column a configuration');
    const shownCounts = (await page.locator('#pg-pinned tr.parameters td').allTextContents()).map((t) => Number(t.replace(/,/g, '')));
    assert.equal(shownCounts, [want.r34.parameters, want.eb0.parameters], 'the table shows both counts');
    assert.is(await page.locator('#pg-chart svg g.line').count(), 2, 'one chart line a configuration');
    console.log(
      `  ${mode.name} playground: resnet34/d5/3: page ${r34.parameters} smp ${want.r34.parameters} (buffers ${r34.buffers}/${want.r34.buffers}); efficientnet-b0/d4/2: page ${eb0.parameters} smp ${want.eb0.parameters} (buffers ${eb0.buffers}/${want.eb0.buffers})`,
    );

    // config.json: what smp builds the same network from
    const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.getByRole('button', { name: 'Export config.json' }).click()]);
    assert.is(dl.suggestedFilename(), 'config.json');
    const config = JSON.parse(readFileSync((await dl.path())!, 'utf8')) as Record<string, unknown>;
    assert.is(config._model_class, 'Unet');
    assert.is(config.encoder_name, 'efficientnet-b0');
    const [fromExport] = smpCounts([config], `export-${mode.name}`);
    assert.equal(fromExport, want.eb0, 'smp builds the exported config.json with the same counts');
    console.log(`  ${mode.name} playground: exported config.json built by smp: ${fromExport.parameters} parameters`);

    // the link reproduces the form
    const link = page.url();
    assert.match(link, /#.*encoder=efficientnet-b0.*depth=4/);
    const other = await ctx.context.newPage();
    await other.goto(link);
    await other.waitForFunction(`${idle} && unetPlayground.view.options.encoder === 'efficientnet-b0'`, undefined, { timeout: 60_000 });
    assert.is(Number(((await other.textContent('#pg-parameters')) ?? '').replace(/,/g, '')), eb0.parameters, 'the link builds the same count');
    await other.close();

    // remove the first pinned one
    await page.getByRole('button', { name: /^Remove 1\./ }).click();
    await waitFor(ctx, 'unetPlayground.pinned.length === 1', 5000, 'unpinned');
    console.log(`  ${mode.name} playground: screenshot ${await shot(ctx, mode.name, 'pinned')}`);
  });

  S(`${mode.name}: four more networks opened by their links: the page's counts equal smp's`, async (ctx) => {
    if (noSmp) return skip(`smp's counts need smp and PyTorch: ${noSmp}`);
    const page = await ctx.context.newPage();
    try {
      for (const [i, l] of LINKED.entries()) {
        await page.goto(`${server.url}/playground#${l.hash}`);
        await page.waitForFunction(
          `${idle} && location.hash.includes(${JSON.stringify(`encoder=${l.config.encoder_name}`)}) && document.getElementById('pg-parameters')`,
          undefined,
          {
            timeout: 60_000,
          },
        );
        const problems = (await page.textContent('#pg-problems')) ?? '';
        assert.is(problems, '', `${l.hash}: no problems`);
        const got = {
          parameters: Number(((await page.textContent('#pg-parameters')) ?? '').replace(/,/g, '')),
          buffers: Number(((await page.textContent('#pg-buffers')) ?? '').replace(/,/g, '')),
        };
        assert.equal(got, smpLinked[i], `${l.hash}: page vs smp`);
        console.log(
          `  ${mode.name} playground: ${l.hash.replace(/&/g, ' ')}: page ${got.parameters} smp ${smpLinked[i].parameters} (buffers ${got.buffers}/${smpLinked[i].buffers})`,
        );
      }
    } finally {
      await page.close();
    }
  });

  S(`${mode.name}: an invalid choice says why; a small model measured on this device`, async (ctx) => {
    const page = ctx.page;
    await choose(ctx, 'Encoder', 'resnet18');
    await choose(ctx, 'Depth', '3');
    await type(ctx, 'Decoder channels', '8, 8, 8');
    await type(ctx, 'Classes', '1');
    const scse = page.locator('#pg-attention option[value="scse"]');
    assert.ok(await scse.isDisabled(), 'scse cannot be chosen with 8 decoder channels');
    assert.match((await scse.textContent()) ?? '', /—\s*\S/, 'the option says why');
    // measure at 256 only: a software adapter takes seconds a run
    for (const s of ['512', '1024']) await page.uncheck(`input[name="measure-size"][value="${s}"]`);
    await page.getByRole('button', { name: 'Measure on this device' }).click();
    await waitFor(ctx, `unetPlayground.times !== undefined && ${idle}`, 240_000, 'measured');
    const t = (await page.evaluate('unetPlayground.times')) as { sizes: { size: number; ms?: number }[]; layers?: { layers: unknown[] }; layersNote?: string };
    assert.ok(t.sizes.length === 1 && t.sizes[0].size === 256 && (t.sizes[0].ms ?? 0) > 0, `a median time at 256: ${JSON.stringify(t.sizes)}`);
    if (mode.timestamps) {
      assert.ok((t.layers?.layers.length ?? 0) > 5, 'per-layer times from timestamp queries');
      assert.is(await page.locator('#pg-layers .bar').count(), t.layers!.layers.length, 'one bar a layer');
    } else assert.match((await page.textContent('#pg-layers')) ?? '', /no timestamp queries/, 'the page says why there are no per-layer times');
    const pinned = (await page.evaluate('unetPlayground.pinned.length')) as number;
    await page.getByRole('button', { name: 'Pin', exact: true }).click();
    await waitFor(ctx, `unetPlayground.pinned.length === ${pinned + 1}`, 30_000, 'measured pin');
    const ms = (await page.evaluate(`unetPlayground.pinned[${pinned}].ms`)) as (number | null)[];
    assert.ok((ms[0] ?? 0) > 0, 'the pinned row has its time');
    assert.is(await page.locator('#pg-chart svg circle').count(), 1, 'the chart marks the measured point');
    console.log(
      `  ${mode.name} playground: resnet18/d3/(8,8,8) at 256: ${t.sizes[0].ms!.toFixed(1)} ms; ${t.layers ? `${t.layers.layers.length} layers timed` : 'no per-layer times'}`,
    );
    console.log(`  ${mode.name} playground: screenshot ${await shot(ctx, mode.name, 'measured')}`);
    assert.equal(
      ctx.log.filter((l) => !l.includes('favicon')),
      [],
      'no console errors or warnings',
    );
  });

  S(`${mode.name}: a pretrained encoder by the file picker (keyboard): model.safetensors has smp's encoder tensors bit for bit`, async (ctx) => {
    if (noSmp) return skip(`smp's encoder loading needs smp and PyTorch: ${noSmp}`);
    const page = ctx.page;
    const pth = resnet18Pth();
    await choose(ctx, 'Encoder', 'resnet18');
    await choose(ctx, 'Depth', '5');
    await type(ctx, 'Decoder channels', '32, 16, 16, 16, 16');
    await page.focus('#pg-encoder-file-button');
    const [chooser] = await Promise.all([page.waitForEvent('filechooser', { timeout: 5000 }), page.keyboard.press('Enter')]);
    await chooser.setFiles(pth);
    await settle(ctx, 'encoder file');
    assert.ok(await page.isChecked('#pg-weights-pretrained'), 'choosing a file picks "Pretrained encoder"');
    assert.match((await page.textContent('#pg-encoder-source')) ?? '', /resnet18-seeded\.pth/);
    const save = async (button: string, name: string) => {
      const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), page.getByRole('button', { name: button }).click()]);
      assert.is(dl.suggestedFilename(), name);
      const path = join(work, `${mode.name}-${name}`);
      await dl.saveAs(path);
      return path;
    };
    const weights = await save('Export model.safetensors', 'model.safetensors');
    const config = await save('Export config.json', 'config.json');
    const [r] = runSmp(['pretrained', '--case', pth, config, weights]);
    assert.ok((r.encoder_tensors as number) > 100, `smp's resnet18 encoder has its tensors: ${JSON.stringify(r)}`);
    assert.is(r.equal, r.encoder_tensors, `every encoder tensor equal, bit for bit (first mismatch ${r.first_mismatch})`);
    console.log(`  ${mode.name} playground: pretrained resnet18 file: ${r.equal} of ${r.encoder_tensors} encoder tensors equal smp's, bit for bit`);
  });

  S.run();
}
