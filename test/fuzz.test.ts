// Seeded, time-bounded fuzzing of everything that reads a file: safetensors weights (parse and U-Net
// mapping), PyTorch checkpoints (zip and legacy, through convert's whole path), safetensors inputs (parse,
// the infer checks, and a forward on the GPU for those that still parse), PNG images and NIfTI volumes.
// Valid files are mutated (bit flips, truncations, random spans, inserted and deleted bytes, edits of the
// safetensors JSON header, pickle opcodes swapped). The rule: a mutated file loads, or fails with an error
// of the reader's own class whose message names the file; never a TypeError / RangeError leaking out of
// the parsing code, a crash or a hang. A few failing cases then go through the CLI: exit code 1, one
// `unet:` error line, no output file.
// FUZZ_SEED and FUZZ_MS (total in-process budget, default 6000) override the defaults.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseSafetensors, SafetensorsError, writeSafetensors } from '../src/weights/safetensors.js';
import { unetParamsFromSafetensors } from '../src/arch/brainUnet.js';
import { CheckpointError, encodeSafetensors, extractStateDict, readCheckpoint } from '../src/weights/checkpoint.js';
import { decodeImage, ImageError } from '../src/io/image.js';
import { NiftiError, readNifti } from '../src/io/nifti.js';
import type { Model } from '../src/model.js';
import { loadModel } from '../src/load.js';
import { LimitError } from '../src/limits.js';
import { makeNifti } from './io/makeNifti.js';
import { assertOneLineError, ROOT, tempDirs, unet } from './cliRun.js';
import * as H from './hostile.js';
import { rng, testDevice } from './helpers.js';
import { skip } from './skip.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const BUDGET_MS = Number(process.env.FUZZ_MS ?? 6000);
const r = rng(SEED);
const int = (n: number) => Math.floor(r() * n);
const pick = <T>(a: readonly T[]): T => a[int(a.length)];

// ---------------------------------------------------------------------------------------------
// mutations

type Mutation = { name: string; bytes: Uint8Array };

function flipBits(b: Uint8Array, region = b.length): Uint8Array {
  const out = b.slice();
  for (let k = 1 + int(8); k > 0; k--) {
    const i = int(Math.max(1, Math.min(region, out.length)));
    if (i < out.length) out[i] ^= 1 << int(8);
  }
  return out;
}

function randomSpan(b: Uint8Array, region = b.length): Uint8Array {
  const out = b.slice();
  const at = int(Math.max(1, Math.min(region, out.length)));
  for (let i = at, n = 1 + int(64); i < out.length && n > 0; i++, n--) out[i] = int(256);
  return out;
}

function insert(b: Uint8Array): Uint8Array {
  const at = int(b.length + 1);
  const extra = Uint8Array.from({ length: 1 + int(16) }, () => int(256));
  const out = new Uint8Array(b.length + extra.length);
  out.set(b.subarray(0, at));
  out.set(extra, at);
  out.set(b.subarray(at), at + extra.length);
  return out;
}

function remove(b: Uint8Array): Uint8Array {
  const n = Math.min(b.length, 1 + int(32));
  const at = int(b.length - n + 1);
  const out = new Uint8Array(Math.max(0, b.length - n));
  out.set(b.subarray(0, at));
  out.set(b.subarray(at + n).subarray(0, out.length - at), at);
  return out;
}

const truncate = (b: Uint8Array) => b.slice(0, r() < 0.3 ? int(Math.min(b.length, 16)) : int(b.length));

/** Generic byte-level mutations; `head` is the size of the interesting front (a header). */
function mutateBytes(b: Uint8Array, head: number): Mutation {
  const m = int(7);
  if (m === 0) return { name: 'bit flips', bytes: flipBits(b) };
  if (m === 1) return { name: 'header bit flips', bytes: flipBits(b, head) };
  if (m === 2) return { name: 'truncation', bytes: truncate(b) };
  if (m === 3) return { name: 'random span', bytes: randomSpan(b) };
  if (m === 4) return { name: 'header random span', bytes: randomSpan(b, head) };
  if (m === 5) return { name: 'inserted bytes', bytes: insert(b) };
  return { name: 'deleted bytes', bytes: remove(b) };
}

