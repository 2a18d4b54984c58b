// Time per case of our nnU-Net predictor (model.segment: src/nnunet/predictor.ts) beside nnU-Net's own predictor
// on the CPU, in one run: nnUNetPredictor from nnU-Net's source (tools/nnunet_predict_bench.py --serve: loaded once,
// as nnUNetv2_predict loads it once for a folder, then one case per request), the two alternating run by run so
// both see the same load on a shared machine. Each case runs once untimed on both sides (ours compiles its
// pipelines, torch warms its conv primitives; the first-run column shows ours), then --runs timed rounds.
// The time is split as predict_single_npy_array is split: read (the channel NIfTIs), preprocess (transpose, crop,
// normalize, resample), windows (sliding windows, mirroring, folds) and export (resample back, softmax, argmax,
// uncrop, and the <case>.nii.gz written: nnU-Net's export_prediction_from_logits writes it, so ours adds nifti()
// and the file write). Our last labels are compared voxel by voxel with nnU-Net's last ones and with those of one
// more, untimed nnU-Net run with the other accumulation: nnU-Net sums windows in float16, ours in float32 (--f32acc
// times nnU-Net with float32 accumulation instead).
//
//   node --import tsx bench/nnunetPredict.ts --sources DIR [--cases windows3d,bench3d] [--runs 5]
//       [--work /tmp/unet-nnunet-bench] [--big-mirroring] [--big-features 16,32,64,128,128] [--big-patch 32,32,32]
//       [--f32acc] [--python /usr/bin/python3]
//
// --sources DIR holds the checkouts nnUNet/, acvl_utils/, batchgenerators/ and dna/ (tools/nnunet_env.py; the
// mirrors work: `git -C MIRROR archive HEAD | tar -x -C DIR/nnUNet` and so on).
// Cases: windows3d is the committed test/fixtures/nnunet_predict case (3d, patch 8^3, 48 windows x 8 flips, a
// tiny network). bench3d is written into --work on first use by tools/nnunet_predict_bench.py --make-case: a
// 3d_fullres PlainConvUNet with features 16..128 (5 stages) and a 32^3 patch, one CT channel at 1.25 x 0.8 x 0.8
// mm resampled to 1 mm (order 3 there, order 1 back), 48 windows. It runs without mirroring (--disable_tta)
// unless --big-mirroring: 8 flips make each prediction 8 times longer (minutes on two cores). --big-features and
// --big-patch write another network (its own folder in --work; a patch of multiples of 2^(stages - 1)).
import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describeDevice, getDevice, loadModel, releaseGpu } from '../src/node.js';
import { readNifti } from '../src/io/nifti.js';
import { summarize } from '../src/cli/benchTime.js';
import { ms } from '../src/cli/benchTable.js';
import type { NnunetSegmentResult } from '../src/nnunetSegment.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOOL = join(ROOT, 'tools', 'nnunet_predict_bench.py');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'nnunet_predict');
const STAGES = ['read', 'preprocess', 'windows', 'export'] as const;
type Stage = (typeof STAGES)[number];
/** one prediction: its wall time and its stages, in ms */
type Run = { total: number } & Record<Stage, number>;

interface Case {
  name: string;
  results: string;
  images: string[];
  folds: number[];
  mirroring: boolean;
  step: number;
}

