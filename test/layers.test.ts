// The source folders form one stack, and imports point down it: a folder may import its own files and the
// folders below it, never one above. Then a layer can be read, tested and changed knowing only what is
// under it (the kernels know no op, the ops no compiler, the compiler no architecture), and adding an
// architecture, op or kernel touches one layer. This test reads every relative import of src/**/*.ts and
// fails on an import that points up the order below, naming the file and what it imports.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

/** The layers, bottom first. A folder of src/ is named by its name; a file at src/'s top by its file name. */
const LAYERS: string[][] = [
  // shared by every layer: the error family and the resource limits
  ['errors.ts', 'limits.ts'],
  // the IR: neutral types (Activation, PadMode, OutputActivation), parameter arrays, the graph and its builder
  ['ir'],
  // weight file formats (safetensors, pickle checkpoints): bytes to named tensors
  ['weights'],
  // WGSL generators, one per kernel, and their CPU references
  ['kernels'],
  // graph ops: shape inference, parameter packing and steps, on the kernels
  ['ops'],
  // the WebGPU device, buffers and the host platform
  ['gpu'],
  // the compiler: passes, memory plan, parameter packing, tuning, the plan that runs a graph
  ['compiler'],
  // images in and pictures out
  ['io'],
  // sliding windows over inputs too large for one run
  ['tiling'],
  // architectures: state_dicts to graphs
  ['arch'],
  // nnU-Net's predictor: its preprocessing, Gaussian sliding windows with mirroring, and export
  ['nnunet'],
  // the public API (src/index.ts, src/node.ts) and what it is made of
  [
    'model.ts',
    'segment.ts',
    'load.ts',
    'volume.ts',
    'infoText.ts',
    'index.ts',
    'node.ts',
    'nnunetFiles.ts',
    'nnunetSource.ts',
    'nnunetSegment.ts',
    'playground.ts',
  ],
  // the command line
  ['cli'],
];

/** Upward imports allowed, each with its reason: none. (A listed import that is gone fails too, so the list
 *  can only shrink.) */
const KNOWN_UPWARD = new Set<string>([]);

const SRC = 'src';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** The layer index of a path relative to src/. */
function layerOf(rel: string): number {
  const top = rel.split('/')[0];
  const i = LAYERS.findIndex((l) => l.includes(top));
  if (i < 0) throw new Error(`src/${top} is in no layer: add it to LAYERS in test/layers.test.ts`);
  return i;
}

/** Relative module specifiers of a file: static imports and re-exports, side-effect imports, import(). */
function specifiers(text: string): string[] {
  const re = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g;
  return [...text.matchAll(re)].map((m) => m[1]);
}

/** Every import between two layers: 'from -> to' paths relative to src/, with their layers. */
function crossings(): { edge: string; from: number; to: number }[] {
  const out: { edge: string; from: number; to: number }[] = [];
  for (const file of sources(SRC)) {
    const rel = relative(SRC, file).split('\\').join('/');
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      const target = relative(SRC, normalize(join(dirname(file), spec)))
        .split('\\')
        .join('/')
        .replace(/\.js$/, '.ts');
      if (target.startsWith('..')) continue; // outside src/ (package.json, scripts): not a layer
      const from = layerOf(rel);
      const to = layerOf(target);
      if (from !== to) out.push({ edge: `${rel} -> ${target}`, from, to });
    }
  }
  return out;
}

const test = suite('layers');

test('every src/ folder and top-level file is in one layer', () => {
  const named = LAYERS.flat();
  assert.is(new Set(named).size, named.length, 'a name in two layers');
  for (const e of readdirSync(SRC, { withFileTypes: true })) {
    if (e.isDirectory() || e.name.endsWith('.ts')) layerOf(e.name);
  }
});

test('imports point down the layers', () => {
  const all = crossings();
  assert.ok(all.length > 100, `only ${all.length} imports between layers found: the import pattern is broken`);
  const up = all.filter((c) => c.to > c.from).map((c) => c.edge);
  const unexpected = up.filter((e) => !KNOWN_UPWARD.has(e));
  assert.equal(unexpected, [], `imports of a layer above: ${unexpected.join('; ')}`);
  const gone = [...KNOWN_UPWARD].filter((e) => !up.includes(e));
  assert.equal(gone, [], `no longer imported, delete from KNOWN_UPWARD: ${gone.join('; ')}`);
});

test('the IR and the kernels import nothing above them', () => {
  // the two lowest working layers, spelled out: what the split is for
  const low = crossings().filter((c) => LAYERS[c.from].some((n) => n === 'ir' || n === 'kernels'));
  for (const c of low) assert.ok(c.to < c.from, c.edge);
});

test.run();
