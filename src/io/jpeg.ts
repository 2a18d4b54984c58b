// JPEG decoding that gives libjpeg-turbo's pixels (PIL, OpenCV, Chromium), so a mask made in Node matches
// one made from the same file in PyTorch or in the browser. This file reads the markers and the Huffman-coded
// scans (baseline and extended sequential, progressive with spectral selection and successive approximation,
// restart intervals) into DCT coefficients; src/io/jpegSamples.ts turns those into pixels with
// libjpeg-turbo's arithmetic. 8-bit gray (1 component) and YCbCr / RGB (3) only; arithmetic coding,
// lossless, hierarchical, 12-bit and CMYK files are refused by name.
// Spec: ITU-T T.81 (https://www.w3.org/Graphics/JPEG/itu-t81.pdf); behaviour: libjpeg-turbo jdhuff.c,
// jdphuff.c, jdmarker.c, jdinput.c. Browser-safe: no Node imports.
import { ImageError } from '../errors.js';
import { exceeds, formatCount, type Limits } from '../limits.js';
import type { Image } from './image.js';
import { idctIslow, upsampleRow, yccToRgbRow, type SamplePlane } from './jpegSamples.js';

/** zigzag position -> natural (row-major) position in the 8x8 block */
const NATURAL_ORDER = Uint8Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22,
  15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

/** DCT coefficients allowed per pixel of maxPixels (see readFrame). */
const COEFS_PER_PIXEL = 4;

/** T.81 limits a scan's MCU to 10 blocks (libjpeg's D_MAX_BLOCKS_IN_MCU). */
const MAX_BLOCKS_IN_MCU = 10;

const SOF_UNSUPPORTED = new Map<number, string>([
  [0xc3, 'lossless coding'],
  [0xc5, 'hierarchical coding'],
  [0xc6, 'hierarchical progressive coding'],
  [0xc7, 'hierarchical lossless coding'],
  [0xc9, 'arithmetic coding'],
  [0xca, 'arithmetic-coded progressive coding'],
  [0xcb, 'arithmetic-coded lossless coding'],
  [0xcd, 'arithmetic-coded hierarchical coding'],
  [0xce, 'arithmetic-coded hierarchical progressive coding'],
  [0xcf, 'arithmetic-coded hierarchical lossless coding'],
]);

interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  /** the quantizer latched at the component's first scan (jdinput.c latch_quant_tables) */
  quant?: Uint16Array;
  /** blocks a row / column of the coefficient array holds: whole MCUs */
  blocksPerLine: number;
  blocksPerColumn: number;
  /** 64 coefficients a block, natural order */
  coefs: Int16Array;
  /** per coefficient: the lowest successive-approximation bit coded so far, -1 before any (libjpeg's coef_bits) */
  coefBits: Int8Array;
  /** DC predictor of the current scan */
  pred: number;
  dc?: Huffman;
  ac?: Huffman;
}

interface Frame {
  progressive: boolean;
  width: number;
  height: number;
  components: Component[];
  maxH: number;
  maxV: number;
  mcusPerLine: number;
  mcusPerColumn: number;
}

interface Huffman {
  /** next 8 bits -> (code length << 8) | symbol, 0 when the code is longer than 8 bits */
  lookup: Uint16Array;
  /** per length 1..16: the largest code of that length (-1: none), and where its symbols start */
  maxCode: Int32Array;
  valOffset: Int32Array;
  symbols: Uint8Array;
}

const corrupt = (what: string) => new ImageError(`corrupt JPEG: ${what}`);
const truncated = () => new ImageError('truncated JPEG: the data ends inside a scan');

/**
 * Decodes a JPEG as libjpeg-turbo's defaults do (ISLOW IDCT, fancy upsampling): gray files to 1 channel,
 * color ones to RGB. Throws ImageError for anything unreadable, LimitError for a frame over maxPixels or
 * more scans than maxJpegScans (both checked before anything is allocated or decoded).
 */
