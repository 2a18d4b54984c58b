// The model playground (/playground and the toolbar's Playground button) in headless Chromium, in both WebGPU
// modes (test/browser/browsers.ts), driven by its labels as a person would: resnet34 / depth 5 / 3 classes and
// efficientnet-b0 / depth 4 / 2 classes built from the form, their parameter counts read off the page and
// compared with smp's, both pinned, the URL hash reproducing the form, four more networks opened by their links,
// a small model measured (per-layer bars where timestamps exist, the note where not), every control reachable
// and labelled, a pretrained encoder file picked. smp's answers come from test/fixtures/playground (made by
// tools/smp_playground.py running smp itself; see its README): each network's config.json exported by the page
// must be the fixture's text byte for byte (so smp builds the export with the fixture's counts), and the pretrained
// export's encoder tensors must have the sha256s smp's loaded ones had. Only /usr/bin/python3 with PyTorch is
// needed (to make the seeded resnet18 .pth); with $SMP_SOURCE set, smp also runs live on the exported files.
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Page } from 'playwright-core';
import { startServer } from '../../web/server.js';
import { skip } from '../skip.js';
import { FIXTURES, encoderProblems, liveSmp, makePth, pretrainedFixture, runSmp, sha256, smpFixture, tempDir, torchWhy } from '../playground/smp.js';
import { type Ctx, MODES, browserSuite, launch, waitFor } from './browsers.js';

const SHOTS = 'test-output/screenshots';
mkdirSync(SHOTS, { recursive: true });

const work = tempDir();
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

interface Counts {
  parameters: number;
  buffers: number;
}

const smpConfigs = smpFixture().configs;
/** smp's config.json text and counts for a configuration, by its name in test/fixtures/playground/smp.json. */
function smpCase(name: string): { config_json: string } & Counts {
  const c = smpConfigs[name];
  if (!c) throw new Error(`${FIXTURES}/smp.json has no configuration ${name} (tools/smp_playground.py fixtures makes it)`);
  return { config_json: c.config_json, parameters: c.parameters, buffers: c.buffers };
}
const pretrained = pretrainedFixture();
/** the pretrained case the page builds: Unet resnet18 / depth 4 / 2 classes loading the seeded resnet18 .pth */
const PRETRAINED_CASE = 'pre_r18_in3';

/** smp's source when $SMP_SOURCE names it: smp then also builds and loads the page's exports, live. */
const live = liveSmp();

/** smp (live) builds each config.json text: its parameter and buffer counts. */
function liveCounts(texts: string[], name: string): Counts[] {
  const files = texts.map((text, i) => {
    const file = join(work, `${name}-${i}.json`);
    writeFileSync(file, text);
    return file;
  });
  return runSmp(['count', ...files]).map((r) => ({ parameters: r.parameters as number, buffers: r.buffers as number }));
}

const noTorch = torchWhy();

let pth: { path: string; sha256: string; bytes: number } | undefined;
/** pretrained.json's resnet18 .pth (torchvision's layout, seeded, ~45 MB), made here once by its recorded command. */
function resnet18Pth(): { path: string; sha256: string; bytes: number } {
  if (pth) return pth;
  const bytes = makePth(pretrained, 'resnet18', work);
  return (pth = { path: join(work, 'resnet18.pth'), sha256: sha256(bytes), bytes: bytes.length });
}

/** More networks, each opened by its link (the URL hash), with its name in smp.json. */
const LINKED: { hash: string; name: string }[] = [
  { hash: 'architecture=Unet&encoder=mobilenet_v2&depth=5&decoderChannels=256,128,64,32,16&inChannels=1&classes=2', name: 'mnv2_in1_c2' },
  { hash: 'architecture=Unet&encoder=resnet18&depth=5&decoderChannels=256,128,64,32,16&attention=scse&classes=4', name: 'r18_scse_c4' },
  { hash: 'architecture=UnetPlusPlus&encoder=resnet34&depth=5&decoderChannels=256,128,64,32,16&classes=1', name: 'pp_r34' },
  { hash: 'architecture=Unet&encoder=efficientnet-b3&depth=3&decoderChannels=64,32,16&inChannels=4&classes=3', name: 'eb3_d3_in4_c3' },
];

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

const pageCount = async (page: Page, id: string) => Number(((await page.textContent(`#pg-${id}`)) ?? '').replace(/,/g, ''));
const pageCounts = async (page: Page): Promise<Counts> => ({ parameters: await pageCount(page, 'parameters'), buffers: await pageCount(page, 'buffers') });

