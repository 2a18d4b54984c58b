// Runs inside the test page. Bundled by the test with the engine left external, so the page loads the
// real browser bundle dist/webgpu-unet.js (what a user of the package gets).
import * as unet from '../../src/index.js';

async function bytes(url: string): Promise<ArrayBuffer> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

export interface FixtureResult {
  maxAbs: number;
  worst: number;
  got: number;
  want: number;
  shape: number[];
  /** the first model.run, compile included, and a second one, in ms */
  firstMs: number;
  secondMs: number;
  featureLevel: string;
  adapter: string;
}

/** One PyTorch fixture (test/fixtures/NAME.*.safetensors) through the bundle: max |gpu - torch|. */
async function runFixture(name: string, featureLevel: 'core' | 'compatibility'): Promise<FixtureResult> {
  const device = await unet.getDevice({ featureLevel });
  try {
    const [w, io] = await Promise.all([bytes(`/fixtures/${name}.weights.safetensors`), bytes(`/fixtures/${name}.io.safetensors`)]);
    const model = await unet.loadModel(device, w);
    const st = unet.parseSafetensors(io, `${name}.io.safetensors`);
    const input = { data: st.getF32('input'), shape: st.tensors.get('input')!.shape };
    const want = st.getF32('output');
    let t0 = performance.now();
    const y = await model.run(input);
    const firstMs = performance.now() - t0;
    t0 = performance.now();
    await model.run(input);
    const secondMs = performance.now() - t0;
    if (y.data.length !== want.length) throw new Error(`${name}: output has ${y.data.length} values, torch ${want.length}`);
    let maxAbs = 0;
    let worst = 0;
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(y.data[i] - want[i]);
      if (!(d <= maxAbs)) {
        maxAbs = d;
        worst = i;
      }
    }
    model.dispose();
    const a = unet.describeDevice(device);
    return {
      maxAbs,
      worst,
      got: y.data[worst],
      want: want[worst],
      shape: [...y.shape],
      firstMs,
      secondMs,
      featureLevel: a.features.includes('core-features-and-limits') ? 'core' : 'compatibility',
      adapter: [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || '(unnamed)',
    };
  } finally {
    device.destroy();
  }
}

(globalThis as unknown as { harness: unknown }).harness = { runFixture };