export function decodeJpeg(bytes: Uint8Array, limits: Limits): Image {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) throw new ImageError('not a JPEG (no start-of-image marker)');
  // Every scan of a progressive JPEG walks all of the image's blocks: thousands of empty scans take
  // minutes. Inside entropy-coded data 0xFF is always followed by 0x00 or a restart marker, so every
  // FF DA in the file is a start-of-scan marker.
  let scans = 0;
  for (let i = bytes.indexOf(0xff); i >= 0 && i + 1 < bytes.length; i = bytes.indexOf(0xff, i + 1)) if (bytes[i + 1] === 0xda) scans++;
  if (scans > limits.maxJpegScans) throw exceeds(`JPEG of ${scans} scans`, 'maxJpegScans', limits);

  let frame: Frame | undefined;
  const dcTables: (Huffman | undefined)[] = [];
  const acTables: (Huffman | undefined)[] = [];
  const quantTables: (Uint16Array | undefined)[] = [];
  let restartInterval = 0;
  let jfif = false;
  let adobeTransform = -1;
  let pos = 2;
  let ended = false;
  while (!ended) {
    // markers: 0xFF, any number of 0xFF fill bytes, the code; stray bytes between segments are skipped (jdmarker.c next_marker)
    while (pos < bytes.length && bytes[pos] !== 0xff) pos++;
    while (pos < bytes.length && bytes[pos] === 0xff) pos++;
    if (pos >= bytes.length) break;
    const marker = bytes[pos++];
    if (marker === 0xd9) {
      ended = true;
      break;
    }
    if (marker === 0x00 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue; // no length: stuffing, TEM, RSTn, SOI
    if (pos + 2 > bytes.length) throw new ImageError('truncated JPEG: the data ends inside a marker segment');
    const length = (bytes[pos] << 8) | bytes[pos + 1];
    if (length < 2) throw corrupt(`marker 0xFF${hex(marker)} segment of length ${length}`);
    if (pos + length > bytes.length) throw new ImageError('truncated JPEG: the data ends inside a marker segment');
    const seg = bytes.subarray(pos + 2, pos + length);
    pos += length;
    if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) {
      if (frame) throw corrupt('more than one frame header');
      frame = readFrame(seg, marker === 0xc2, limits);
    } else if (SOF_UNSUPPORTED.has(marker)) {
      throw new ImageError(`unsupported JPEG: ${SOF_UNSUPPORTED.get(marker)} (only baseline, extended and progressive Huffman-coded JPEGs are read)`);
    } else if (marker === 0xc4) readHuffmanTables(seg, dcTables, acTables);
    else if (marker === 0xdb) readQuantTables(seg, quantTables);
    else if (marker === 0xdd) {
      if (seg.length < 2) throw corrupt('short restart-interval segment');
      restartInterval = (seg[0] << 8) | seg[1];
    } else if (marker === 0xda) {
      if (!frame) throw corrupt('a scan before the frame header');
      pos = readScan(bytes, pos, seg, frame, dcTables, acTables, quantTables, restartInterval);
    } else if (marker === 0xe0) {
      if (seg.length >= 14 && seg[0] === 0x4a && seg[1] === 0x46 && seg[2] === 0x49 && seg[3] === 0x46 && seg[4] === 0) jfif = true; // "JFIF\0"
    } else if (marker === 0xee) {
      // "Adobe", version, flags0, flags1, transform (jdmarker.c examine_app14)
      if (seg.length >= 12 && String.fromCharCode(...seg.subarray(0, 5)) === 'Adobe') adobeTransform = seg[11];
    } else if (marker === 0xdc) {
      throw new ImageError('unsupported JPEG: the height is given by a DNL marker');
    }
    // other APPn, COM, ...: skipped
  }
  if (!frame) throw new ImageError('truncated JPEG: no frame header');
  for (const c of frame.components) {
    if (c.coefBits[0] < 0) throw new ImageError(`truncated JPEG: no scan holds component ${c.id}`);
    // A file cut at a scan boundary decodes to a blurry or gray image; without EOI it is refused unless every
    // coefficient has reached its last bit (a sequential file missing only its EOI marker still decodes).
    if (!ended && c.coefBits.some((b) => b !== 0)) throw new ImageError('truncated JPEG: the data ends before the last scan');
  }
  return toPixels(frame, frame.components.length === 3 && isRgb(frame, jfif, adobeTransform));
}