/** Clicks the page's "Export config.json" button: the downloaded file's text. */
async function exportConfig(page: Page): Promise<string> {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.getByRole('button', { name: 'Export config.json' }).click()]);
  assert.is(dl.suggestedFilename(), 'config.json');
  return readFileSync((await dl.path())!, 'utf8');
}

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

  S(`${mode.name}: resnet34 / depth 5 / 3 classes and efficientnet-b0 / depth 4 / 2 classes: smp's config.json and counts; both pinned`, async (ctx) => {
    const page = ctx.page;
    const want = { r34: smpCase('r34_d5_c3'), eb0: smpCase('eb0_d4_c2') };
    await choose(ctx, 'Architecture', 'Unet');
    await choose(ctx, 'Encoder', 'resnet34');
    await choose(ctx, 'Depth', '5');
    await type(ctx, 'Classes', '3');
    const r34 = await pageCounts(page);
    // the exported config.json is smp's save_pretrained text for this network, so smp builds it with smp's counts
    const r34Config = await exportConfig(page);
    assert.is(r34Config, want.r34.config_json, "resnet34 / depth 5 / 3 classes: the page's config.json vs smp's");
    assert.equal(r34, { parameters: want.r34.parameters, buffers: want.r34.buffers }, 'resnet34 / depth 5 / 3 classes: page vs smp');
    await page.getByRole('button', { name: 'Pin', exact: true }).click();
    await waitFor(ctx, 'unetPlayground.pinned.length === 1', 30_000, 'first pin');

    await choose(ctx, 'Encoder', 'efficientnet-b0');
    await choose(ctx, 'Depth', '4');
    await type(ctx, 'Classes', '2');
    assert.is(await page.getByLabel('Decoder channels', { exact: true }).inputValue(), '256, 128, 64, 32', 'decoder channels follow the depth');
    const eb0 = await pageCounts(page);
    const eb0Config = await exportConfig(page);
    assert.is(eb0Config, want.eb0.config_json, "efficientnet-b0 / depth 4 / 2 classes: the page's config.json vs smp's");
    assert.equal(eb0, { parameters: want.eb0.parameters, buffers: want.eb0.buffers }, 'efficientnet-b0 / depth 4 / 2 classes: page vs smp');
    await page.getByRole('button', { name: 'Pin', exact: true }).click();
    await waitFor(ctx, 'unetPlayground.pinned.length === 2', 30_000, 'second pin');
    const cols = await page.locator('#pg-pinned tr:first-child th[scope="col"]').count();
    assert.is(cols, 3, 'the table: a heading column and one column a configuration');
    const shownCounts = (await page.locator('#pg-pinned tr.parameters td').allTextContents()).map((t) => Number(t.replace(/,/g, '')));
    assert.equal(shownCounts, [want.r34.parameters, want.eb0.parameters], 'the table shows both counts');
    assert.is(await page.locator('#pg-chart svg g.line').count(), 2, 'one chart line a configuration');
    console.log(
      `  ${mode.name} playground: resnet34/d5/3: page ${r34.parameters} smp ${want.r34.parameters} (buffers ${r34.buffers}/${want.r34.buffers}); efficientnet-b0/d4/2: page ${eb0.parameters} smp ${want.eb0.parameters} (buffers ${eb0.buffers}/${want.eb0.buffers}); both config.json texts are smp's`,
    );
    if (live) {
      const built = liveCounts([r34Config, eb0Config], `export-${mode.name}`);
      assert.equal(built, [r34, eb0], 'live smp builds the exported config.json files with the same counts');
      console.log(`  ${mode.name} playground: live smp built both exported config.json files: ${built.map((c) => c.parameters).join(', ')} parameters`);
    }

    // the link reproduces the form
    const link = page.url();
    assert.match(link, /#.*encoder=efficientnet-b0.*depth=4/);
    const other = await ctx.context.newPage();
    await other.goto(link);
    await other.waitForFunction(`${idle} && unetPlayground.view.options.encoder === 'efficientnet-b0'`, undefined, { timeout: 60_000 });
    assert.is(await pageCount(other, 'parameters'), eb0.parameters, 'the link builds the same count');
    await other.close();

    // remove the first pinned one
    await page.getByRole('button', { name: /^Remove 1\./ }).click();
    await waitFor(ctx, 'unetPlayground.pinned.length === 1', 5000, 'unpinned');
    console.log(`  ${mode.name} playground: screenshot ${await shot(ctx, mode.name, 'pinned')}`);
  });

  S(`${mode.name}: four more networks opened by their links: the page's config.json and counts are smp's`, async (ctx) => {
    const page = await ctx.context.newPage();
    const exported: { name: string; text: string; counts: Counts }[] = [];
    try {
      for (const l of LINKED) {
        const want = smpCase(l.name);
        const encoder = new URLSearchParams(l.hash).get('encoder');
        await page.goto(`${server.url}/playground#${l.hash}`);
        await page.waitForFunction(
          `${idle} && location.hash.includes(${JSON.stringify(`encoder=${encoder}`)}) && document.getElementById('pg-parameters')`,
          undefined,
          {
            timeout: 60_000,
          },
        );
        const problems = (await page.textContent('#pg-problems')) ?? '';
        assert.is(problems, '', `${l.hash}: no problems`);
        const got = await pageCounts(page);
        const text = await exportConfig(page);
        assert.is(text, want.config_json, `${l.hash}: the page's config.json vs smp's (${l.name})`);
        assert.equal(got, { parameters: want.parameters, buffers: want.buffers }, `${l.hash}: page vs smp`);
        exported.push({ name: l.name, text, counts: got });
        console.log(
          `  ${mode.name} playground: ${l.hash.replace(/&/g, ' ')}: page ${got.parameters} smp ${want.parameters} (buffers ${got.buffers}/${want.buffers}); config.json is smp's`,
        );
      }
    } finally {
      await page.close();
    }
    if (live) {
      const built = liveCounts(
        exported.map((e) => e.text),
        `linked-${mode.name}`,
      );
      assert.equal(
        built,
        exported.map((e) => e.counts),
        'live smp builds the exported config.json files with the page counts',
      );
      console.log(`  ${mode.name} playground: live smp built the ${built.length} exported config.json files with the page's counts`);
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
    if (noTorch) return skip(`the seeded resnet18 .pth needs PyTorch: ${noTorch}`);
    const page = ctx.page;
    const want = pretrained.cases[PRETRAINED_CASE];
    assert.ok(want?.file === 'resnet18', `${FIXTURES}/pretrained.json has the resnet18 case ${PRETRAINED_CASE}`);
    const file = resnet18Pth();
    const made = pretrained.files.resnet18;
    assert.equal([file.sha256, file.bytes], [made.sha256, made.bytes], `${made.command.join(' ')}: the recorded .pth (sha256, size)`);
    // the network of the fixture's case: Unet resnet18 / depth 4 / 2 classes, smp's default decoder
    await choose(ctx, 'Encoder', 'resnet18');
    await choose(ctx, 'Depth', '4');
    await type(ctx, 'Decoder channels', '256, 128, 64, 32');
    await type(ctx, 'Classes', '2');
    await page.focus('#pg-encoder-file-button');
    const [chooser] = await Promise.all([page.waitForEvent('filechooser', { timeout: 5000 }), page.keyboard.press('Enter')]);
    await chooser.setFiles(file.path);
    await settle(ctx, 'encoder file');
    assert.ok(await page.isChecked('#pg-weights-pretrained'), 'choosing a file picks "Pretrained encoder"');
    assert.ok(((await page.textContent('#pg-encoder-source')) ?? '').includes(basename(file.path)), 'the page names the chosen file');
    const save = async (button: string, name: string) => {
      const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), page.getByRole('button', { name: button }).click()]);
      assert.is(dl.suggestedFilename(), name);
      const path = join(work, `${mode.name}-${name}`);
      await dl.saveAs(path);
      return path;
    };
    const weights = await save('Export model.safetensors', 'model.safetensors');
    const config = await save('Export config.json', 'config.json');
    assert.is(readFileSync(config, 'utf8'), want.config_json, `the page's config.json vs the fixture's ${PRETRAINED_CASE}`);
    const n = Object.keys(want.encoder).length;
    const problems = encoderProblems(want.encoder, readFileSync(weights));
    assert.equal(problems.slice(0, 5), [], `${problems.length} of ${n} encoder tensors differ from smp's`);
    assert.ok(n > 100, `smp's resnet18 encoder has its tensors: ${n}`);
    console.log(`  ${mode.name} playground: pretrained resnet18 file (sha256 as recorded): all ${n} encoder tensors have smp's sha256`);
    if (live) {
      const [r] = runSmp(['pretrained', '--case', file.path, config, weights]);
      assert.is(r.first_mismatch, null, "live smp: the first encoder tensor that differs from smp's");
      assert.is(r.equal, r.encoder_tensors, 'live smp: every encoder tensor equal, bit for bit');
      console.log(`  ${mode.name} playground: live smp loaded the file: ${r.equal} of ${r.encoder_tensors} encoder tensors equal, bit for bit`);
    }
  });

  S.run();
}
