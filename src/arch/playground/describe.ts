// describeModel without a device: the graph the smp / brain U-Net plug-in would build, over zero weights,
// gives the feature-map shapes of the diagram, the GFLOP the compiled plan counts (2 x multiply-adds of its
// convolutions) and the memory plan (the arena of activations, the scratch, the packed weights) at an input
// size. A loaded model's figures come out the same when its tuning and alignment are passed as context.
import { type Graph, GraphBuilder, type ValueId } from '../../ir/graph.js';
import type { Safetensors, TensorInfo } from '../../weights/safetensors.js';
import { optimize } from '../../compiler/passes/index.js';
import { layoutParams, packParams } from '../../compiler/params.js';
import { memoryPlanOf } from '../../compiler/plan.js';
import { DEFAULT_TUNING, type Tuning, tuningFor } from '../../compiler/tuning.js';
import { adapterOf } from '../../gpu/device.js';
import { inferShapes } from '../../ops/index.js';
import { buildUNet, unetParamsFrom, unetSizeMultiple } from '../brainUnet.js';
import { buildNnunetNetwork } from '../nnunet/network.js';
import { TensorReader } from '../reader.js';
import { encoderOf } from '../smp/encoders/index.js';
import { segmentationHead } from '../smp/head.js';
import { InputError } from '../../errors.js';
import { nnunetNetworkOf } from './nnunet.js';
import { checkOptions, isSmp } from './options.js';
import { type TensorSpec, countSpec, smpSettingsOf, stateDictSpec } from './spec.js';
import type { DescribeContext, DescribedStage, ModelDescription, ModelOptions } from './types.js';

/** WebGPU's default limits (https://www.w3.org/TR/webgpu/#limits): what describeModel assumes without a device */
const DEFAULT_ALIGNMENT = 256;
const DEFAULT_MAX_BINDING = 134217728;
const DEFAULT_MAX_BUFFER = 268435456;
/** largest H or W described: beyond it the arena is past any adapter's limits anyway */
const MAX_SIDE = 16384;

/** A safetensors stand-in holding zeros of the spec's shapes (the reader reads shapes, then asks for values). */
function zeroSafetensors(spec: readonly TensorSpec[], source: string): Safetensors {
  const tensors = new Map<string, TensorInfo>();
  for (const t of spec) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const dtype = t.init === 'count' ? 'I64' : 'F32';
    tensors.set(t.key, { name: t.key, dtype, shape: t.shape, byteOffset: 0, byteLength: n * (dtype === 'I64' ? 8 : 4) });
  }
  return { source, metadata: {}, tensors, bytes: new Uint8Array(0), getF32: (name) => new Float32Array(tensors.get(name)!.shape.reduce((a, b) => a * b, 1)) };
}

export interface BuiltGraph {
  graph: Graph;
  title: string;
  sizeMultiple: number;
  unused: string[];
  /** the diagram's boxes without shapes / parameters yet, and which graph value each one's output is */
  stages: (Omit<DescribedStage, 'shape' | 'parameters'> & { value: ValueId })[];
  /** node name -> the stage id it belongs to */
  stageOf: Map<string, string>;
}