// ---------------------------------------------------------------------------------------------
// marker segments

function readFrame(seg: Uint8Array, progressive: boolean, limits: Limits): Frame {
  if (seg.length < 6) throw corrupt('short frame header');
  const precision = seg[0];
  const height = (seg[1] << 8) | seg[2];
  const width = (seg[3] << 8) | seg[4];
  const n = seg[5];
  if (precision !== 8) throw new ImageError(`unsupported JPEG: ${precision}-bit samples (only 8-bit JPEGs are read)`);
  if (n !== 1 && n !== 3) throw new ImageError(`JPEG with ${n} color components (CMYK?): only gray and RGB are read`);
  if (seg.length < 6 + 3 * n) throw corrupt('short frame header');
  if (height === 0) throw new ImageError('unsupported JPEG: the height is given by a DNL marker');
  if (width === 0) throw new ImageError('image has no pixels');
  if (width * height > limits.maxPixels) throw exceeds(`${width}x${height} = ${formatCount(width * height)} pixels`, 'maxPixels', limits);
  const raw: { id: number; h: number; v: number; tq: number }[] = [];
  for (let i = 0; i < n; i++) {
    const id = seg[6 + 3 * i];
    const h = seg[7 + 3 * i] >> 4;
    const v = seg[7 + 3 * i] & 15;
    const tq = seg[8 + 3 * i];
    if (h < 1 || h > 4 || v < 1 || v > 4) throw corrupt(`component ${id} has sampling factors ${h}x${v} (1..4 allowed)`);
    if (tq > 3) throw corrupt(`component ${id} uses quantization table ${tq} (0..3 allowed)`);
    if (raw.some((c) => c.id === id)) throw corrupt(`component id ${id} appears twice`);
    raw.push({ id, h, v, tq });
  }
  const maxH = Math.max(...raw.map((c) => c.h));
  const maxV = Math.max(...raw.map((c) => c.v));
  for (const c of raw) {
    // jdsample.c upsamples by integral factors only (JERR_FRACT_SAMPLE_NOTIMPL)
    if (maxH % c.h || maxV % c.v)
      throw new ImageError(`unsupported JPEG: component ${c.id} sampled ${c.h}x${c.v} against ${maxH}x${maxV} (a fractional ratio)`);
  }
  const mcusPerLine = Math.ceil(width / (8 * maxH));
  const mcusPerColumn = Math.ceil(height / (8 * maxV));
  // The coefficients fill whole MCUs: a 1-pixel-wide image with 4x4 sampling holds 32 columns of them.
  // COEFS_PER_PIXEL per pixel of maxPixels (three full-size components plus MCU padding) are allowed, so
  // they take at most 8 bytes a pixel: 800 MB at maxPixels 1e8.
  const coefficients = raw.reduce((s, c) => s + mcusPerLine * c.h * mcusPerColumn * c.v * 64, 0);
  if (coefficients > COEFS_PER_PIXEL * limits.maxPixels) {
    const sampling = raw.map((c) => `${c.h}x${c.v}`).join(',');
    throw exceeds(
      `${width}x${height} JPEG sampled ${sampling}: ${formatCount(coefficients)} DCT coefficients (${COEFS_PER_PIXEL} a pixel)`,
      'maxPixels',
      limits,
    );
  }
  const components = raw.map((c) => {
    const blocksPerLine = mcusPerLine * c.h;
    const blocksPerColumn = mcusPerColumn * c.v;
    return { ...c, blocksPerLine, blocksPerColumn, coefs: new Int16Array(blocksPerLine * blocksPerColumn * 64), coefBits: new Int8Array(64).fill(-1), pred: 0 };
  });
  return { progressive, width, height, components, maxH, maxV, mcusPerLine, mcusPerColumn };
}

