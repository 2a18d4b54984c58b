// tools/export_onnx.py: the ONNX model bench/peers.ts gives ONNX Runtime must compute what PyTorch
// computes, at other batch sizes and H x W than the trace's (dynamic N, H, W). Needs PyTorch at
// /usr/bin/python3 and onnxruntime-node (a devDependency); without either it says why and skips.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TorchPeer } from '../../src/cli/torchPeer.js';
import { compare } from '../../src/cli/benchTime.js';
import { randomUNetSafetensors } from '../../src/arch/random.js';
import { type Ort, type OrtSession, loadOrt, ortRun, ortSession } from '../../bench/ort.js';
import { skip } from '../skip.js';

const BOUND = 1e-4; // on the sigmoid output, f32 everywhere
const SHAPES = [
  [2, 3, 32, 48],
  [1, 3, 64, 64],
];

const ort = await loadOrt();
const why = typeof ort === 'string' ? ort : TorchPeer.unavailable();

/** A smooth input of `shape` with a little high-frequency texture. */
const input = (shape: number[], seed: number) => ({
  shape,
  data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, k) => Math.sin(k * 0.013 + seed) + 0.1 * Math.cos(k * 0.7)),
});
const inputs = Object.fromEntries(SHAPES.map((s, i) => [`input_${i}`, input(s, i)]));

const Export = suite<{ dir: string; onnx: string; reference: Map<string, Float32Array> }>('tools/export_onnx.py');

if (why) {
  Export('ONNX export vs PyTorch', () => skip(why));
} else {
  Export.before(async (ctx) => {
    ctx.dir = mkdtempSync(join(tmpdir(), 'unet-onnx-test-'));
    const weights = randomUNetSafetensors({ features: 4, seed: 3 });
    writeFileSync(join(ctx.dir, 'w.safetensors'), weights);
    ctx.onnx = join(ctx.dir, 'unet.onnx');
    execFileSync('/usr/bin/python3', ['tools/export_onnx.py', '--weights', join(ctx.dir, 'w.safetensors'), '--out', ctx.onnx, '--size', '32'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const torch = await TorchPeer.start({ weights, reference: { option: '--weights', config: false }, inputs, threads: 2 });
    ctx.reference = new Map(SHAPES.map((_, i) => [`${i}`, torch.outputs.getF32(`output_${i}`)]));
    torch.close();
  });
  Export.after((ctx) => rmSync(ctx.dir, { recursive: true, force: true }));

  for (const ep of ['cpu', 'webgpu']) {
    Export(
      `ORT ${ep} EP on the exported model, shapes ${SHAPES.map((s) => `[${s}]`).join(' ')} (traced at [1,3,32,32]): max |Δ| vs PyTorch <= ${BOUND}`,
      async (ctx) => {
        let session: OrtSession;
        try {
          session = await ortSession(ort as Ort, ctx.onnx, ep);
        } catch (e) {
          if (ep === 'cpu') throw e;
          return skip(`${(e as Error).message} (no adapter for ORT's own Dawn)`);
        }
        for (const [i, s] of SHAPES.entries()) {
          const y = await ortRun(ort as Ort, session, inputs[`input_${i}`]);
          assert.equal([...y.dims], [s[0], 1, s[2], s[3]], `output shape for [${s}]`);
          const { maxAbs } = compare(y.data, ctx.reference.get(`${i}`)!);
          console.log(`  ${ep} [${s}]: max |Δ| ${maxAbs.toExponential(1)}`);
          assert.ok(maxAbs <= BOUND, `[${s}]: max |ORT - PyTorch| = ${maxAbs} > ${BOUND}`);
        }
        await session.release();
      },
    );
  }
}

Export.run();
