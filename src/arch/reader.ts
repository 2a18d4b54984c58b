// Reads an architecture's tensors out of a state_dict, recording which keys it used, so that missing,
// mis-shaped and unexpected tensors are all reported together, in one error, once the architecture has
// asked for everything it needs (finish()).
import { SafetensorsError, type DType, type Safetensors } from '../weights/safetensors.js';
import type { BatchNormParams, ConvParams } from '../ir/params.js';
import { quoted } from '../limits.js';

const FLOAT_DTYPES: ReadonlySet<DType> = new Set<DType>(['F32', 'F16', 'BF16', 'F64']);
/** Problems listed in one error before "and N more". */
const MAX_LISTED = 20;

const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;
const q = (s: string) => quoted(s, 200);

export class TensorReader {
  private readonly used = new Set<string>();
  private readonly problems: string[] = [];
  /** the tensors handed out, by name, for nonFiniteWarning() */
  private readonly read: [string, Float32Array][] = [];
  /** keys without the prefix every key shares (nn.DataParallel saves "module.<key>") */
  readonly keys: string[];
  readonly prefix: string;

  constructor(readonly st: Safetensors) {
    const all = [...st.tensors.keys()];
    this.prefix = all.length > 0 && all.every((k) => k.startsWith('module.')) ? 'module.' : '';
    this.keys = all.map((k) => k.slice(this.prefix.length));
  }

  get source(): string {
    return this.st.source;
  }

  has(name: string): boolean {
    return this.st.tensors.has(this.prefix + name);
  }

  /** The stored shape of a tensor, or undefined (does not mark it used). */
  shape(name: string): readonly number[] | undefined {
    return this.st.tensors.get(this.prefix + name)?.shape;
  }

  /** A float tensor of exactly `shape`, as f32; a problem is recorded (and zeros returned) when it is
   *  missing, mis-shaped or not a float dtype. */
  tensor(name: string, shape: readonly number[]): Float32Array {
    const t = this.st.tensors.get(this.prefix + name);
    const n = shape.reduce((a, b) => a * b, 1);
    // Settings inferred from one tensor (or read from a config) can ask for a shape no file this size
    // holds, 2 bytes an element at the least: say so now, before zeros of that size are allocated.
    if (!(2 * n <= this.st.bytes.length) && !(t && t.shape.length === shape.length && t.shape.every((d, j) => d === shape[j]))) {
      throw new SafetensorsError(
        `${this.st.source}: ${q(name)} would have shape ${fmtShape(shape)}, more than this ${this.st.bytes.length}-byte file can hold: the settings it follows from are not this file's`,
      );
    }
    if (!t) {
      this.problems.push(`missing ${q(name)} ${fmtShape(shape)}`);
      return new Float32Array(n);
    }
    this.used.add(name);
    if (t.shape.length !== shape.length || t.shape.some((d, j) => d !== shape[j])) {
      this.problems.push(`${q(name)} has shape ${fmtShape(t.shape)}, expected ${fmtShape(shape)}`);
      return new Float32Array(n);
    }
    if (!FLOAT_DTYPES.has(t.dtype)) {
      this.problems.push(`${q(name)} is ${t.dtype}, expected a float dtype (F32, F16, BF16 or F64)`);
      return new Float32Array(n);
    }
    const a = this.st.getF32(this.prefix + name);
    this.read.push([name, a]);
    return a;
  }

  /** Marks keys as known but unused (e.g. BatchNorm's num_batches_tracked, layers past the depth). */
  skip(match: (key: string) => boolean): void {
    for (const k of this.keys) if (match(k)) this.used.add(k);
  }

  problem(text: string): void {
    this.problems.push(text);
  }

  /** Conv2d `name` with weight [cout, cin/groups, k, k] (a ConvTranspose2d's is [cin, cout, k, k]: pass
   *  its bias length, shape[1]). */
  conv(name: string, shape: [number, number, number, number], bias: boolean, biasLength = shape[0]): ConvParams {
    const p: ConvParams = { weight: this.tensor(`${name}.weight`, shape), shape };
    if (bias) p.bias = this.tensor(`${name}.bias`, [biasLength]);
    return p;
  }

  /** BatchNorm2d `name` of `channels` (its num_batches_tracked, never read in eval mode, is accepted). */
  batchNorm(name: string, channels: number, eps: number): BatchNormParams {
    this.skip((k) => k === `${name}.num_batches_tracked`);
    // read in state_dict order, so problems are listed as PyTorch lists the keys
    const p = {
      weight: this.tensor(`${name}.weight`, [channels]),
      bias: this.tensor(`${name}.bias`, [channels]),
      runningMean: this.tensor(`${name}.running_mean`, [channels]),
      runningVar: this.tensor(`${name}.running_var`, [channels]),
      eps,
    };
    // a variance is a mean of squares: a negative one is a corrupt file, and sqrt(var + eps) would be NaN
    // for every pixel of that channel
    const negative = p.runningVar.findIndex((v) => v < 0);
    if (negative >= 0) this.problems.push(`${q(`${name}.running_var`)} holds a negative variance (${p.runningVar[negative]} at index ${negative})`);
    return p;
  }

  /** Throws one error listing every problem and every key nobody asked for. */
  finish(header: string): void {
    const problems = [...this.problems];
    for (const k of this.keys) if (!this.used.has(k)) problems.push(`unexpected ${q(this.prefix + k)}`);
    if (problems.length === 0) return;
    const n = problems.length;
    const listed = problems.slice(0, MAX_LISTED).map((p) => `  - ${p}`);
    if (n > MAX_LISTED) listed.push(`  ... and ${n - MAX_LISTED} more`);
    throw new SafetensorsError(`${this.st.source}: ${header} (${n} problem${n === 1 ? '' : 's'}):\n${listed.join('\n')}`);
  }

  /**
   * NaN / Inf in the weights, as one line (undefined when every value is finite). Not an error: such a
   * file loads, but its outputs are likely NaN where those weights reach.
   */
  nonFiniteWarning(): string | undefined {
    const source = this.st.source;
    const bad: string[] = [];
    let tensors = 0;
    for (const [name, a] of this.read) {
      let nan = 0;
      let inf = 0;
      let first = -1;
      for (let i = 0; i < a.length; i++) {
        const v = a[i];
        if (v - v !== 0) {
          if (Number.isNaN(v)) nan++;
          else inf++;
          if (first < 0) first = i;
        }
      }
      if (nan + inf === 0) continue;
      tensors++;
      if (bad.length < 4) {
        const what = [nan ? `${nan} NaN` : '', inf ? `${inf} Inf` : ''].filter(Boolean).join(' and ');
        bad.push(`${q(name)} has ${what} (first at index ${first})`);
      }
    }
    if (tensors === 0) return undefined;
    const more = tensors > bad.length ? `, and ${tensors - bad.length} more tensor${tensors - bad.length === 1 ? '' : 's'}` : '';
    return `${source}: weights hold NaN or Inf values: ${bad.join('; ')}${more}; outputs may be NaN`;
  }
}