const weird = (): unknown =>
  pick<() => unknown>([
    () => -1,
    () => 0,
    () => 1.5,
    () => 2 ** 53,
    () => 2 ** 31,
    () => 1e308,
    () => int(1000),
    () => 'x',
    () => null,
    () => [],
    () => {},
    () => [int(10), int(10)],
    () => [-5, 3],
    () => [2 ** 40, 2 ** 40],
    () => true,
    () => NaN,
  ])();

/** Edits of a safetensors JSON header: fields of one entry changed, entries added or removed, the length field. */
function mutateSafetensorsHeader(b: Uint8Array): Mutation {
  const len = new DataView(b.buffer, b.byteOffset).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + len))) as Record<string, Record<string, unknown>>;
  const data = b.subarray(8 + len);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = pick(names);
  const e = header[name];
  const m = int(10);
  let what = '';
  if (m === 0) [e.dtype, what] = [pick(['F32', 'F16', 'BF16', 'F64', 'I64', 'U8', 'BOOL', 'F8', 'f32', '', 7]), 'dtype'];
  else if (m === 1) [e.shape, what] = [r() < 0.5 ? weird() : (e.shape as number[]).map((d) => (r() < 0.5 ? d : weird())), 'shape'];
  else if (m === 2) {
    const o = e.data_offsets as number[];
    e.data_offsets = pick([[o[0], o[1] + 4], [o[0] - 4, o[1]], [o[1], o[0]], [o[0] + 2 ** 32, o[1] + 2 ** 32], [0, o[1] - o[0]], weird(), [o[0]]]);
    what = 'data_offsets';
  } else if (m === 3) [header[name], what] = [weird() as never, 'entry'];
  else if (m === 4) [what] = [(delete header[name], 'deleted entry')];
  else if (m === 5) [header[`extra.${int(100)}`], what] = [{ ...e }, 'duplicated entry'];
  else if (m === 6) [header.__metadata__, what] = [weird() as never, '__metadata__'];
  else if (m === 7) [header[name.replace(/\d/, String(int(10)))], what] = [e, 'renamed entry'];
  let text = JSON.stringify(header);
  if (m === 8) [text, what] = [text.slice(0, int(text.length)), 'cut JSON'];
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, json.length, true);
  if (m === 9) {
    dv.setUint32(0, pick([json.length + 1 + int(100), json.length - 1 - int(10), 0xffffffff, int(2 ** 32)]), true);
    dv.setUint32(4, pick([0, 0, 1, 0xffffffff]), true);
    what = 'length field';
  }
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return { name: `header edit (${what})`, bytes: out };
}

/** A legacy checkpoint with one pickle opcode byte replaced, or a GLOBAL spliced in. */
function mutatePickle(b: Uint8Array): Mutation {
  const out = b.slice();
  const opcodes = [
    0x80, 0x95, 0x2e, 0x28, 0x30, 0x31, 0x32, 0x4e, 0x88, 0x4a, 0x4b, 0x4d, 0x8a, 0x8b, 0x58, 0x8c, 0x29, 0x5d, 0x7d, 0x74, 0x85, 0x86, 0x87, 0x64, 0x61, 0x65,
    0x73, 0x75, 0x68, 0x6a, 0x71, 0x72, 0x94, 0x63, 0x93, 0x52, 0x81, 0x62, 0x51, 0xff, 0x00, 0x01,
  ];
  if (r() < 0.3) {
    const g = new TextEncoder().encode(pick(['cos\nsystem\n', 'cbuiltins\neval\n', 'ctorch.nn.modules.conv\nConv2d\n', 'cnumpy\nndarray\n']));
    const at = int(Math.min(out.length, 400));
    const res = new Uint8Array(out.length + g.length);
    res.set(out.subarray(0, at));
    res.set(g, at);
    res.set(out.subarray(at), at + g.length);
    return { name: 'GLOBAL spliced in', bytes: res };
  }
  for (let k = 1 + int(3); k > 0; k--) out[int(Math.min(out.length, 2000))] = pick(opcodes);
  return { name: 'pickle opcodes', bytes: out };
}

// ---------------------------------------------------------------------------------------------
// targets