/** The model's graph from a reader over its state_dict (the smp plug-in's steps, keeping the features). */
export function buildGraph(o: ModelOptions, r: TensorReader): BuiltGraph {
  const stages: BuiltGraph['stages'] = [];
  const stageOf = new Map<string, string>();
  const b = new GraphBuilder();
  const input = b.value('input', o.inChannels);
  stages.push({ id: 'input', kind: 'input', label: 'input', module: '', skips: [], level: 0, row: 0, value: input });
  /** gives every node built since `from` to stage `id` */
  const claim = (from: number, id: string) => {
    for (let i = from; i < b.nodes.length; i++) if (!stageOf.has(b.nodes[i].name)) stageOf.set(b.nodes[i].name, id);
  };
  if (o.architecture === 'nnunet-plain') return nnunetGraph(o, r, b, input, stages, stageOf);
  if (!isSmp(o)) {
    const p = unetParamsFrom(r);
    const g = buildUNet(p);
    const last = (prefix: string) => g.nodes.filter((n) => n.name.startsWith(prefix)).at(-1)!.output;
    const D = o.depth;
    for (const n of g.nodes) {
      const m = /^(?:encoder|pool)(\d+)|^(bottleneck)|^(?:upconv|cat|decoder)(\d+)/.exec(n.name);
      stageOf.set(n.name, m?.[1] ? `enc${m[1]}` : m?.[2] ? 'bottleneck' : m?.[3] ? `dec${m[3]}` : 'head');
    }
    for (let i = 1; i <= D; i++)
      stages.push({
        id: `enc${i}`,
        kind: 'encoder',
        label: `encoder${i}`,
        module: `encoder${i}`,
        from: i === 1 ? 'input' : `enc${i - 1}`,
        skips: [],
        level: i - 1,
        row: 0,
        value: last(`encoder${i}.`),
      });
    stages.push({
      id: 'bottleneck',
      kind: 'encoder',
      label: 'bottleneck',
      module: 'bottleneck',
      from: `enc${D}`,
      skips: [],
      level: D,
      row: 0,
      value: last('bottleneck.'),
    });
    for (let i = D; i >= 1; i--)
      stages.push({
        id: `dec${i}`,
        kind: 'decoder',
        label: `upconv${i} + decoder${i}`,
        module: `decoder${i}`,
        from: i === D ? 'bottleneck' : `dec${i + 1}`,
        skips: [`enc${i}`],
        level: i - 1,
        row: 0,
        value: last(`decoder${i}.`),
      });
    stages.push({ id: 'head', kind: 'head', label: 'conv 1x1 + sigmoid', module: 'conv', from: 'dec1', skips: [], level: 0, row: 0, value: g.output });
    r.finish('not the brain U-Net these options describe');
    return { graph: g, title: `brain U-Net init_features ${p.features}`, sizeMultiple: unetSizeMultiple(p), unused: [], stages, stageOf };
  }

  const s = smpSettingsOf(o);
  const enc = encoderOf(o.encoder);
  const features = enc.build(b, r, input, o.encoder, o.depth, 'encoder.');
  // encoder stage i: the nodes up to the one producing feature i
  let from = 0;
  for (let i = 1; i <= o.depth; i++) {
    const end = b.nodes.findIndex((n) => n.output === features[i]);
    const modules = moduleNames(b.nodes.slice(from, end + 1).map((n) => n.name));
    for (let j = from; j <= end; j++) stageOf.set(b.nodes[j].name, `enc${i}`);
    stages.push({
      id: `enc${i}`,
      kind: 'encoder',
      label: `encoder stage ${i}`,
      module: modules,
      from: i === 1 ? 'input' : `enc${i - 1}`,
      skips: [],
      level: i,
      row: 0,
      value: features[i],
    });
    from = end + 1;
  }
  const decoderStart = b.nodes.length;
  const x = s.decoder.build(b, r, features, s);
  const blocks: string[] = [];
  for (let i = decoderStart; i < b.nodes.length; i++) {
    const m = /^decoder\.blocks\.([^.]+)\./.exec(b.nodes[i].name);
    if (m && !blocks.includes(m[1])) blocks.push(m[1]);
    if (m) stageOf.set(b.nodes[i].name, o.architecture === 'Unet' ? `dec${m[1]}` : m[1]);
  }
  const D = o.depth;
  const encId = (i: number) => (i === 0 ? 'input' : `enc${i}`);
  for (const blk of blocks) {
    const value = b.nodes.filter((n) => n.name.startsWith(`decoder.blocks.${blk}.`)).at(-1)!.output;
    const base = { kind: 'decoder' as const, module: `decoder.blocks.${blk}`, value };
    if (o.architecture === 'Unet') {
      const i = Number(blk);
      stages.push({
        ...base,
        id: `dec${i}`,
        label: `decoder block ${i}`,
        from: i === 0 ? encId(D) : `dec${i - 1}`,
        skips: i < D - 1 ? [encId(D - 1 - i)] : [],
        level: D - 1 - i,
        row: 0,
      });
    } else {
      // x_d_l: f[k] is feature depth - k
      const [d, l] = blk.slice(2).split('_').map(Number);
      const lastBlock = d === 0 && l === D - 1;
      const column = Array.from({ length: l - d }, (_, k) => `x_${d + 1 + k}_${l}`);
      stages.push({
        ...base,
        id: blk,
        label: blk,
        from: l === d && !lastBlock ? encId(D - d) : `x_${d}_${l - 1}`,
        skips: lastBlock ? [] : [...column, encId(D - (l + 1))],
        level: D - 1 - l,
        row: d,
      });
    }
  }
  const headStart = b.nodes.length;
  const y = segmentationHead(b, r, x, o.classes, o.activation);
  claim(headStart, 'head');
  const lastDecoder = stages.at(-1)!.id;
  stages.push({
    id: 'head',
    kind: 'head',
    label: `segmentation head${o.activation === 'identity' ? '' : ` + ${o.activation}`}`,
    module: 'segmentation_head',
    from: lastDecoder,
    skips: [],
    level: 0,
    row: 0,
    value: y,
  });
  r.finish(`not the smp ${o.architecture} these options describe`);
  const variant = `${o.encoder}, decoder ${o.decoderChannels.join(',')}${o.attention === 'scse' ? ' scse' : ''}`;
  return {
    graph: b.finish(input, y),
    title: `smp ${o.architecture} ${variant}`,
    sizeMultiple: s.decoder.sizeMultiple(o.depth),
    unused: enc.unused(o.encoder, o.depth, 'encoder.'),
    stages,
    stageOf,
  };
}

