// From DCT coefficients to pixels exactly as libjpeg-turbo's default decompression does it (the
// library behind PIL, OpenCV and Chromium), so a JPEG gives the same pixels here as in PyTorch
// pipelines and in the browser: the JDCT_ISLOW integer IDCT (jidctint.c), "fancy" chroma upsampling
// (jdsample.c) and the fixed-point YCbCr -> RGB tables (jdcolor.c). Every shift, bias and table here
// mirrors theirs; a change of rounding shows up as a ±1 difference in test/io/jpeg.test.ts.
// Browser-safe: no Node imports.

/** One component's decoded samples: a plane of whole 8x8 blocks, larger than the image. */
export interface SamplePlane {
  /** samples a row of the plane holds (blocks per line x 8) */
  stride: number;
  data: Uint8Array;
  /** the component's true size: ceil(imageWidth * h / maxH) x ceil(imageHeight * v / maxV) */
  width: number;
  height: number;
  /** horizontal / vertical upsampling factors: maxH / h, maxV / v (integers) */
  hExpand: number;
  vExpand: number;
}

// jidctint.c: CONST_BITS 13, PASS1_BITS 2 (8-bit samples), constants FIX(x) = round(x * 2^13).
const CONST_BITS = 13;
const PASS1_BITS = 2;
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;
const PASS1_SHIFT = CONST_BITS - PASS1_BITS;
const PASS2_SHIFT = CONST_BITS + PASS1_BITS + 3;

const wrap16 = (x: number) => (x << 16) >> 16;
const sat16 = (x: number) => (x < -32768 ? -32768 : x > 32767 ? 32767 : x);

const workspace = new Int16Array(64);
const dequantized = new Int16Array(64);
const out8 = new Int32Array(8);

/**
 * Dequantizes one block (coefficients and quantizers both in natural order) and writes its 8x8 samples
 * at `out[at ...]`, rows `stride` apart: the ISLOW IDCT, columns first, then rows.
 *
 * For every coefficient a real encoder writes this is jidctint.c's jpeg_idct_islow to the bit. Where the
 * numbers overflow (crafted or heavily amplified coefficients) it follows the x86-64 SIMD version that
 * PIL, OpenCV and Chromium actually run (libjpeg-turbo simd/x86_64/jidctint-avx2.asm): 16-bit
 * dequantization and sums, 32-bit products, and results saturated to 16 bits after each pass and to
 * 0..255 at the end, where the C code would wrap through its range-limit table.
 */
export function idctIslow(coef: Int16Array, coefAt: number, quant: Uint16Array, out: Uint8Array, at: number, stride: number): void {
  const ws = workspace;
  let acZero = true;
  for (let k = 8; k < 64 && acZero; k++) acZero = coef[coefAt + k] === 0;
  if (acZero) {
    // rows 1..7 all zero: every column is its DC term (jidctint-avx2.asm's test is per block)
    for (let c = 0; c < 8; c++) {
      const dc = wrap16(wrap16(Math.imul(coef[coefAt + c], quant[c])) << PASS1_BITS);
      for (let r = 0; r < 8; r++) ws[8 * r + c] = dc;
    }
  } else {
    const dq = dequantized;
    for (let k = 0; k < 64; k++) dq[k] = Math.imul(coef[coefAt + k], quant[k]); // stored as int16: pmullw's low half
    for (let c = 0; c < 8; c++) {
      butterfly(dq[c], dq[8 + c], dq[16 + c], dq[24 + c], dq[32 + c], dq[40 + c], dq[48 + c], dq[56 + c], PASS1_SHIFT);
      for (let r = 0; r < 8; r++) ws[8 * r + c] = sat16(out8[r]);
    }
  }
  for (let r = 0; r < 8; r++) {
    const w = 8 * r;
    butterfly(ws[w], ws[w + 1], ws[w + 2], ws[w + 3], ws[w + 4], ws[w + 5], ws[w + 6], ws[w + 7], PASS2_SHIFT);
    const o = at + r * stride;
    for (let x = 0; x < 8; x++) {
      const v = out8[x]; // packssdw then packsswb: saturated to -128..127, then + CENTERJSAMPLE
      out[o + x] = v < -128 ? 0 : v > 127 ? 255 : v + 128;
    }
  }
}

/**
 * One 8-point pass over 16-bit inputs into `out8`, descaled by `shift` (DESCALE: add 2^(shift-1), then an
 * arithmetic shift of the 32-bit sum). Even part: the rotator sqrt(2) * c(-6); odd part: T.81's figure
 * A.3.3 flow as jidctint.c writes it. z1 = in7 + in1 and z2 = in5 + in3 are folded into the products
 * (pmaddwd), while in0 +- in4, in7 + in3 and in5 + in1 are 16-bit sums (paddw) as in the SIMD code.
 */