interface Target {
  name: string;
  source: string;
  seeds: Uint8Array[];
  head: number;
  mutate?: (b: Uint8Array) => Mutation;
  /** what reading the file means; throws on bad files */
  read: (b: Uint8Array, source: string) => unknown | Promise<unknown>;
  /** the error classes this reader may throw */
  errors: (new (
    ...a: never[]
  ) => Error)[];
  /** whether messages start with the file name (images and volumes are named by the CLI) */
  named: boolean;
}

/** a plain Uint8Array copy: a Buffer's slice() would share memory, and mutations would change the seed */
const file = (p: string) => new Uint8Array(readFileSync(p));
const CKPTS = ['unet_zip.pt', 'unet_legacy.pt', 'zoo.pt', 'zoo_legacy.pt', 'unet_f16_legacy.pt'].map((f) => `test/fixtures/checkpoints/${f}`);

function inferInput(bytes: Uint8Array, source: string): { data: Float32Array; shape: number[] } {
  // the checks of `unet infer` (src/cli/infer.ts readInput), in-process
  const st = parseSafetensors(bytes, source);
  const t = st.tensors.get('input');
  if (!t) throw new SafetensorsError(`${source}: no tensor "input"`);
  if (!['F32', 'F16', 'BF16', 'F64'].includes(t.dtype)) throw new SafetensorsError(`${source}: tensor "input" is ${t.dtype}`);
  if (t.shape.length !== 4) throw new SafetensorsError(`${source}: tensor "input" has shape [${t.shape}]`);
  return { data: st.getF32('input'), shape: t.shape };
}

const counts = new Map<string, { cases: number; loaded: number; failed: number; kinds: Map<string, number> }>();
const cliCandidates = new Map<string, { bytes: Uint8Array; what: string }[]>();

function record(target: string, ok: boolean, kind: string) {
  let c = counts.get(target);
  if (!c) counts.set(target, (c = { cases: 0, loaded: 0, failed: 0, kinds: new Map() }));
  c.cases++;
  if (ok) c.loaded++;
  else c.failed++;
  c.kinds.set(kind, (c.kinds.get(kind) ?? 0) + 1);
}

function checkError(t: Target, e: unknown, m: Mutation, source: string): void {
  const err = e as Error;
  const why = `${t.name}, ${m.name} (seed ${SEED}): ${err?.constructor?.name}: ${err?.message}\n${err?.stack ?? ''}`;
  assert.ok(t.errors.some((c) => e instanceof c) && !(e instanceof TypeError) && !(e instanceof RangeError), `unexpected error class: ${why}`);
  assert.ok(typeof err.message === 'string' && err.message.length > 0, `empty message: ${why}`);
  if (t.named) assert.ok(err.message.startsWith(`${source}: `) || err.message.startsWith('input: '), `message does not name the file: ${why}`);
  assert.not.match(err.message, /undefined|\[object Object\]/, `unclear message: ${why}`);
}

const Fuzz = suite<{ device: GPUDevice; model: Model; tmp: ReturnType<typeof tempDirs> }>('fuzz: mutated weights, checkpoints, inputs, images, volumes');
Fuzz.before(async (ctx) => {
  ctx.device = await testDevice();
  ctx.model = await loadModel(ctx.device, 'test/fixtures/gray.weights.safetensors');
  ctx.tmp = tempDirs('unet-fuzz-');
});
Fuzz.after((ctx) => {
  ctx.model.dispose();
  ctx.device.destroy();
  ctx.tmp.cleanup();
});