/** nnU-Net's PlainConvUNet: encoder stage s (encoder.stages.s, at 1/2^s), decoder stage i (its transposed conv,
 *  the concat with the skip of encoder stage n-2-i, its convs), the last seg layer. */
function nnunetGraph(
  o: ModelOptions,
  r: TensorReader,
  b: GraphBuilder,
  input: ValueId,
  stages: BuiltGraph['stages'],
  stageOf: Map<string, string>,
): BuiltGraph {
  const net = nnunetNetworkOf(o);
  const n = net.nStages;
  const y = buildNnunetNetwork(b, r, net, input);
  for (const node of b.nodes) {
    const m = /^encoder\.stages\.(\d+)\.|^decoder\.(?:stages|transpconvs|cat)\.(\d+)/.exec(node.name);
    stageOf.set(node.name, m?.[1] !== undefined ? `enc${m[1]}` : m?.[2] !== undefined ? `dec${m[2]}` : 'head');
  }
  const lastOf = (id: string) => b.nodes.filter((node) => stageOf.get(node.name) === id).at(-1)!.output;
  for (let s = 0; s < n; s++)
    stages.push({
      id: `enc${s}`,
      kind: 'encoder',
      label: `encoder stage ${s}`,
      module: `encoder.stages.${s}`,
      from: s === 0 ? 'input' : `enc${s - 1}`,
      skips: [],
      level: s,
      row: 0,
      value: lastOf(`enc${s}`),
    });
  for (let i = 0; i < n - 1; i++)
    stages.push({
      id: `dec${i}`,
      kind: 'decoder',
      label: `decoder stage ${i}`,
      module: `decoder.stages.${i}`,
      from: i === 0 ? `enc${n - 1}` : `dec${i - 1}`,
      skips: [`enc${n - 2 - i}`],
      level: n - 2 - i,
      row: 0,
      value: lastOf(`dec${i}`),
    });
  stages.push({
    id: 'head',
    kind: 'head',
    label: 'seg layer (logits)',
    module: `decoder.seg_layers.${n - 2}`,
    from: `dec${n - 2}`,
    skips: [],
    level: 0,
    row: 0,
    value: y,
  });
  r.finish('not the nnU-Net PlainConvUNet these options describe');
  const norm = o.decoderNorm === 'batchnorm' ? 'BatchNorm' : 'InstanceNorm';
  return {
    graph: b.finish(input, y),
    title: `nnU-Net PlainConvUNet 2D, ${n} stages ${o.decoderChannels.join(',')}, ${norm}`,
    sizeMultiple: 2 ** (n - 1),
    // dna always builds the deep-supervision heads; inference runs only the last
    unused: Array.from({ length: n - 2 }, (_, j) => `decoder.seg_layers.${j}.*`),
    stages,
    stageOf,
  };
}

