// `unet segment` with sliding windows: --tile N gives masks that agree with one pass (--tile off) on a
// demo sample, --gpu-budget tiles an image that would fit the limits, and bad tile options are usage errors.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage } from '../../src/io/image.js';
import { assertOneLineError, tempDirs, unet } from '../cliRun.js';

const WEIGHTS = 'assets/demo/nuclei_unet.safetensors';
const SAMPLE = 'assets/demo/samples/nuclei_03.png';
const tmp = tempDirs('unet-tile-cli-');
const Cli = suite('tiling: unet segment --tile');
Cli.after(tmp.cleanup);

const mask = (dir: string) => decodeImage(readFileSync(join(dir, 'nuclei_03_mask.png'))).data;

Cli('--tile 64 and --gpu-budget agree with --tile off on >= 99% of pixels', () => {
  const d = tmp.dir();
  const dirs = { off: join(d, 'off'), tiled: join(d, 'tiled'), budget: join(d, 'budget') };
  const args = (out: string, ...more: string[]) => ['segment', SAMPLE, '--weights', WEIGHTS, '--out-dir', out, ...more];
  // 0.4 MiB gives 48-pixel windows on this 128x128 sample (Winograd's scratch counts against the budget)
  for (const [out, more] of [
    [dirs.off, ['--tile', 'off']],
    [dirs.tiled, ['--tile', '64', '--tile-overlap', '0.5', '--tile-blend', 'gaussian']],
    [dirs.budget, ['--gpu-budget', '0.4']],
  ] as const) {
    const r = unet(...args(out, ...more));
    assert.is(r.code, 0, r.stderr);
  }
  const off = mask(dirs.off);
  for (const name of ['tiled', 'budget'] as const) {
    const m = mask(dirs[name]);
    const agree = m.reduce((n, v, i) => n + Number(v === off[i]), 0) / m.length;
    console.log(`  ${name}: masks agree with one pass on ${(agree * 100).toFixed(2)}%`);
    assert.ok(agree >= 0.99, `${name}: ${agree}`);
  }
});

Cli('bad --tile, --tile-overlap, --tile-blend, --gpu-budget are usage errors (exit 2)', () => {
  const out = tmp.dir();
  const cases: [string[], RegExp][] = [
    [['--tile', 'big'], /--tile must be auto, off or a window size in pixels, found "big"/],
    [['--tile-overlap', '1'], /--tile-overlap must be a number with 0 <= F < 1, found "1"/],
    [['--tile-blend', 'linear'], /--tile-blend must be gaussian or constant, found "linear"/],
    [['--gpu-budget', '0'], /--gpu-budget must be a positive number of MiB, found "0"/],
    [['--tile', 'off', '--gpu-budget', '64'], /--gpu-budget needs tiles: it cannot go with --tile off/],
  ];
  for (const [more, re] of cases) assertOneLineError(unet('segment', SAMPLE, '--weights', WEIGHTS, '--out-dir', out, ...more), re, 2);
});

Cli.run();