Fuzz(`in-process, ${BUDGET_MS} ms: every mutated file loads or fails with its reader's error naming it`, async ({ model }) => {
  let gpuRuns = 0;
  const targets: Target[] = [
    {
      name: 'weights',
      source: 'fuzz.weights.safetensors',
      seeds: [file('test/fixtures/gray.weights.safetensors'), file('test/fixtures/f5_odd.weights.safetensors')],
      head: 16000,
      mutate: (b) => (r() < 0.5 ? mutateSafetensorsHeader(b) : mutateBytes(b, 16000)),
      read: (b, s) => unetParamsFromSafetensors(parseSafetensors(b, s)),
      errors: [SafetensorsError],
      named: true,
    },
    {
      name: 'checkpoints',
      source: 'fuzz.pt',
      seeds: CKPTS.map(file),
      head: 2000,
      mutate: (b) => (b[0] === 0x80 && r() < 0.5 ? mutatePickle(b) : mutateBytes(b, 2000)),
      read: (b, s) => {
        const sd = extractStateDict(readCheckpoint(b, s), s);
        return encodeSafetensors(sd.tensors, {});
      },
      errors: [CheckpointError],
      named: true,
    },
    {
      name: 'inputs',
      source: 'fuzz.io.safetensors',
      seeds: [writeSafetensors({ input: { shape: [1, 1, 24, 20], data: Float32Array.from({ length: 480 }, (_, i) => Math.sin(i)) } })],
      head: 200,
      mutate: (b) => (r() < 0.5 ? mutateSafetensorsHeader(b) : mutateBytes(b, 200)),
      read: async (b, s) => {
        const x = inferInput(b, s);
        // a forward on the GPU for some of those that parse: shapes and values the engine must refuse
        // clearly or run (40 at most: each costs a few ms, and a new shape a compile)
        if (gpuRuns < 40) {
          gpuRuns++;
          await model.run(x);
        }
      },
      errors: [SafetensorsError, Error],
      named: true,
    },
    {
      name: 'images',
      source: 'fuzz.png',
      seeds: [file('assets/demo/samples/nuclei_01.png')],
      head: 64,
      read: (b) => decodeImage(b),
      errors: [ImageError, LimitError],
      named: false,
    },
    {
      name: 'volumes',
      source: 'fuzz.nii',
      seeds: [makeNifti({ dims: [12, 10, 3], datatype: 4, values: Array.from({ length: 360 }, (_, i) => i) })],
      head: 352,
      read: (b) => readNifti(b),
      errors: [NiftiError, LimitError],
      named: false,
    },
  ];
  let slowest = { ms: 0, what: '' };
  const start = performance.now();
  const share = BUDGET_MS / targets.length;
  for (const t of targets) {
    const end = performance.now() + share;
    while (performance.now() < end) {
      const seed = pick(t.seeds);
      const m = t.mutate ? t.mutate(seed) : mutateBytes(seed, t.head);
      const t0 = performance.now();
      try {
        await t.read(m.bytes, t.source);
        record(t.name, true, m.name);
      } catch (e) {
        checkError(t, e, m, t.source);
        record(t.name, false, m.name);
        const list = cliCandidates.get(t.name) ?? [];
        if (list.length < 50) cliCandidates.set(t.name, [...list, { bytes: m.bytes, what: `${m.name}: ${(e as Error).message.split('\n')[0]}` }]);
      }
      const ms = performance.now() - t0;
      if (ms > slowest.ms) slowest = { ms, what: `${t.name}, ${m.name}, ${m.bytes.length} bytes` };
      if (ms > 1000 && process.env.FUZZ_DUMP) writeFileSync(`${process.env.FUZZ_DUMP}.${t.name}`, m.bytes);
    }
  }
  const total = [...counts.values()].reduce((a, c) => a + c.cases, 0);
  console.log(`  seed ${SEED}: ${total} mutated files in ${((performance.now() - start) / 1000).toFixed(1)} s, ${gpuRuns} forwards on the GPU`);
  console.log(`    slowest case: ${slowest.ms.toFixed(0)} ms (${slowest.what})`);
  for (const [name, c] of counts)
    console.log(`    ${name.padEnd(11)} ${String(c.cases).padStart(5)} cases: ${c.loaded} loaded, ${c.failed} refused with a clear error`);
  for (const t of targets) assert.ok((counts.get(t.name)?.cases ?? 0) >= 20, `${t.name}: too few cases`);
  // a case this slow is a hang in the making (a corrupt count walked for minutes, a huge view copied)
  assert.ok(slowest.ms < 3000, `slowest case ${slowest.ms} ms: ${slowest.what}`);
});