/** 'conv1, bn1' / 'layer1' / '_blocks.3-4' for the encoder nodes of one stage */
function moduleNames(nodes: string[]): string {
  const groups: string[] = [];
  const ranges = new Map<string, [number, number]>();
  for (const n of nodes) {
    const parts = n.slice('encoder.'.length).split('.');
    if (parts.length > 1 && /^\d+$/.test(parts[1]) && !/^layer/.test(parts[0])) {
      const r = ranges.get(parts[0]);
      const i = Number(parts[1]);
      if (!r) {
        ranges.set(parts[0], [i, i]);
        groups.push(parts[0]);
      } else r[1] = Math.max(r[1], i);
    } else if (!groups.includes(parts[0])) groups.push(parts[0]);
  }
  return groups
    .filter((g) => !/relu|swish|maxpool|add|skip/.test(g) || ranges.has(g))
    .map((g) => {
      const r = ranges.get(g);
      return r ? `encoder.${g}.${r[0] === r[1] ? r[0] : `${r[0]}-${r[1]}`}` : `encoder.${g}`;
    })
    .join(', ');
}

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** 2 x multiply-adds of the graph's convolutions, as the compiled plan's steps count them */
function flopsOf(g: Graph, shapes: Map<ValueId, number[]>): number {
  let flops = 0;
  for (const n of g.nodes) {
    const op = n.op;
    if (op.kind === 'conv2d') {
      const out = shapes.get(n.output)!;
      const [cout, cinPerGroup, kh, kw] = op.params.shape;
      flops += 2 * out[0] * out[2] * out[3] * cout * cinPerGroup * kh * kw;
    } else if (op.kind === 'convTransposeStrided') {
      // nnU-Net's up-sampling: kernel = stride, so every input pixel meets each kernel tap once
      const inp = shapes.get(n.inputs[0])!;
      flops += 2 * numel(inp.slice(2)) * inp[0] * numel(op.params.shape);
    } else if (op.kind === 'convTranspose2x2') {
      const inp = shapes.get(n.inputs[0])!;
      const [cin, cout, kh, kw] = op.params.shape;
      flops += 2 * inp[0] * inp[2] * inp[3] * kh * kw * cout * cin;
    }
  }
  return flops;
}

/** What describeOptions computes once per model (and device context), whatever the input size. */
interface Prepared {
  counts: { parameters: number; buffers: number };
  groups: { encoder: number; decoder: number; head: number };
  built: BuiltGraph;
  perStage: Map<string, number>;
  optimized: Graph;
  tuning: Tuning;
  alignment: number;
  f16: boolean;
  weightsBytes: number;
}

/** The last model prepared: the page asks for one model at several sizes in a row (its graph holds zeros of
 *  every weight, so only one is kept). */
let last: { key: string; prepared: Prepared } | undefined;

function prepare(o: ModelOptions, ctx: DescribeContext): Prepared {
  const f16 = ctx.precision === 'f16';
  const limits = ctx.device?.limits;
  const tuning = ctx.tuning ?? (ctx.device ? tuningFor(ctx.device, adapterOf(ctx.device)) : DEFAULT_TUNING);
  const alignment = ctx.alignment ?? limits?.minStorageBufferOffsetAlignment ?? DEFAULT_ALIGNMENT;
  const maxBinding = ctx.maxBindingBytes ?? limits?.maxStorageBufferBindingSize ?? DEFAULT_MAX_BINDING;
  const maxBuffer = ctx.maxBufferBytes ?? limits?.maxBufferSize ?? DEFAULT_MAX_BUFFER;
  const key = JSON.stringify([o, tuning, f16, alignment, maxBinding, maxBuffer]);
  if (last?.key === key) return last.prepared;

  const spec = stateDictSpec(o);
  const counts = countSpec(spec);
  const groups = { encoder: 0, decoder: 0, head: 0 };
  for (const t of spec) if (t.init !== 'count' && !/running_(mean|var)$/.test(t.key)) groups[t.part] += numel(t.shape);
  const built = buildGraph(o, new TensorReader(zeroSafetensors(spec, `${o.architecture} ${o.encoder}`)));
  // parameters of each stage: its nodes' tensors (a node is named after its module)
  const perStage = new Map<string, number>();
  for (const t of spec) {
    if (t.init === 'count' || /running_(mean|var)$/.test(t.key)) continue;
    const id = built.stageOf.get(t.key.slice(0, t.key.lastIndexOf('.')));
    if (id) perStage.set(id, (perStage.get(id) ?? 0) + numel(t.shape));
  }
  const optimized = optimize(built.graph);
  const { sizes } = layoutParams(packParams(optimized, tuning, f16), alignment, Math.floor(Math.min(maxBinding, maxBuffer) / alignment) * alignment);
  const weightsBytes = sizes.reduce((a, s) => a + Math.max(s, 4), 0);
  const prepared = { counts, groups, built, perStage, optimized, tuning, alignment, f16, weightsBytes };
  last = { key, prepared };
  return prepared;
}