/** libjpeg-turbo's guess whether 3 components are RGB rather than YCbCr (jdapimin.c default_decompress_parms). */
function isRgb(frame: Frame, jfif: boolean, adobeTransform: number): boolean {
  if (jfif) return false;
  if (adobeTransform >= 0) return adobeTransform === 0;
  const [a, b, c] = frame.components.map((x) => x.id);
  return a === 0x52 && b === 0x47 && c === 0x42; // 'R', 'G', 'B'
}

function readQuantTables(seg: Uint8Array, tables: (Uint16Array | undefined)[]): void {
  for (let i = 0; i < seg.length; ) {
    const pq = seg[i] >> 4;
    const tq = seg[i] & 15;
    const size = pq ? 128 : 64;
    if (pq > 1 || tq > 3) throw corrupt(`quantization table ${tq} of precision ${pq}`);
    if (i + 1 + size > seg.length) throw corrupt('short quantization table');
    const t = new Uint16Array(64);
    for (let k = 0; k < 64; k++) t[NATURAL_ORDER[k]] = pq ? (seg[i + 1 + 2 * k] << 8) | seg[i + 2 + 2 * k] : seg[i + 1 + k];
    tables[tq] = t;
    i += 1 + size;
  }
}

function readHuffmanTables(seg: Uint8Array, dc: (Huffman | undefined)[], ac: (Huffman | undefined)[]): void {
  for (let i = 0; i < seg.length; ) {
    const tc = seg[i] >> 4;
    const th = seg[i] & 15;
    if (tc > 1 || th > 3) throw corrupt(`Huffman table class ${tc} id ${th}`);
    if (i + 17 > seg.length) throw corrupt('short Huffman table');
    const counts = seg.subarray(i + 1, i + 17);
    const total = counts.reduce((s, n) => s + n, 0);
    if (total > 256 || i + 17 + total > seg.length) throw corrupt('short Huffman table');
    const symbols = seg.slice(i + 17, i + 17 + total);
    // a DC symbol is a bit count, at most 15 for 8-bit samples (jdhuff.c checks the same)
    if (!tc && symbols.some((s) => s > 15)) throw corrupt(`DC Huffman table ${th} with a symbol over 15`);
    (tc ? ac : dc)[th] = buildHuffman(counts, symbols);
    i += 17 + total;
  }
}

/** Canonical Huffman codes from the code-length counts (T.81 Annex C), as jdhuff.c jpeg_make_d_derived_tbl. */
function buildHuffman(counts: Uint8Array, symbols: Uint8Array): Huffman {
  const lookup = new Uint16Array(256);
  const maxCode = new Int32Array(17).fill(-1);
  const valOffset = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    valOffset[len] = k - code;
    for (let n = 0; n < counts[len - 1]; n++, k++, code++) {
      if (len <= 8) for (let j = code << (8 - len), end = (code + 1) << (8 - len); j < end; j++) lookup[j] = (len << 8) | symbols[k];
    }
    // no code may be all ones (jdhuff.c: JERR_BAD_HUFF_TABLE)
    if (code >= 1 << len) throw corrupt('Huffman table with more codes than its lengths allow');
    if (counts[len - 1]) maxCode[len] = code - 1;
    code <<= 1;
  }
  return { lookup, maxCode, valOffset, symbols };
}

// ---------------------------------------------------------------------------------------------
// entropy-coded data

/**
 * Bits of one entropy-coded segment, most significant first, with stuffed 0xFF 0x00 pairs undone. At a
 * marker (or the end of the file) it supplies zero bits so a look-ahead can run past the last code, but
 * a code that actually uses one of them means the data was cut short: an error, never a guess.
 */
class BitReader {
  private acc = 0;
  private bits = 0;
  /** zero bits supplied past the segment's end, at the bottom of `acc` */
  private padding = 0;
  constructor(
    private readonly b: Uint8Array,
    public pos: number,
  ) {}