Fuzz('CLI: refused weights, checkpoints and inputs exit 1 with one error line and no output file', async ({ tmp }) => {
  const dir = tmp.dir();
  const good = 'test/fixtures/gray.weights.safetensors';
  const goodInput = 'test/fixtures/gray.io.safetensors';
  const runs: { args: (file: string, out: string) => string[]; target: string; ext: string }[] = [
    { target: 'weights', ext: 'safetensors', args: (f, out) => ['infer', '--weights', f, '--input', goodInput, '--out', out] },
    { target: 'checkpoints', ext: 'pt', args: (f, out) => ['convert', f, '-o', out] },
    { target: 'inputs', ext: 'safetensors', args: (f, out) => ['infer', '--weights', good, '--input', f, '--out', out] },
  ];
  let n = 0;
  for (const run of runs) {
    const candidates = cliCandidates.get(run.target) ?? [];
    for (let k = 0; k < 2 && candidates.length > 0; k++) {
      const c = candidates.splice(int(candidates.length), 1)[0];
      const file = join(dir, `case${n}.${run.ext}`);
      const out = join(dir, `out${n++}.safetensors`);
      writeFileSync(file, c.bytes);
      const res = unet(...run.args(file, out));
      // the U-Net mapping lists missing / mis-shaped tensors on indented lines after the one error line
      const errorLines = res.lines.filter((l) => !/^\s+- /.test(l));
      assertOneLineError({ ...res, lines: errorLines }, new RegExp(`^unet: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
      assert.ok(!existsSync(out), `${c.what}: ${out} was written`);
      assert.equal(
        readdirSync(dir).filter((f) => f.startsWith('.')),
        [],
        'no temporary file left',
      );
    }
  }
  console.log(`  ${n} CLI runs on refused files`);
  assert.ok(n >= 4);
});

Fuzz.run();

// ---------------------------------------------------------------------------------------------
// hostile files: bounded time and memory

const Hostile = suite<{ tmp: ReturnType<typeof tempDirs> }>('fuzz: hostile files are refused in bounded time and memory');
Hostile.before((ctx) => {
  ctx.tmp = tempDirs('unet-hostile-');
});
Hostile.after((ctx) => ctx.tmp.cleanup());

const DEMO_WEIGHTS = 'assets/demo/nuclei_unet.safetensors';
const GRAY_INPUT = 'test/fixtures/gray.io.safetensors';
const MAX_SECONDS = 5;
const MAX_RSS_MB = 1024;

interface Case {
  name: string;
  /** the hostile file (written to the case's folder), or a path already there (/dev/zero) */
  file: (() => Uint8Array) | string;
  ext: string;
  /** the command line, given the hostile file's path and an output folder */
  args: (file: string, out: string) => string[];
  /** the refusal line, after "unet: <file>: " */
  expect: RegExp;
}

const segmentArgs = (f: string, out: string) => ['segment', f, '--weights', DEMO_WEIGHTS, '--out-dir', out];
const convertArgs = (f: string, out: string) => ['convert', f, '-o', join(out, 'x.safetensors')];
const inferWeights = (f: string, out: string) => ['infer', '--weights', f, '--input', GRAY_INPUT, '--out', join(out, 'y.safetensors')];

/** A valid U-Net (the gray fixture) with `extra` unexpected zero-size tensors added. */
function manyUnexpected(extra: number): Uint8Array {
  const b = readFileSync('test/fixtures/gray.weights.safetensors');
  const len = b.readUInt32LE(0);
  const header = JSON.parse(b.subarray(8, 8 + len).toString()) as Record<string, unknown>;
  for (let i = 0; i < extra; i++) header[`x${i}`] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] };
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8 + json.length + b.length - 8 - len);
  out.writeUInt32LE(json.length, 0);
  json.copy(out, 8);
  b.subarray(8 + len).copy(out, 8 + json.length);
  return out;
}

const CASES: Case[] = [
  {
    name: 'PNG declaring 60000x60000',
    ext: 'png',
    file: H.pngDeclaredHuge,
    args: segmentArgs,
    expect: /60000x60000 = 3\.6e9 pixels exceeds maxPixels 1\.0e8 \(raise with --max-pixels\)$/,
  },
  {
    name: 'PNG bomb, 30000x30000 from 0.9 MB',
    ext: 'png',
    file: () => H.png(30000, 30000, H.zlibWrap(H.zerosDeflateRaw(860))),
    args: segmentArgs,
    expect: /9\.0e8 pixels exceeds maxPixels/,
  },
  {
    name: 'interlaced PNG bomb, 100x100 inflating to 1 GiB',
    ext: 'png',
    file: () => H.png(100, 100, H.zlibWrap(H.zerosDeflateRaw(1024)), { interlace: true }),
    args: segmentArgs,
    expect: /interlaced PNG whose image data inflates past/,
  },
  {
    name: 'PNG bomb, 100x100 inflating to 1 GiB',
    ext: 'png',
    file: () => H.png(100, 100, H.zlibWrap(H.zerosDeflateRaw(1024))),
    args: segmentArgs,
    expect: /not a readable PNG/,
  },
  {
    name: 'JPEG declaring 65000x65000',
    ext: 'jpg',
    file: () => H.jpegDeclared(65000, 65000),
    args: segmentArgs,
    expect: /65000x65000 = 4\.2e9 pixels exceeds maxPixels/,
  },
  {
    name: 'progressive JPEG of 190000 empty scans',
    ext: 'jpg',
    file: () => H.jpegManyScans(190_000),
    args: segmentArgs,
    expect: /JPEG of 190000 scans exceeds maxJpegScans 100 \(raise with --limit maxJpegScans=N\)$/,
  },
  {
    name: '.nii.gz of a 32767x32767 slice',
    ext: 'nii.gz',
    file: () => gzipSync(H.concat(H.niftiHeader([32767, 32767, 1]), new Uint8Array(2 ** 20))),
    args: segmentArgs,
    expect: /32767 x 32767 x 1 = 1\.1e9 voxels exceeds maxVoxels 1\.3e8 \(raise with --max-voxels\)$/,
  },
  {
    name: '.nii.gz whose f64 data needs 1 GiB',
    ext: 'nii.gz',
    file: () => gzipSync(H.concat(H.niftiHeader([1024, 1024, 128], 64), new Uint8Array(2 ** 16))),
    args: segmentArgs,
    expect: /exceeds maxDecompressedBytes 1\.0 GiB \(raise with --max-decompressed-mib\)$/,
  },
  {
    name: 'gzip bomb NIfTI, 3 GB of zeros from 3 MB',
    ext: 'nii.gz',
    file: () => H.gzipWrap(H.zerosDeflateRaw(3000)),
    args: segmentArgs,
    expect: /not a NIfTI-1 file/,
  },
  {
    name: 'NIfTI with dim[2] = -5',
    ext: 'nii',
    file: () => H.concat(H.niftiHeader([10, -5, 2]), new Uint8Array(200)),
    args: segmentArgs,
    expect: /dim\[2\] is -5: every dimension must be at least 1/,
  },
  { name: 'FIFO as an input', ext: 'fifo.png', file: 'fifo', args: segmentArgs, expect: /is a FIFO \(named pipe\), expected a regular file$/ },
  { name: '/dev/zero as an image', ext: '', file: '/dev/zero', args: segmentArgs, expect: /is a character device, expected a regular file$/ },
  {
    name: '.pt zip bomb (entries declaring 2 GiB)',
    ext: 'pt',
    file: () => H.zipBomb(2 ** 31),
    args: convertArgs,
    expect: /declares 2\.0 GiB\) exceeds maxDecompressedBytes 1\.0 GiB \(raise with --max-decompressed-mib\)$/,
  },
  {
    name: '.pt of 300 views of 64 x 4 MiB',
    ext: 'pt',
    file: () => H.zipCheckpoint(H.manyViews(300, 64, 2 ** 20), { 0: new Uint8Array(2 ** 22) }, true),
    args: convertArgs,
    expect: /exceeds maxWeightsBytes 512 MiB \(raise with --max-weights-mib\)$/,
  },
  {
    name: 'pickle with a tuple key doubled 64 times',
    ext: 'pt',
    file: () => H.legacyCheckpoint(H.doubledTupleKey(64)),
    args: convertArgs,
    expect: /no tensors at the top level/,
  },
  {
    name: 'pickle LONG4 of 1 MB',
    ext: 'pt',
    file: () => H.legacyCheckpoint(H.long4(2 ** 20)),
    args: convertArgs,
    expect: /an integer of 1\.0e6 bytes .* exceeds maxPickleIntBytes 64/,
  },
  {
    name: 'pickle of 300k APPENDS',
    ext: 'pt',
    file: () => H.legacyCheckpoint(H.appends(300_000)),
    args: convertArgs,
    expect: /holds a list\/tuple, not a state_dict/,
  },
  {
    name: 'pickle key nested 100000 deep',
    ext: 'pt',
    file: () => H.legacyCheckpoint(H.deepKey(100_000)),
    args: convertArgs,
    expect: /containers nested 101 deep .* exceeds maxPickleDepth 100/,
  },
  {
    name: 'pickle with a cyclic key',
    ext: 'pt',
    file: () => H.legacyCheckpoint(H.cyclicKey()),
    args: convertArgs,
    expect: /no tensors at the top level .*"\[\.\.\.\]"/,
  },
  {
    name: 'pickled subprocess.Popen',
    ext: 'pt',
    file: () => H.legacyCheckpoint(new H.Pickle().global('subprocess', 'Popen').mark().str('id').tuple().op(0x52).stop()),
    args: convertArgs,
    expect: /refused global subprocess\.Popen \(it would run code when unpickled: a code-execution global/,
  },
  {
    name: '10^6 tensor names (a 59 MB header)',
    ext: 'safetensors',
    file: () => H.safetensorsHeader(`{${Array.from({ length: 1e6 }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`).join(',')}}`),
    args: inferWeights,
    expect: /header length \d+ exceeds the 16 MiB \(16777216-byte\) header limit/,
  },
  {
    name: 'a shape of 10^7 dims',
    ext: 'safetensors',
    file: () => H.safetensorsHeader(`{"x":{"dtype":"F32","shape":[${new Array(1e7).fill(1).join(',')}],"data_offsets":[0,4]}}`),
    args: inferWeights,
    expect: /header length \d+ exceeds the 16 MiB|shape has 10000000 dimensions, more than 64/,
  },
  {
    name: 'a shape of 10^6 dims',
    ext: 'safetensors',
    file: () => H.safetensorsHeader(`{"x":{"dtype":"F32","shape":[${new Array(1e6).fill(1).join(',')}],"data_offsets":[0,4]}}`),
    args: inferWeights,
    expect: /tensor "x": shape has 1000000 dimensions, more than 64$/,
  },
  { name: 'FIFO as --weights', ext: 'fifo', file: 'fifo', args: inferWeights, expect: /is a FIFO \(named pipe\), expected a regular file$/ },
  { name: '/dev/zero as --weights', ext: '', file: '/dev/zero', args: inferWeights, expect: /is a character device, expected a regular file$/ },
  {
    name: 'a directory without model.safetensors as --weights',
    ext: 'dir',
    file: 'dir',
    args: inferWeights,
    expect: /a model folder holds model.safetensors \(and config.json\), this one has no model.safetensors$/,
  },
  {
    name: 'a .pt as --weights of infer',
    ext: 'pt',
    file: () => readFileSync('test/fixtures/checkpoints/unet_zip.pt'),
    args: inferWeights,
    expect: /this is a PyTorch checkpoint \(zip format.*convert it with `unet convert`$/,
  },
  {
    name: 'a legacy .pt as --weights of segment',
    ext: 'pt',
    file: () => readFileSync('test/fixtures/checkpoints/unet_legacy.pt'),
    args: (f, out) => ['segment', 'assets/demo/samples/nuclei_01.png', '--weights', f, '--out-dir', out],
    expect: /this is a PyTorch checkpoint \(legacy pickle format\).*convert it with `unet convert`$/,
  },
];

/** Runs the CLI under /usr/bin/time: exit code, stderr lines (Dawn's log lines left out), seconds, peak RSS. */
function timed(args: string[]): { code: number | null; lines: string[]; stderr: string; seconds: number; rssMB: number } {
  const timeFile = join(tmpdir(), `unet-fuzz-time-${process.pid}`);
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', timeFile, process.execPath, 'bin/unet.js', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, UNET_DEBUG: '' },
  });
  const seconds = (performance.now() - t0) / 1000;
  const rssMB = Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop()) / 1024;
  const lines = r.stderr.split('\n').filter((l) => l !== '' && !/^Warning: /.test(l));
  return { code: r.status, lines, stderr: r.stderr, seconds, rssMB };
}

const HAVE_TIME = existsSync('/usr/bin/time');

Hostile(`each hostile file: exit 1, one line naming the file, < ${MAX_SECONDS} s, < ${MAX_RSS_MB} MB RSS`, ({ tmp }) => {
  if (!HAVE_TIME) return skip('/usr/bin/time is not installed (Debian package "time")');
  const dir = tmp.dir();
  const rows: string[] = [];
  for (const [i, c] of CASES.entries()) {
    const out = join(dir, `out${i}`);
    mkdirSync(out);
    let file: string;
    if (c.file === '/dev/zero') file = c.file;
    else {
      file = join(dir, `case${i}.${c.ext}`);
      if (c.file === 'fifo') spawnSync('mkfifo', [file]);
      else if (c.file === 'dir') mkdirSync(file);
      else writeFileSync(file, (c.file as () => Uint8Array)());
    }
    const r = timed(c.args(file, out));
    const why = `${c.name}: exit ${r.code}, ${r.seconds.toFixed(2)} s, ${r.rssMB.toFixed(0)} MB, stderr:\n${r.stderr.slice(0, 2000)}`;
    rows.push(`    ${c.name.padEnd(42)} exit ${r.code}  ${r.seconds.toFixed(2)} s  ${r.rssMB.toFixed(0).padStart(4)} MB  ${r.lines[0]?.slice(0, 150)}`);
    assert.is(r.code, 1, why);
    // segment adds its count line ("unet: 1 of 1 inputs failed") after the input's own line
    const expectedLines = c.args === segmentArgs ? 2 : 1;
    assert.is(r.lines.length, expectedLines, why);
    assert.ok(r.lines[0].startsWith(`unet: ${file}: `), why);
    assert.match(r.lines[0].slice(`unet: ${file}: `.length), c.expect, why);
    assert.not.match(r.stderr, /^\s+at |Maximum call stack|TypeError/m, why);
    assert.ok(r.seconds < MAX_SECONDS, `too slow: ${why}`);
    assert.ok(r.rssMB < MAX_RSS_MB, `too much memory: ${why}`);
  }
  console.log(rows.join('\n'));
});

Hostile('200000 unexpected tensors beside a valid U-Net: the first 20 problems, then a count', ({ tmp }) => {
  const dir = tmp.dir();
  const file = join(dir, 'many.safetensors');
  writeFileSync(file, manyUnexpected(200_000));
  const r = HAVE_TIME ? timed(inferWeights(file, dir)) : { ...unet(...inferWeights(file, dir)), seconds: 0, rssMB: 0 };
  const why = `exit ${r.code}, ${r.seconds.toFixed(2)} s, ${r.rssMB.toFixed(0)} MB:\n${r.lines.slice(0, 30).join('\n')}`;
  assert.is(r.code, 1, why);
  assert.is(r.lines.length, 22, why);
  assert.match(r.lines[1], /^\s+- unexpected "x0"$/, why);
  assert.match(r.lines[21], /^\s+\.\.\. and 199980 more$/, why);
  assert.ok(r.seconds < MAX_SECONDS && r.rssMB < MAX_RSS_MB, why);
});

Hostile('names are escaped: a file name with a newline and an ANSI escape prints on one line', ({ tmp }) => {
  const dir = tmp.dir();
  const file = join(dir, 'evil\n\x1b[31munet: all good.png');
  writeFileSync(file, 'not an image');
  const r = unet('segment', file, '--weights', DEMO_WEIGHTS, '--out-dir', join(dir, 'out'));
  assert.is(r.code, 1, r.stderr);
  assert.is(r.lines.length, 2, r.stderr);
  assert.ok(r.lines[0].includes('evil\\n\\x1b[31munet: all good.png: unsupported format'), r.stderr);
  assert.not.ok(r.stderr.includes('\x1b'), r.stderr);
});

Hostile.run();