export function describeOptions(o: ModelOptions, input: [number, number], ctx: DescribeContext = {}): ModelDescription {
  const problems = checkOptions(o);
  if (problems.length) throw new InputError(`model options: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
  if (!Array.isArray(input) || input.length !== 2 || !input.every((v) => Number.isInteger(v) && v >= 1 && v <= MAX_SIDE))
    throw new InputError(`describeModel: input must be [H, W], integers from 1 to ${MAX_SIDE}, found ${JSON.stringify(input)}`);
  const { counts, groups, built, perStage, optimized, tuning, alignment, f16, weightsBytes } = prepare(o, ctx);
  const m = built.sizeMultiple;
  const padded: [number, number] = [Math.ceil(input[0] / m) * m, Math.ceil(input[1] / m) * m];
  const runShape = [1, o.inChannels, padded[0], padded[1]];
  const shapes = inferShapes(built.graph, runShape);
  const stages: DescribedStage[] = built.stages.map(({ value, ...st }) => {
    const s = shapes.get(value)!;
    return { ...st, shape: [s[0], s[1], s[2], s[3]], parameters: perStage.get(st.id) ?? 0 };
  });
  const { shapes: runShapes, memory } = memoryPlanOf(optimized, runShape, alignment, f16, tuning);
  const gflop = flopsOf(optimized, runShapes) / 1e9;
  const out = runShapes.get(optimized.output)!;
  const inputBytes = 4 * o.inChannels * input[0] * input[1];
  const outputBytes = 4 * out[1] * input[0] * input[1];
  const scratchBytes = memory.scratchBytes ?? 0;
  const activationsBytes = memory.arenaBytes - scratchBytes;

  const fmtShape = (s: readonly number[]) => s.join('×');
  const byId = new Map(stages.map((s) => [s.id, s]));
  const text = [
    `${built.title}: ${counts.parameters.toLocaleString('en-US')} parameters, ${counts.buffers.toLocaleString('en-US')} buffer elements, ${gflop.toFixed(2)} GFLOP at ${input[0]}×${input[1]}`,
    ...stages.map((s) => {
      const inputs = [s.from ? byId.get(s.from)?.label : undefined, ...s.skips.map((k) => `skip from ${byId.get(k)?.label}`)].filter(Boolean).join(', ');
      return `${s.label}${s.module && s.kind === 'encoder' && s.module !== s.label ? ` (${s.module})` : ''}: ${fmtShape(s.shape)}${inputs ? `, from ${inputs}` : ''}${s.parameters ? `, ${s.parameters.toLocaleString('en-US')} parameters` : ''}`;
    }),
  ].join('\n');
  return {
    options: { ...o, decoderChannels: [...o.decoderChannels] },
    title: built.title,
    input: [input[0], input[1]],
    padded,
    sizeMultiple: m,
    parameters: counts.parameters,
    buffers: counts.buffers,
    parameterGroups: groups,
    gflop,
    memory: {
      weightsBytes,
      activationsBytes,
      scratchBytes,
      inputBytes,
      outputBytes,
      totalBytes: weightsBytes + memory.arenaBytes + inputBytes + 2 * outputBytes,
    },
    stages,
    unused: built.unused,
    text,
  };
}
