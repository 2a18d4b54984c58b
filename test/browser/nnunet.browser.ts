// The demo page as a private nnU-Net viewer, in headless Chromium in both WebGPU modes: an nnU-Net results
// folder through "Open model folder…" (test/fixtures/nnunet/plain3d_aniso: 3d_fullres, 2 channels, 3 labels) and
// two NIfTI channel files written here; then the export zip (nnUNetv2_export_model_to_zip's layout) of the same
// network with a small patch, dropped together with the channel files, run with mirroring and cancelled. The
// three views, the legend (dataset.json's names), progress, Cancel and the <case>.nii.gz download are checked;
// the downloaded labels must equal model.segment's for the same files in Node (Dawn).
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { zipSync } from 'fflate';
import { getDevice, loadModel, releaseGpu } from '../../src/node.js';
import { nnunetZipFiles } from '../../src/arch/nnunet/folder.js';
import { niftiSpacing, niftiVolume, readNifti, writeNifti } from '../../src/io/nifti.js';
import { nnunetFiles } from '../../src/nnunetFiles.js';
import { type NnunetSource, nnunetModelSource } from '../../src/nnunetSource.js';
import { startServer } from '../../web/server.js';
import { segmentCase } from '../../web/nnunetPredict.js';
import { skip } from '../skip.js';
import type { Ctx } from './browsers.js';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = 'test-output/screenshots';
const FOLDER = 'test/fixtures/nnunet/plain3d_aniso';
/** the network's strides total 4 x 16 x 16: a patch of 4 x 32 x 32 gives a case of 5 x 36 x 45 twelve windows */
const SMALL_PATCH = [4, 32, 32];
/** Least share of voxels where the page's labels must equal Node's (the bar for nnU-Net's own). */
const MIN_AGREEMENT = 0.999;

// A 2-channel case, 40 x 32 x 6 voxels of 0.7 x 0.7 x 3 mm (the plans' 3d_fullres spacing is 0.62 x 0.62 x 3.6:
// it is resampled, z separately), zero on a 2-voxel border (cropped to the nonzero box).
const [NX, NY, NZ] = [40, 32, 6];
const SPACING = [0.7, 0.7, 3];
function channel(c: number, [nx, ny, nz] = [NX, NY, NZ]): Buffer {
  const data = new Float32Array(nx * ny * nz);
  for (let z = 0; z < nz; z++)
    for (let y = 2; y < ny - 2; y++)
      for (let x = 2; x < nx - 2; x++) data[(z * ny + y) * nx + x] = 100 + 80 * Math.sin(0.3 * x + c) * Math.cos(0.25 * y - z) + 10 * c;
  return Buffer.from(writeNifti(niftiVolume([nx, ny, nz], SPACING), data, true));
}
const CHANNELS = [channel(0), channel(1)];
/** a case of hundreds of window batches at the small patch, to cancel */
const BIG = [channel(0, [160, 128, 12]), channel(1, [160, 128, 12])];
const NII = (name: string, buffer: Buffer) => ({ name, mimeType: 'application/gzip', buffer });

/** The results folder as nnUNetv2_export_model_to_zip writes it, with plans.json's 3d_fullres patch set to `patch`. */
function exportZip(patch: number[]): Buffer {
  const trainer = 'Dataset042_Aniso/nnUNetTrainer__nnUNetPlans__3d_fullres';
  const entries: Record<string, Uint8Array> = {};
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
  for (const file of walk(FOLDER)) {
    let bytes: Uint8Array = readFileSync(file);
    if (file.endsWith('plans.json')) {
      const plans = JSON.parse(readFileSync(file, 'utf8'));
      plans.configurations['3d_fullres'].patch_size = patch;
      bytes = Buffer.from(JSON.stringify(plans, null, 4));
    }
    entries[`${trainer}/${relative(FOLDER, file)}`] = bytes;
  }
  return Buffer.from(zipSync(entries));
}
const ZIP = exportZip(SMALL_PATCH);

/** model.segment in Node on the same files: the labels the page must give. */
async function nodeLabels(source: () => Promise<NnunetSource>, mirroring: boolean): Promise<Uint8Array | Uint16Array> {
  const device = await getDevice();
  try {
    const model = await loadModel(device, await source());
    const r = await segmentCase(model, CHANNELS, { mirroring });
    model.dispose();
    return r.labels;
  } finally {
    device.destroy();
    releaseGpu();
  }
}

function agreement(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return 0;
  let same = 0;
  for (let i = 0; i < a.length; i++) same += a[i] === b[i] ? 1 : 0;
  return same / a.length;
}

