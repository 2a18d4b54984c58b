// What a kernel binds, declared once. The WGSL declarations (`@group(0) @binding(i) var<...> name: ...`),
// the bind group layout and the bind group entries are all generated from one list, so binding numbers are
// never written by hand and a buffer is bound by its name, not by its position in an argument list
// (tfjs-backend-webgpu's WebGPUProgram declares `variableNames` and `uniforms` for the same reason).
import type { BufferRange, ShapeUniforms } from './common.js';

/**
 * One storage buffer of a kernel: a runtime-sized array `name: array<type>`.
 * `access` is what WGSL is told. Activations a kernel only reads are still declared read_write
 * (ACTIVATION_ACCESS in common.ts); `activation()` declares them so and says why in the WGSL.
 */
export interface StorageBinding<N extends string = string> {
  /** what it holds (input, weight, bias, output, ...): the WGSL variable and the key of the step's buffers */
  name: N;
  /** element type of the array: one of ELEMENT_TYPES */
  type: ElementType;
  access: 'read' | 'read_write';
  /** comment lines above the declaration: the layout of what it holds */
  doc?: string;
  /** comment after the declaration, on the same line */
  note?: string;
}

/** Element types the kernels bind, with their byte size in f32 and in f16 storage (see storageAliases). */
const ELEMENT_BYTES = {
  f32: [4, 4],
  'vec4<f32>': [16, 16],
  Act: [16, 8],
  WMat: [64, 32],
  WCol: [16, 8],
} as const;
export type ElementType = keyof typeof ELEMENT_BYTES;

const READ_ONLY_ACTIVATION = 'read only; read_write: see ACTIVATION_ACCESS (common.ts)';

/** An activation the kernel reads (declared read_write: ACTIVATION_ACCESS in common.ts). */
export const activation = <N extends string>(name: N, doc?: string, type: ElementType = 'Act'): StorageBinding<N> => ({
  name,
  type,
  access: 'read_write',
  doc,
  note: READ_ONLY_ACTIVATION,
});

/** A buffer the kernel writes (and may read). */
export const written = <N extends string>(name: N, doc?: string, type: ElementType = 'Act'): StorageBinding<N> => ({ name, type, access: 'read_write', doc });

/** A parameter buffer the kernel only reads (weights, bias: never in the activation arena). */
export const param = <N extends string>(name: N, type: ElementType, doc?: string): StorageBinding<N> => ({ name, type, access: 'read', doc });

/**
 * The bindings of one kernel: storage buffers at 0, 1, ... in the order given, then the shape uniform
 * (when the kernel has one) under the name `shape`. An optional buffer (a residual) is declared or left
 * out of the list by the kernel's spec; the numbers of the others follow from the list.
 */
export class KernelBindings<N extends string, F extends string = never> {
  readonly storage: readonly StorageBinding<N>[];

  constructor(
    /** the kernel's name, in every error */
    readonly kernel: string,
    storage: readonly (StorageBinding<N> | false | undefined)[],
    readonly shape?: ShapeUniforms<F>,
    /** activations and weights stored as f16 (element sizes of Act, WMat, WCol) */
    readonly f16 = false,
  ) {
    this.storage = storage.filter((b): b is StorageBinding<N> => !!b);
    const names = this.storage.map((b) => b.name as string);
    for (const [i, n] of names.entries()) {
      if (names.indexOf(n) !== i || n === 'shape') throw new Error(`${kernel}: binding "${n}" is declared twice`);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(n)) throw new Error(`${kernel}: binding name "${n}" is not a WGSL identifier`);
    }
  }

  /** The WGSL declarations: every storage buffer, then the Shape struct and its uniform. */
  wgsl(): string {
    const lines = this.storage.map((b, i) => {
      const doc = b.doc
        ? b.doc
            .split('\n')
            .map((l) => `// ${l}\n`)
            .join('')
        : '';
      return `${doc}@group(0) @binding(${i}) var<storage, ${b.access}> ${b.name}: array<${b.type}>;${b.note ? ` // ${b.note}` : ''}`;
    });
    if (this.shape)
      lines.push(`${this.shape.struct()}\n// sizes of this dispatch (ShapeUniforms)\n@group(0) @binding(${this.shapeBinding}) var<uniform> shape: Shape;`);
    return lines.join('\n');
  }

  /** The bind group layout these declarations need (the same whatever the WGSL does with them). */
  layoutEntries(): GPUBindGroupLayoutEntry[] {
    const entries: GPUBindGroupLayoutEntry[] = this.storage.map((b, binding) => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
    }));
    if (this.shape) entries.push({ binding: this.shapeBinding, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
    return entries;
  }

  /** Bytes of one element of `b`'s array. */
  elementBytes(b: StorageBinding): number {
    return ELEMENT_BYTES[b.type][this.f16 ? 1 : 0];
  }

  /**
   * The bind group entries of the storage buffers, by name (the shape uniform, when declared, follows at
   * `shapeBinding`). A declared buffer missing, a buffer given that is not declared, or a range past its
   * buffer or smaller than one element is an error naming `who` (the step; default the kernel) and the binding.
   */
  entries(buffers: Partial<Record<N, BufferRange>>, who = this.kernel): GPUBindGroupEntry[] {
    const declared = this.storage.map((b) => b.name as string);
    for (const k of Object.keys(buffers)) {
      if (buffers[k as N] !== undefined && !declared.includes(k))
        throw new Error(`${who}: buffer "${k}" is given but not declared (the kernel binds ${declared.join(', ')})`);
    }
    return this.storage.map((b, binding) => {
      const r = buffers[b.name];
      if (!r) throw new Error(`${who}: binding "${b.name}" is declared but no buffer was given`);
      const offset = r.offset ?? 0;
      const size = r.size ?? r.buffer.size - offset;
      if (offset + size > r.buffer.size)
        throw new Error(`${who}: binding "${b.name}": bytes ${offset}..${offset + size} run past its ${r.buffer.size}-byte buffer`);
      const unit = this.elementBytes(b);
      if (size < unit) throw new Error(`${who}: binding "${b.name}" gets ${size} bytes, less than one ${b.type} (${unit} bytes)`);
      return { binding, resource: { buffer: r.buffer, offset, size: r.size } };
    });
  }

  /** The binding number of the shape uniform (after the storage buffers). */
  get shapeBinding(): number {
    return this.storage.length;
  }

  /** Checks shape uniform values against the declaration: given exactly when declared, one u32 a field. */
  checkShape(data: Uint32Array | undefined, who = this.kernel): void {
    if (!this.shape) {
      if (data) throw new Error(`${who}: shape uniforms are given but the kernel declares none`);
      return;
    }
    if (!data) throw new Error(`${who}: binding "shape" is declared but no shape uniforms were given`);
    const want = this.shape.fields.length * 4;
    if (data.byteLength !== want) throw new Error(`${who}: binding "shape" gets ${data.byteLength} bytes, its struct holds ${want}`);
  }
}