  private fill(): void {
    const b = this.b;
    while (this.bits <= 24) {
      let byte = 0;
      if (this.pos < b.length && b[this.pos] !== 0xff) byte = b[this.pos++];
      else if (this.pos + 1 < b.length && b[this.pos + 1] === 0) {
        byte = 0xff;
        this.pos += 2;
      } else this.padding += 8;
      this.acc = (this.acc << 8) | byte;
      this.bits += 8;
    }
  }

  private used(n: number): void {
    this.bits -= n;
    if (this.bits < this.padding) throw truncated();
  }

  bits1(): number {
    if (this.bits < 1) this.fill();
    const v = (this.acc >>> (this.bits - 1)) & 1;
    this.used(1);
    return v;
  }

  /** n (0..16) raw bits */
  read(n: number): number {
    if (n === 0) return 0;
    if (this.bits < n) this.fill();
    const v = (this.acc >>> (this.bits - n)) & ((1 << n) - 1);
    this.used(n);
    return v;
  }

  /** n bits as a signed value (T.81 F.2.2.1 EXTEND) */
  receiveExtend(n: number): number {
    const v = this.read(n);
    return v < 1 << (n - 1) ? v - (1 << n) + 1 : v;
  }

  decode(t: Huffman): number {
    if (this.bits < 16) this.fill();
    const e = t.lookup[(this.acc >>> (this.bits - 8)) & 255];
    if (e) {
      this.used(e >> 8);
      return e & 255;
    }
    for (let len = 9; len <= 16; len++) {
      const code = (this.acc >>> (this.bits - len)) & ((1 << len) - 1);
      if (code <= t.maxCode[len]) {
        this.used(len);
        return t.symbols[t.valOffset[len] + code] ?? 0;
      }
    }
    throw corrupt('bad Huffman code');
  }

  /** Drops the partial byte and moves past the restart marker RSTn that must come next. */
  restart(n: number): void {
    this.acc = this.bits = this.padding = 0;
    const b = this.b;
    while (this.pos < b.length && b[this.pos] !== 0xff) this.pos++; // padding bits / stray bytes
    while (this.pos + 1 < b.length && b[this.pos + 1] === 0xff) this.pos++;
    if (this.pos + 1 >= b.length) throw truncated();
    if (b[this.pos + 1] !== 0xd0 + n) throw corrupt(`expected restart marker RST${n}, found 0xFF${hex(b[this.pos + 1])}`);
    this.pos += 2;
  }
}

interface ScanComponent {
  c: Component;
  dc?: Huffman;
  ac?: Huffman;
}