if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is missing: the nnU-Net page tests need Chromium (bash scripts/setup.sh --chromium)`);
else {
  const { MODES, browserSuite, launch, waitFor, withLog } = await import('./browsers.js');
  const refFolder = await nodeLabels(async () => nnunetModelSource(await nnunetFiles(FOLDER)), false);
  const refZip = await nodeLabels(() => nnunetModelSource(nnunetZipFiles(ZIP, 'aniso.zip')), true);
  const distinct = new Set(refFolder).size;
  assert.ok(distinct >= 2, `the Node reference has ${distinct} label value(s): the case should show more than one`);
  mkdirSync(SHOTS, { recursive: true });
  const server = await startServer({ port: 0 });
  server.server.unref();

  const caseDone = (name: string) =>
    `['done', 'error', 'cancelled'].includes(unetDemo.volumes.find((v) => v.name === ${JSON.stringify(name)})?.state) && document.body.dataset.state === 'ready'`;
  const volumeOf = async (ctx: Ctx, name: string) =>
    (await ctx.page.evaluate(`(() => {
      const v = unetDemo.volumes.find((v) => v.name === ${JSON.stringify(name)});
      return v && { ...v, labels: v.labels && Array.from(v.labels) };
    })()`)) as { state: string; error: string; dims: number[]; shape: number[]; labels: number[]; windows: { batches: number; batchSize: number } };

  async function downloadCase(ctx: Ctx, card: string): Promise<{ name: string; bytes: Buffer }> {
    const [dl] = await Promise.all([ctx.page.waitForEvent('download', { timeout: 60_000 }), ctx.page.click(`${card} button.dl-nifti`)]);
    return { name: dl.suggestedFilename(), bytes: readFileSync((await dl.path())!) };
  }

  for (const mode of MODES) {
    const S = browserSuite(`nnunet page (${mode.name})`, (ctx) => launch(ctx, mode.args));

    S(`${mode.name}: a results folder and two channel files: three views, the legend, the <case>.nii.gz equal to Node's`, async (ctx) => {
      const page = ctx.page;
      await page.goto(`${server.url}/`);
      await waitFor(ctx, `unetDemo.modelInfo !== undefined && document.body.dataset.state === 'ready'`, 60_000, 'default model');
      await page.focus('#open-folder');
      const [folder] = await Promise.all([page.waitForEvent('filechooser', { timeout: 5000 }), page.keyboard.press('Enter')]);
      await folder.setFiles(FOLDER);
      await waitFor(ctx, `unetDemo.nnunet !== undefined && document.body.dataset.state === 'ready'`, 60_000, 'nnU-Net folder');
      const arch = (await page.textContent('#model-arch')) ?? '';
      assert.match(arch, /3d_fullres/);
      assert.match(arch, /0000 T2, 0001 ADC/, 'the channels of dataset.json');
      assert.match((await page.textContent('#model-classes')) ?? '', /0 background.*1 peripheral zone.*2 transition zone/s, 'the model legend');
      assert.ok(await page.isVisible('#volumes'), 'the case area shows');
      await page.uncheck('#mirroring'); // one window of the 20 x 320 x 256 patch: minutes on SwiftShader with 8 flips
      const [chooser] = await Promise.all([page.waitForEvent('filechooser', { timeout: 5000 }), page.click('#open-volumes')]);
      await chooser.setFiles([NII('prostate_0001.nii.gz', CHANNELS[1]), NII('prostate_0000.nii.gz', CHANNELS[0])]);
      await waitFor(ctx, caseDone('prostate'), 300_000, 'case prostate');
      const card = '.result.volume[data-name="prostate"]';
      const v = await volumeOf(ctx, 'prostate');
      assert.is(v.state, 'done', withLog(ctx, `case state ${v.state}: ${v.error}`));
      assert.equal(v.dims, [NX, NY, NZ]);
      assert.equal(v.shape, [NZ, NY, NX]);
      const agree = agreement(v.labels, refFolder);
      assert.ok(agree >= MIN_AGREEMENT, `page labels vs Node's model.segment: ${(100 * agree).toFixed(3)}% agree`);

      // the three views: the canvas of each is its plane, the label overlay drawn
      const views = (await page.evaluate(`[...document.querySelectorAll('${card} canvas')].map((c) => ({
        view: c.className, size: [c.width, c.height], labelled: Number(c.dataset.labelled), slice: Number(c.dataset.slice) }))`)) as {
        view: string;
        size: number[];
        labelled: number;
        slice: number;
      }[];
      assert.equal(
        views.map((x) => [x.view, x.size]),
        [
          ['axial', [NX, NY]],
          ['coronal', [NX, NZ]],
          ['sagittal', [NY, NZ]],
        ],
      );
      for (const x of views) assert.ok(x.labelled > 0, `${x.view}: ${x.labelled} labelled pixels drawn`);
      const legend = (await page.textContent(`${card} ul.classes`)) ?? '';
      assert.match(legend, /0 background: [\d.]+%.*1 peripheral zone: [\d.]+%.*2 transition zone: [\d.]+%/s, `the case's legend: ${legend}`);
      // a slider moves its view; the overlay follows the opacity slider
      await page.fill(`${card} input.slice.axial`, '0');
      assert.is(await page.getAttribute(`${card} canvas.axial`, 'data-slice'), '0');
      const before = await page.evaluate(`document.querySelector('${card} canvas.coronal').getContext('2d').getImageData(0, 0, ${NX}, ${NZ}).data.join()`);
      await page.fill('#opacity', '1');
      await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
      const after = await page.evaluate(`document.querySelector('${card} canvas.coronal').getContext('2d').getImageData(0, 0, ${NX}, ${NZ}).data.join()`);
      assert.ok(before !== after, 'the opacity slider redraws the overlay');

      const dl = await downloadCase(ctx, card);
      assert.is(dl.name, 'prostate.nii.gz', 'named as nnUNetv2_predict names it');
      const vol = readNifti(dl.bytes);
      assert.equal(vol.dims, [NX, NY, NZ]);
      assert.equal(niftiSpacing(vol), SPACING.map(Math.fround), 'the input header (spacing) kept');
      const fileAgree = agreement(vol.data, refFolder);
      assert.ok(fileAgree >= MIN_AGREEMENT, `downloaded labels vs Node's: ${(100 * fileAgree).toFixed(3)}% agree`);
      const shot = `${SHOTS}/${mode.name}-nnunet-case.png`;
      await page.locator(card).scrollIntoViewIfNeeded();
      await page.screenshot({ path: shot });
      console.log(
        `  ${mode.name} nnunet: prostate ${NX}x${NY}x${NZ}, labels = Node's on ${(100 * agree).toFixed(3)}% (file ${(100 * fileAgree).toFixed(3)}%); screenshot ${shot}`,
      );
    });

    S(`${mode.name}: the export zip dropped with the channel files (mirroring, 12 windows): equal to Node's; Cancel stops a run`, async (ctx) => {
      const page = ctx.page;
      await page.check('#mirroring');
      const dt = await page.evaluateHandle(`(() => {
        const dt = new DataTransfer();
        const file = (b64, name) => new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name);
        dt.items.add(file('${ZIP.toString('base64')}', 'Dataset042_Aniso.zip'));
        dt.items.add(file('${CHANNELS[0].toString('base64')}', 'knee_0000.nii.gz'));
        dt.items.add(file('${CHANNELS[1].toString('base64')}', 'knee_0001.nii.gz'));
        return dt;
      })()`);
      await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
      await waitFor(ctx, `unetDemo.nnunet?.name === 'Dataset042_Aniso.zip' && ${caseDone('knee')}`, 300_000, 'zip and case knee');
      const v = await volumeOf(ctx, 'knee');
      assert.is(v.state, 'done', withLog(ctx, `case state ${v.state}: ${v.error}`));
      assert.match((await page.textContent('#model-arch')) ?? '', /4 × 32 × 32/, "the zip's plans (its patch)");
      const agree = agreement(v.labels, refZip);
      assert.ok(agree >= MIN_AGREEMENT, `page labels vs Node's (zip, mirroring): ${(100 * agree).toFixed(3)}% agree`);
      assert.ok(v.windows.batches > 1, `several window batches: ${JSON.stringify(v.windows)}`);
      const dl = await downloadCase(ctx, '.result.volume[data-name="knee"]');
      assert.is(dl.name, 'knee.nii.gz');
      assert.ok(agreement(readNifti(dl.bytes).data, refZip) >= MIN_AGREEMENT, 'the downloaded labels');

      // a larger case, cancelled after its first batch of windows
      const [chooser] = await Promise.all([page.waitForEvent('filechooser', { timeout: 5000 }), page.click('#open-volumes')]);
      await chooser.setFiles([NII('large_0000.nii.gz', BIG[0]), NII('large_0001.nii.gz', BIG[1])]);
      const card = '.result.volume[data-name="large"]';
      await waitFor(
        ctx,
        `Number(document.querySelector('${card}')?.dataset.done) > 0 && document.querySelector('${card}').dataset.state === 'running'`,
        120_000,
        'first batch',
      );
      const done = Number(await page.getAttribute(card, 'data-done'));
      const total = Number(await page.getAttribute(card, 'data-total'));
      await page.focus(`${card} button.cancel`);
      await page.keyboard.press('Enter');
      await waitFor(ctx, `document.querySelector('${card}').dataset.state === 'cancelled'`, 2000, 'cancelled case');
      await page.waitForTimeout(1000);
      const status = (await page.evaluate('unetDemo.workerStatus()')) as { cancelled: number; running: string | null; windowsAfterCancel: number };
      assert.ok(done < total, `cancelled mid-run: after ${done} of ${total} batches`);
      assert.ok(status.cancelled >= 1, `the worker saw the cancel (${JSON.stringify(status)})`);
      assert.ok(status.windowsAfterCancel <= 1, `batches run after the cancel: ${status.windowsAfterCancel}`);
      assert.is(status.running, null, 'the worker is idle');
      assert.ok(await page.isVisible(`${card} button.retry`), 'a cancelled case can be run again');
      await page.screenshot({ path: `${SHOTS}/${mode.name}-nnunet-cancelled.png` });
      assert.equal(
        ctx.log.filter((l) => l.startsWith('pageerror') || l.startsWith('console.error')),
        [],
        'no errors in the console',
      );
      console.log(
        `  ${mode.name} nnunet: zip case knee = Node's on ${(100 * agree).toFixed(3)}% (${JSON.stringify(v.windows)}); cancelled large after ${done} of ${total} batches, ${status.windowsAfterCancel} more ran`,
      );
    });

    S.run();
  }
}