const { values: v } = parseArgs({
  options: {
    sources: { type: 'string' },
    cases: { type: 'string', default: 'windows3d,bench3d' },
    runs: { type: 'string', default: '5' },
    work: { type: 'string', default: join(tmpdir(), 'unet-nnunet-bench') },
    'big-mirroring': { type: 'boolean' },
    'big-features': { type: 'string' },
    'big-patch': { type: 'string' },
    f32acc: { type: 'boolean' },
    python: { type: 'string', default: '/usr/bin/python3' },
  },
});
if (!v.sources) {
  console.error('bench/nnunetPredict.ts: --sources DIR is required (the nnUNet/, acvl_utils/, batchgenerators/, dna/ checkouts; see tools/nnunet_env.py)');
  process.exit(2);
}
const RUNS = Number(v.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs: expected an integer >= 1, found ${JSON.stringify(v.runs)}`);
const sources = resolve(v.sources);
const python = v.python!;

/** A committed case of test/fixtures/nnunet_predict, as its case.json names it. */
function fixtureCase(name: string): Case {
  const dir = join(FIXTURES, name);
  const c = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as {
    results: string;
    channels: string[];
    folds: number[];
    use_mirroring: boolean;
    tile_step_size: number;
  };
  return {
    name,
    results: join(dir, c.results),
    images: c.channels.map((f) => join(dir, f)),
    folds: c.folds,
    mirroring: c.use_mirroring,
    step: c.tile_step_size,
  };
}

/** The large case, written into --work by tools/nnunet_predict_bench.py --make-case on first use (one folder per
 *  network: --big-features / --big-patch pass through). */
function bigCase(): Case {
  const features = v['big-features'];
  const patch = v['big-patch'];
  const tag = [features && `f${features.replaceAll(',', '-')}`, patch && `p${patch.replaceAll(',', '-')}`].filter(Boolean).join('_');
  const dir = join(v.work!, tag ? `bench3d_${tag}` : 'bench3d');
  const results = join(dir, 'results');
  const image = join(dir, 'bench3d_0000.nii.gz');
  if (!existsSync(join(results, 'fold_0', 'checkpoint_final.pth')) || !existsSync(image)) {
    const args = [TOOL, '--sources', sources, '--make-case', dir, ...(features ? ['--features', features] : []), ...(patch ? ['--patch', patch] : [])];
    console.error(`writing the bench3d case: ${python} ${args.join(' ')}`);
    execFileSync(python, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const plans = JSON.parse(readFileSync(join(results, 'plans.json'), 'utf8')) as {
    configurations: Record<string, { patch_size: number[]; architecture: { arch_kwargs: { features_per_stage: number[] } } }>;
  };
  const cfg = plans.configurations['3d_fullres'];
  const f = cfg.architecture.arch_kwargs.features_per_stage;
  return {
    name: `bench3d (${f[0]}..${f[f.length - 1]}, patch ${cfg.patch_size.join('x')})`,
    results,
    images: [image],
    folds: [0],
    mirroring: v['big-mirroring'] === true,
    step: 0.5,
  };
}

/** nnU-Net's predictor in a child process: one case per request line, one JSON line of milliseconds back. */
class NnunetPeer {
  private constructor(
    private readonly child: ChildProcessByStdio<Writable, Readable, null>,
    private readonly lines: AsyncIterator<string>,
    readonly info: { torch_version: string; threads: number; nnunet_version: string },
  ) {}

  static async start(c: Case): Promise<NnunetPeer> {
    const args = [TOOL, '--sources', sources, '--serve', '--results', c.results, '--folds', ...c.folds.map(String), '--step', String(c.step)];
    if (!c.mirroring) args.push('--no-mirroring');
    if (v.f32acc) args.push('--f32acc');
    const child = spawn(python, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done) throw new Error(`tools/nnunet_predict_bench.py ended before it was ready (its error is above): ${python} ${args.join(' ')}`);
    const head = JSON.parse(first.value) as NnunetPeer['info'] & { ready?: boolean };
    if (!head.ready) throw new Error(`tools/nnunet_predict_bench.py: unexpected first line ${first.value}`);
    return new NnunetPeer(child, lines, head);
  }

  /** one case; `f32acc` overrides --f32acc for this call */
  async predict(c: Case, outDir: string, f32acc?: boolean): Promise<Run & { windowCount: number; segmentation: string }> {
    this.child.stdin.write(`${JSON.stringify({ images: c.images, out_dir: outDir, ...(f32acc === undefined ? {} : { f32acc }) })}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error('tools/nnunet_predict_bench.py ended during a prediction');
    const a = JSON.parse(r.value) as Record<string, number> & { error?: string; n_windows: number; segmentation: string };
    if (a.error) throw new Error(`nnU-Net's predictor: ${a.error}`);
    return {
      total: a.total_ms,
      read: a.read_ms,
      preprocess: a.preprocess_ms,
      windows: a.windows_ms,
      export: a.export_ms,
      windowCount: a.n_windows,
      segmentation: a.segmentation,
    };
  }

  close(): void {
    this.child.stdin.end('\n');
  }
}

interface Row {
  c: Case;
  windowCount: number;
  flips: number;
  oursFirst: number;
  ours: Run[];
  theirs: Run[];
  /** voxels of our last run labelled unlike nnU-Net's (float16 / float32 accumulation) */
  differ: { f16: number; f32: number };
  voxels: number;
}