/** Decodes one scan (its header in `seg`, its data from `pos`); returns where the data ends. */
function readScan(
  bytes: Uint8Array,
  pos: number,
  seg: Uint8Array,
  frame: Frame,
  dcTables: (Huffman | undefined)[],
  acTables: (Huffman | undefined)[],
  quantTables: (Uint16Array | undefined)[],
  restartInterval: number,
): number {
  const n = seg[0];
  if (!(n >= 1 && n <= 4) || seg.length < 4 + 2 * n) throw corrupt('bad scan header');
  const ss = seg[1 + 2 * n];
  const se = seg[2 + 2 * n];
  const ah = seg[3 + 2 * n] >> 4;
  const al = seg[3 + 2 * n] & 15;
  // the checks of jdphuff.c start_pass_phuff_decoder / jdinput.c for sequential files
  if (frame.progressive) {
    const bad = ss === 0 ? se !== 0 : se < ss || se > 63 || n !== 1;
    if (bad || (ah !== 0 && al !== ah - 1) || al > 13) throw corrupt(`bad progression parameters Ss=${ss} Se=${se} Ah=${ah} Al=${al}`);
  } else if (ss !== 0 || se !== 63 || ah !== 0 || al !== 0) throw corrupt(`sequential scan with Ss=${ss} Se=${se} Ah=${ah} Al=${al}`);
  const comps: ScanComponent[] = [];
  for (let i = 0; i < n; i++) {
    const id = seg[1 + 2 * i];
    const c = frame.components.find((x) => x.id === id);
    if (!c || comps.some((x) => x.c === c)) throw corrupt(`scan names component ${id} ${c ? 'twice' : 'not in the frame'}`);
    const needDc = ss === 0 && ah === 0;
    const needAc = se > 0;
    const dc = dcTables[seg[2 + 2 * i] >> 4];
    const ac = acTables[seg[2 + 2 * i] & 15];
    if ((needDc && !dc) || (needAc && !ac)) throw corrupt(`scan uses an undefined Huffman table (component ${id})`);
    if (!c.quant) {
      const q = quantTables[c.tq];
      if (!q) throw corrupt(`component ${id} uses undefined quantization table ${c.tq}`);
      c.quant = q;
    }
    for (let k = ss; k <= se; k++) c.coefBits[k] = al;
    c.pred = 0;
    comps.push({ c, dc, ac });
  }
  if (n > 1 && comps.reduce((s, x) => s + x.c.h * x.c.v, 0) > MAX_BLOCKS_IN_MCU) throw corrupt(`a scan's MCU holds more than ${MAX_BLOCKS_IN_MCU} blocks`);

  const r = new BitReader(bytes, pos);
  const block = blockDecoder(r, frame.progressive, ss, se, ah, al);
  let mcusX = frame.mcusPerLine;
  let mcusY = frame.mcusPerColumn;
  if (n === 1) {
    // a non-interleaved scan covers the component's own blocks, one block an MCU (T.81 A.2.2)
    const c = comps[0].c;
    mcusX = Math.ceil(Math.ceil((frame.width * c.h) / frame.maxH) / 8);
    mcusY = Math.ceil(Math.ceil((frame.height * c.v) / frame.maxV) / 8);
  }
  const total = mcusX * mcusY;
  for (let m = 0; m < total; m++) {
    if (restartInterval && m > 0 && m % restartInterval === 0) {
      r.restart((m / restartInterval - 1) & 7);
      for (const x of comps) x.c.pred = 0;
      block.resetEobRun();
    }
    const my = Math.floor(m / mcusX);
    const mx = m - my * mcusX;
    for (const { c, dc, ac } of comps) {
      if (n === 1) {
        block.decode(c, dc, ac, (my * c.blocksPerLine + mx) * 64);
        continue;
      }
      for (let v = 0; v < c.v; v++) {
        for (let h = 0; h < c.h; h++) block.decode(c, dc, ac, ((my * c.v + v) * c.blocksPerLine + mx * c.h + h) * 64);
      }
    }
  }
  return r.pos;
}

interface BlockDecoder {
  decode(c: Component, dc: Huffman | undefined, ac: Huffman | undefined, at: number): void;
  resetEobRun(): void;
}