function butterfly(in0: number, in1: number, in2: number, in3: number, in4: number, in5: number, in6: number, in7: number, shift: number): void {
  const z1 = (in2 + in6) * FIX_0_541196100;
  const tmp2 = z1 - in6 * FIX_1_847759065;
  const tmp3 = z1 + in2 * FIX_0_765366865;
  const tmp0 = wrap16(in0 + in4) * (1 << CONST_BITS);
  const tmp1 = wrap16(in0 - in4) * (1 << CONST_BITS);
  const tmp10 = tmp0 + tmp3;
  const tmp13 = tmp0 - tmp3;
  const tmp11 = tmp1 + tmp2;
  const tmp12 = tmp1 - tmp2;

  const z3 = wrap16(in7 + in3);
  const z4 = wrap16(in5 + in1);
  const z5 = (z3 + z4) * FIX_1_175875602; // sqrt(2) * c3
  const z3r = z3 * -FIX_1_961570560 + z5;
  const z4r = z4 * -FIX_0_390180644 + z5;
  const z1r = (in7 + in1) * -FIX_0_899976223;
  const z2r = (in5 + in3) * -FIX_2_562915447;
  const o0 = in7 * FIX_0_298631336 + z1r + z3r;
  const o1 = in5 * FIX_2_053119869 + z2r + z4r;
  const o2 = in3 * FIX_3_072711026 + z2r + z3r;
  const o3 = in1 * FIX_1_501321110 + z1r + z4r;

  const r = 1 << (shift - 1);
  // `>>` takes the exact sum modulo 2^32 first: the SIMD code's 32-bit adds
  out8[0] = (tmp10 + o3 + r) >> shift;
  out8[7] = (tmp10 - o3 + r) >> shift;
  out8[1] = (tmp11 + o2 + r) >> shift;
  out8[6] = (tmp11 - o2 + r) >> shift;
  out8[2] = (tmp12 + o1 + r) >> shift;
  out8[5] = (tmp12 - o1 + r) >> shift;
  out8[3] = (tmp13 + o0 + r) >> shift;
  out8[4] = (tmp13 - o0 + r) >> shift;
}

/**
 * Writes output row `y` (image width `width`) of a component into `out`, upsampled as jdsample.c's
 * default (do_fancy_upsampling) path chooses: full size as is; 2:1 horizontally (h2v1) and 2:1 both ways
 * (h2v2) with the triangle filter when the component is more than 2 samples wide, else replicated; 2:1
 * vertically (h1v2) with the triangle filter; any other integral ratio replicated (int_upsample).
 * Rows and columns past the component's edge repeat its last one, as jdmainct.c / jdsample.c do.
 */
export function upsampleRow(p: SamplePlane, y: number, width: number, out: Uint8Array, colsum: Int32Array): void {
  const { data, stride, hExpand, vExpand } = p;
  const w = p.width;
  if (hExpand === 1 && vExpand === 1) {
    out.set(data.subarray(y * stride, y * stride + width));
    return;
  }
  const fancyH = hExpand === 2 && w > 2;
  if (vExpand === 1 && fancyH) {
    // h2v1_fancy_upsample: 3/4 nearer + 1/4 further sample; biases 1 and 2 alternate
    const r = y * stride;
    for (let j = 0; j < w; j++) {
      const here = 3 * data[r + j];
      const left = data[r + Math.max(j - 1, 0)];
      const right = data[r + Math.min(j + 1, w - 1)];
      if (2 * j < width) out[2 * j] = (here + left + 1) >> 2;
      if (2 * j + 1 < width) out[2 * j + 1] = (here + right + 2) >> 2;
    }
    return;
  }
  if (vExpand === 2 && (hExpand === 1 || fancyH)) {
    // the nearer input row and the next nearer one (above for even output rows, below for odd)
    const i = y >> 1;
    const odd = y & 1;
    const near = i * stride;
    const far = (odd ? Math.min(i + 1, p.height - 1) : Math.max(i - 1, 0)) * stride;
    if (hExpand === 1) {
      // h1v2_fancy_upsample: biases 1 (row above) and 2 (row below)
      const bias = odd ? 2 : 1;
      for (let x = 0; x < width; x++) out[x] = (3 * data[near + x] + data[far + x] + bias) >> 2;
      return;
    }
    // h2v2_fancy_upsample: vertical 3:1 column sums, then horizontal 3:1 with biases 8 and 7
    for (let j = 0; j < w; j++) colsum[j] = 3 * data[near + j] + data[far + j];
    for (let j = 0; j < w; j++) {
      const here = 3 * colsum[j];
      if (2 * j < width) out[2 * j] = (here + colsum[Math.max(j - 1, 0)] + 8) >> 4;
      if (2 * j + 1 < width) out[2 * j + 1] = (here + colsum[Math.min(j + 1, w - 1)] + 7) >> 4;
    }
    return;
  }
  // h2v1_upsample / h2v2_upsample / int_upsample: plain replication
  const r = Math.floor(y / vExpand) * stride;
  for (let x = 0; x < width; x++) out[x] = data[r + Math.floor(x / hExpand)];
}

// jdcolor.c build_ycc_rgb_table: SCALEBITS 16, FIX(x) = round(x * 2^16), ONE_HALF = 2^15.
const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const FIX = (x: number) => Math.floor(x * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (FIX(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (FIX(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -FIX(0.71414) * x;
  CB_G[i] = -FIX(0.34414) * x + ONE_HALF; // the rounding half of G folded in, as jdcolor.c does
}
const clamp255 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** ycc_rgb_convert for one row: interleaved RGB into `out` from `at`. */
export function yccToRgbRow(yRow: Uint8Array, cb: Uint8Array, cr: Uint8Array, width: number, out: Uint8Array, at: number): void {
  for (let x = 0; x < width; x++) {
    const Y = yRow[x];
    const b = cb[x];
    const r = cr[x];
    out[at++] = clamp255(Y + CR_R[r]);
    out[at++] = clamp255(Y + ((CB_G[b] + CR_G[r]) >> SCALEBITS));
    out[at++] = clamp255(Y + CB_B[b]);
  }
}
