// Hostile files for test/fuzz.test.ts, made at test time (the bombs are small: the ratios come from
// repeating one deflate block). Each is the kind of file issue 13 reproduced with the CLI: bombs,
// declared sizes far past any limit, pickles built to hang or overflow the stack.
import { zipSync } from 'fflate';
import { readFileSync } from 'node:fs';
import { constants, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { unzipSync } from 'fflate';
import { makeNifti } from './io/makeNifti.js';
import { pngChunk } from '../src/io/png.js';
import { concatBytes } from '../src/io/bytes.js';

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const u32be = (n: number) => Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
const u32le = (n: number) => Uint8Array.of(n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24);

export function concat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts);
}

/**
 * A raw deflate stream inflating to `mib` MiB of zeros, about 1 KiB per MiB: one sync-flushed block of
 * 1 MiB of zeros repeated, then a final empty block.
 */
export function zerosDeflateRaw(mib: number): Uint8Array {
  const block = deflateRawSync(new Uint8Array(2 ** 20), { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
  const out = new Uint8Array(block.length * mib + 2);
  for (let i = 0; i < mib; i++) out.set(block, i * block.length);
  out.set([0x03, 0x00], block.length * mib); // final fixed-Huffman block holding nothing
  return out;
}

/** A PNG: IHDR of this size (8-bit gray unless said), then IDAT holding `idat` (a zlib stream). */
export function png(width: number, height: number, idat: Uint8Array, opts: { interlace?: boolean } = {}): Uint8Array {
  const ihdr = concat(u32be(width), u32be(height), Uint8Array.of(8, 0, 0, 0, opts.interlace ? 1 : 0));
  return concat(
    Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', new Uint8Array(0)),
  );
}

/** zlib framing around a raw deflate stream (the Adler-32 is wrong: the reader must stop long before). */
export const zlibWrap = (raw: Uint8Array) => concat(Uint8Array.of(0x78, 0xda), raw, new Uint8Array(4));
/** gzip framing around a raw deflate stream (CRC wrong, size mod 2^32 of zeros). */
export const gzipWrap = (raw: Uint8Array) => concat(Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3), raw, new Uint8Array(8));

/** The 74-byte PNG declaring 60000 x 60000 (its data: one deflated byte). */
export const pngDeclaredHuge = () => png(60000, 60000, deflateSync(new Uint8Array(1)));

/** SOI, a baseline frame header of this size (3 components), EOI. */
export function jpegDeclared(width: number, height: number): Uint8Array {
  const sof = Uint8Array.of(0xff, 0xc0, 0, 17, 8, height >> 8, height & 255, width >> 8, width & 255, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1);
  return concat(Uint8Array.of(0xff, 0xd8), sof, Uint8Array.of(0xff, 0xd9));
}

/** A progressive JPEG (SOF2, 64 x 64 gray) followed by `scans` empty scans. */
export function jpegManyScans(scans: number): Uint8Array {
  const sof = Uint8Array.of(0xff, 0xc2, 0, 11, 8, 0, 64, 0, 64, 1, 1, 0x11, 0);
  const dht = Uint8Array.of(0xff, 0xc4, 0, 20, 0x00, 1, ...new Array(15).fill(0), 0);
  const sos = Uint8Array.of(0xff, 0xda, 0, 8, 1, 1, 0x00, 0, 0, 0);
  const out = new Uint8Array(2 + sof.length + dht.length + scans * sos.length + 2);
  out.set([0xff, 0xd8]);
  out.set(sof, 2);
  out.set(dht, 2 + sof.length);
  for (let i = 0; i < scans; i++) out.set(sos, 2 + sof.length + dht.length + i * sos.length);
  out.set([0xff, 0xd9], out.length - 2);
  return out;
}

/** A NIfTI-1 header (352 bytes with the extension flag) of these dims and datatype, without data. */
export function niftiHeader(dims: number[], datatype: 2 | 64 = 2): Uint8Array {
  const h = makeNifti({ dims: [1, 1, 1], datatype: 2, values: [0] }).slice(0, 352);
  const dv = new DataView(h.buffer);
  dv.setInt16(40, dims.length, true);
  dims.forEach((d, i) => dv.setInt16(40 + 2 * (i + 1), d, true));
  dv.setInt16(70, datatype, true);
  dv.setInt16(72, datatype === 2 ? 8 : 64, true);
  return h;
}

// ---------------------------------------------------------------------------------------------
// pickles, written opcode by opcode (protocol 2)

export class Pickle {
  private parts: Uint8Array[] = [Uint8Array.of(0x80, 2)];
  op(...b: number[]): this {
    this.parts.push(Uint8Array.from(b));
    return this;
  }
  raw(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.op(0x58).raw(u32le(b.length)).raw(b);
  }
  int(n: number): this {
    return this.op(0x4a).raw(u32le(n >>> 0));
  }
  global(module: string, name: string): this {
    return this.op(0x63).raw(ascii(`${module}\n${name}\n`));
  }
  mark(): this {
    return this.op(0x28);
  }
  tuple(): this {
    return this.op(0x74);
  }
  stop(): Uint8Array {
    this.op(0x2e);
    return concat(...this.parts);
  }
}

/** The legacy torch.save format: magic, protocol, sys_info, then `object` and the storage keys. */
export function legacyCheckpoint(object: Uint8Array, keys = new Pickle().op(0x5d).stop(), storages = new Uint8Array(0)): Uint8Array {
  const magic = new Pickle().op(0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19).stop();
  const protocol = new Pickle().op(0x4d, 0xe9, 0x03).stop();
  const sysInfo = new Pickle().op(0x7d).stop();
  return concat(magic, protocol, sysInfo, object, keys, storages);
}

/** A dict whose one key is `key` (pushed by the callback), value None. */
export const dictWithKey = (key: (p: Pickle) => Pickle) => key(new Pickle().op(0x7d)).op(0x4e, 0x73).stop();

/** ('a', 'a') doubled `levels` times through the memo: 2^levels leaves from a few hundred bytes. */
export const doubledTupleKey = (levels: number) =>
  dictWithKey((p) => {
    p.str('a').op(0x71, 0, 0x30);
    for (let i = 0; i < levels; i++) p.op(0x68, i, 0x68, i, 0x86, 0x71, i + 1, 0x30);
    return p.op(0x68, levels);
  });

/** A list that holds itself, as a key. */
export const cyclicKey = () => dictWithKey((p) => p.op(0x5d, 0x71, 0, 0x68, 0, 0x61));

/** A key nested `depth` tuples deep. */
export const deepKey = (depth: number) => dictWithKey((p) => p.op(0x4b, 0, ...new Array(depth).fill(0x85)));

/** One LONG4 integer of `bytes` bytes. */
export const long4 = (bytes: number) => new Pickle().op(0x8b).raw(u32le(bytes)).raw(new Uint8Array(bytes).fill(1)).stop();

/** A list filled by one APPENDS of `n` items. */
export const appends = (n: number) =>
  new Pickle()
    .op(0x5d, 0x28)
    .raw(new Uint8Array(2 * n).map((_, i) => (i % 2 === 0 ? 0x4b : 0)))
    .op(0x65)
    .stop();

/** A state_dict of `count` tensors, each a [rows, cols] view with stride [0, 1] of one storage of `cols` floats. */
export function manyViews(count: number, rows: number, cols: number): Uint8Array {
  const p = new Pickle().global('collections', 'OrderedDict').op(0x29, 0x52);
  for (let i = 0; i < count; i++) {
    p.str(`w${i}`).global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', 'FloatStorage').str('0').str('cpu').int(cols).tuple().op(0x51);
    p.int(0).mark().int(rows).int(cols).tuple().mark().int(0).int(1).tuple().op(0x89);
    p.global('collections', 'OrderedDict').op(0x29, 0x52).tuple().op(0x52, 0x73);
  }
  return p.stop();
}

/** A zip-format checkpoint: `archive/data.pkl` plus storages, stored (torch's way) or deflated. */
export function zipCheckpoint(pkl: Uint8Array, storages: Record<string, Uint8Array>, deflate = false): Uint8Array {
  const files: Record<string, [Uint8Array, { level: 0 | 9 }]> = { 'archive/data.pkl': [pkl, { level: 0 }] };
  for (const [k, v] of Object.entries(storages)) files[`archive/data/${k}`] = [v, { level: deflate ? 9 : 0 }];
  return zipSync(files);
}

/**
 * The repository's zip checkpoint with its storages deflated and each declaring `declared` bytes
 * inflated (central directory and local headers patched): a zip bomb by its size fields.
 */
export function zipBomb(declared: number): Uint8Array {
  const files = unzipSync(new Uint8Array(readFileSync('test/fixtures/checkpoints/unet_zip.pt')));
  const zip = zipSync(Object.fromEntries(Object.entries(files).map(([n, b]) => [n, [b, { level: n.includes('/data/') ? 9 : 0 }]])) as never);
  const dv = new DataView(zip.buffer);
  for (let i = 0; i + 46 < zip.length; i++) {
    const sig = dv.getUint32(i, true);
    const central = sig === 0x02014b50;
    if (!central && sig !== 0x04034b50) continue;
    const nameLen = dv.getUint16(i + (central ? 28 : 26), true);
    const name = new TextDecoder().decode(zip.subarray(i + (central ? 46 : 30), i + (central ? 46 : 30) + nameLen));
    if (name.includes('/data/') && dv.getUint16(i + (central ? 10 : 8), true) === 8) dv.setUint32(i + (central ? 24 : 22), declared, true);
  }
  return zip;
}

/** A safetensors file whose header is `header` (JSON text), no data. */
export function safetensorsHeader(header: string): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  return out;
}

export { gzipSync };