/** The per-block decoding of one kind of scan (jdhuff.c decode_mcu, jdphuff.c decode_mcu_{DC,AC}_{first,refine}). */
function blockDecoder(r: BitReader, progressive: boolean, ss: number, se: number, ah: number, al: number): BlockDecoder {
  let eobrun = 0;
  const resetEobRun = () => void (eobrun = 0);
  if (!progressive) {
    return {
      resetEobRun,
      decode(c, dc, ac, at) {
        const t = r.decode(dc!);
        c.pred += t ? r.receiveExtend(t) : 0;
        c.coefs[at] = c.pred;
        for (let k = 1; k < 64; ) {
          const rs = r.decode(ac!);
          const s = rs & 15;
          if (s === 0) {
            if (rs !== 0xf0) break; // EOB
            k += 16; // ZRL
            continue;
          }
          k += rs >> 4;
          if (k > 63) throw corrupt('a block with more than 64 coefficients');
          c.coefs[at + NATURAL_ORDER[k++]] = r.receiveExtend(s);
        }
      },
    };
  }
  if (ss === 0) {
    return {
      resetEobRun,
      decode(c, dc, _ac, at) {
        if (ah === 0) {
          const t = r.decode(dc!);
          c.pred += t ? r.receiveExtend(t) : 0;
          c.coefs[at] = c.pred * (1 << al);
        } else if (r.bits1()) c.coefs[at] |= 1 << al;
      },
    };
  }
  if (ah === 0) {
    return {
      resetEobRun,
      decode(c, _dc, ac, at) {
        if (eobrun > 0) {
          eobrun--;
          return;
        }
        for (let k = ss; k <= se; k++) {
          const rs = r.decode(ac!);
          const s = rs & 15;
          const run = rs >> 4;
          if (s === 0) {
            if (run < 15) {
              eobrun = (1 << run) - 1 + r.read(run);
              break;
            }
            k += 15; // ZRL: 16 zeros with the loop's k++
            continue;
          }
          k += run;
          if (k > se) throw corrupt('a coefficient past the end of its band');
          c.coefs[at + NATURAL_ORDER[k]] = r.receiveExtend(s) * (1 << al);
        }
      },
    };
  }
  const p1 = 1 << al;
  const m1 = -1 << al;
  // successive approximation: one more bit for every coefficient already nonzero in the band
  const refine = (coefs: Int16Array, i: number) => {
    if (r.bits1() && (coefs[i] & p1) === 0) coefs[i] += coefs[i] >= 0 ? p1 : m1;
  };
  return {
    resetEobRun,
    decode(c, _dc, ac, at) {
      const coefs = c.coefs;
      let k = ss;
      if (eobrun === 0) {
        for (; k <= se; k++) {
          const rs = r.decode(ac!);
          let s = rs & 15;
          let run = rs >> 4;
          if (s) {
            if (s !== 1) throw corrupt('a refinement scan coefficient of more than one bit');
            s = r.bits1() ? p1 : m1;
          } else if (run !== 15) {
            eobrun = (1 << run) + r.read(run);
            break; // the rest of the band is refined below
          }
          // skip `run` zero coefficients, refining the nonzero ones passed on the way
          for (; k <= se; k++) {
            const i = at + NATURAL_ORDER[k];
            if (coefs[i] !== 0) refine(coefs, i);
            else if (--run < 0) break;
          }
          if (s) {
            if (k > se) throw corrupt('a coefficient past the end of its band');
            coefs[at + NATURAL_ORDER[k]] = s;
          }
        }
      }
      if (eobrun > 0) {
        for (; k <= se; k++) {
          const i = at + NATURAL_ORDER[k];
          if (coefs[i] !== 0) refine(coefs, i);
        }
        eobrun--;
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// pixels

function toPixels(frame: Frame, rgb: boolean): Image {
  const { width, height, maxH, maxV } = frame;
  const planes: SamplePlane[] = frame.components.map((c) => {
    const stride = c.blocksPerLine * 8;
    const data = new Uint8Array(stride * c.blocksPerColumn * 8);
    const w = Math.ceil((width * c.h) / maxH);
    const h = Math.ceil((height * c.v) / maxV);
    // only the blocks that hold the component's samples: the rest of the MCU padding is never read
    for (let by = 0; by < Math.ceil(h / 8); by++) {
      for (let bx = 0; bx < Math.ceil(w / 8); bx++) idctIslow(c.coefs, (by * c.blocksPerLine + bx) * 64, c.quant!, data, by * 8 * stride + bx * 8, stride);
    }
    c.coefs = new Int16Array(0); // let the coefficients go before the output is allocated
    return { stride, data, width: w, height: h, hExpand: maxH / c.h, vExpand: maxV / c.v };
  });
  const channels = planes.length === 1 ? 1 : 3;
  const data = new Uint8Array(width * height * channels);
  const rows = planes.map(() => new Uint8Array(width));
  const colsum = new Int32Array(Math.max(...planes.map((p) => p.width)));
  for (let y = 0; y < height; y++) {
    planes.forEach((p, i) => upsampleRow(p, y, width, rows[i], colsum));
    if (channels === 1) data.set(rows[0], y * width);
    else if (!rgb) yccToRgbRow(rows[0], rows[1], rows[2], width, data, y * width * 3);
    else for (let x = 0, o = y * width * 3; x < width; x++) for (let i = 0; i < 3; i++) data[o++] = rows[i][x];
  }
  return { width, height, channels, data };
}

const hex = (n: number) => n.toString(16).toUpperCase().padStart(2, '0');