const device = await getDevice();
const adapter = describeDevice(device).description;
const rows: Row[] = [];
let peerInfo: NnunetPeer['info'] | undefined;
const out = mkdtempSync(join(tmpdir(), 'unet-nnunet-bench-'));
try {
  for (const name of v.cases!.split(',')) {
    const c = name === 'bench3d' ? bigCase() : fixtureCase(name);
    const model = await loadModel(device, c.results, { nnunet: { folds: c.folds } });
    const peer = await NnunetPeer.start(c);
    peerInfo = peer.info;
    try {
      let labels: NnunetSegmentResult | undefined;
      const oursOnce = async (): Promise<Run> => {
        const t0 = performance.now();
        const r = (await model.segment(c.images, { mirroring: c.mirroring, stepSize: c.step })) as NnunetSegmentResult;
        const t1 = performance.now();
        writeFileSync(join(out, `ours_${rows.length}.nii.gz`), r.nifti());
        const t2 = performance.now();
        labels = r;
        const t = r.timings;
        return { total: t2 - t0, read: t.readMs, preprocess: t.preprocessMs, windows: t.windowsMs, export: t.exportMs + (t2 - t1) };
      };
      const ours: Run[] = [];
      const theirs: Run[] = [];
      let last: Awaited<ReturnType<NnunetPeer['predict']>> | undefined;
      const oursFirst = (await oursOnce()).total;
      await peer.predict(c, out); // torch's first run, untimed as ours is
      for (let r = 0; r < RUNS; r++) {
        // alternate which side goes first, so neither always follows the other's cache and heat
        for (const side of r % 2 ? ['theirs', 'ours'] : ['ours', 'theirs']) {
          if (side === 'ours') ours.push(await oursOnce());
          else theirs.push((last = await peer.predict(c, out)));
        }
        console.error(`${c.name} round ${r + 1}/${RUNS}: ours ${ms(ours[r].total)} ms, nnU-Net ${ms(theirs[r].total)} ms`);
      }
      const got = labels!.labels;
      const differing = (file: string) => {
        const want = readNifti(new Uint8Array(readFileSync(file))).data;
        if (want.length !== got.length) throw new Error(`${c.name}: our labels have ${got.length} voxels, nnU-Net's ${want.length}`);
        let n = 0;
        for (let i = 0; i < got.length; i++) n += Number(got[i] !== want[i]);
        return n;
      };
      const timedDiffer = differing(last!.segmentation);
      // the other accumulation once, untimed: ours accumulates in float32, nnU-Net in float16
      const other = await peer.predict(c, join(out, 'other'), !v.f32acc);
      const otherDiffer = differing(other.segmentation);
      const [f16, f32] = v.f32acc ? [otherDiffer, timedDiffer] : [timedDiffer, otherDiffer];
      const flips = c.mirroring ? 2 ** labels!.windows.mirrorAxes.length : 1;
      rows.push({ c, windowCount: last!.windowCount, flips, oursFirst, ours, theirs, differ: { f16, f32 }, voxels: got.length });
    } finally {
      peer.close();
      model.dispose();
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true });
  device.destroy();
  releaseGpu();
}

const med = (runs: Run[], k: keyof Run) => summarize(runs.map((r) => r[k])).median;
const cell = (runs: Run[]) => [ms(med(runs, 'total')), ...STAGES.map((s) => ms(med(runs, s)))];
/** the share of voxels labelled alike, and how many are not */
const agree = (differ: number, voxels: number) => (differ ? `${(100 - (100 * differ) / voxels).toFixed(3)}% (${differ} differ)` : '100%');
const head = [
  'case',
  'windows',
  'ours first',
  'ours total',
  ...STAGES.map((s) => `ours ${s}`),
  'nnU-Net total',
  ...STAGES.map((s) => `nnU-Net ${s}`),
  'nnU-Net / ours',
  'labels agree (f16 / f32 acc.)',
];
const body = rows.map((r) => [
  r.c.name,
  `${r.windowCount}${r.flips > 1 ? ` x ${r.flips} flips` : ''}`,
  ms(r.oursFirst),
  ...cell(r.ours),
  ...cell(r.theirs),
  `${(med(r.theirs, 'total') / med(r.ours, 'total')).toFixed(2)}x`,
  `${agree(r.differ.f16, r.voxels)} / ${agree(r.differ.f32, r.voxels)} of ${r.voxels}`,
]);
const md = (cells: string[]) => `| ${cells.join(' | ')} |`;
console.log(
  [
    `ours: ${adapter}; nnU-Net ${peerInfo?.nnunet_version} (nnUNetPredictor, CPU, perform_everything_on_device=False, ` +
      `${v.f32acc ? 'float32' : 'float16'} accumulation) under torch ${peerInfo?.torch_version} with ${peerInfo?.threads} threads`,
    `median ms of ${RUNS} runs after one untimed run each, the two alternating; ours first = our untimed first run (pipelines compiled); ` +
      'export includes writing <case>.nii.gz; nnU-Net / ours > 1: ours faster; labels agree: our labels ' +
      "against nnU-Net's with its float16 accumulation and with float32 accumulation (torch.half pointed at float32, one untimed run)",
    '',
    md(head),
    md(head.map((_, k) => (k === 0 ? '---' : '---:'))),
    ...body.map(md),
  ].join('\n'),
);
