#!/usr/bin/python3
"""JPEG fixtures: small JPEGs and the pixels libjpeg-turbo decodes from them, through PIL.

Writes test/fixtures/jpeg/NAME.jpg for each case below and test/fixtures/jpeg/pil_pixels.safetensors
holding, per NAME, PIL's decode (Image.open(f).convert('RGB'), or 'L' for gray files) as U8 H x W x C.
`__metadata__` names this script, PIL's version and the libjpeg-turbo version PIL was built with.
test/io/jpeg.test.ts checks src/io/jpeg.ts against these pixels (within 1 level) and needs no Python.

The images: sharp colour edges, a gradient with noise, pure noise (odd sizes, so MCUs are partial and
edges replicated), a 3x5 image (chroma 2 samples wide: libjpeg replicates instead of filtering), and a
crop of a microscopy image from assets/demo tinted like an H&E stain. PIL encodes them as baseline 4:4:4,
4:2:2, 4:2:0 at several qualities, progressive, optimized-Huffman and gray. PIL cannot write restart
markers or 4:4:0 / 4:1:1 / mixed sampling, so encode_baseline() below writes those (standard Huffman and
quantization tables lifted from a PIL file); PIL still decodes them for the reference.

Usage (Debian's PIL and numpy, so the system interpreter):
  /usr/bin/python3 tools/make_jpeg_fixtures.py           # (re)write the fixtures
  /usr/bin/python3 tools/make_jpeg_fixtures.py --check   # fail if the committed ones differ
"""

import argparse
import io
import os
import struct
import sys

import numpy as np
from PIL import Image, features

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import safetensors_bytes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "jpeg")
PIXELS = "pil_pixels.safetensors"
SCRIPT = "tools/make_jpeg_fixtures.py"
PHOTO = os.path.join(ROOT, "assets", "demo", "samples", "nuclei_03.png")

ZIGZAG = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61,
    54, 47, 55, 62, 63,
]


def images():
    rng = np.random.default_rng(1234)
    # 37x29: saturated colour blocks and a diagonal, edges at odd positions
    y, x = np.mgrid[0:29, 0:37]
    edges = np.zeros((29, 37, 3), np.uint8)
    edges[:, :] = (255, 255, 255)
    edges[x < 13] = (255, 0, 0)
    edges[(x >= 13) & (x < 24)] = (0, 160, 0)
    edges[y > x - 5] = (20, 20, 230)
    edges[(y > 19) & (x > 20)] = (0, 0, 0)
    edges[(y + x) % 11 == 0] = (255, 255, 0)
    # 64x48: smooth two-way gradient plus noise
    y, x = np.mgrid[0:48, 0:64].astype(np.float64)
    grad = np.stack([x * 4, y * 5, 255 - (x + y) * 2], axis=-1) + rng.normal(0, 12, (48, 64, 3))
    gradient = np.clip(grad, 0, 255).astype(np.uint8)
    noise = rng.integers(0, 256, (29, 37, 3), dtype=np.uint8)
    tiny = rng.integers(0, 256, (5, 3, 3), dtype=np.uint8)
    # 45x37 crop of a fluorescence image, tinted: nuclei purple on pink
    v = np.asarray(Image.open(PHOTO).convert("L"), np.float64)[30:67, 40:85] / 255.0
    photo = np.stack([235 - 120 * v, 190 - 150 * v, 215 - 40 * v], axis=-1)
    return {"edges": edges, "gradient": gradient, "noise": noise, "tiny": tiny, "photo": np.clip(photo, 0, 255).astype(np.uint8)}


# NAME suffix: PIL save options
PIL_CASES = {
    "444_q90": dict(quality=90, subsampling=0),
    "422_q75": dict(quality=75, subsampling=1),
    "420_q75": dict(quality=75, subsampling=2),
    "420_q30": dict(quality=30, subsampling=2),
    "progressive_420_q80": dict(quality=80, subsampling=2, progressive=True),
    "progressive_444_q95": dict(quality=95, subsampling=0, progressive=True),
    "optimized_420_q85": dict(quality=85, subsampling=2, optimize=True),
}
# NAME suffix: encode_baseline options; sampling: the (h, v) factors of Y, Cb, Cr
S444, S420 = ((1, 1), (1, 1), (1, 1)), ((2, 2), (1, 1), (1, 1))
OWN_CASES = {
    "restart3_420": dict(sampling=S420, restart=3),
    "restart1_444": dict(sampling=S444, restart=1),
    "440": dict(sampling=((1, 2), (1, 1), (1, 1))),
    "411": dict(sampling=((4, 1), (1, 1), (1, 1))),
    "mixed_22_12_21": dict(sampling=((2, 2), (1, 2), (2, 1))),
    "adobe_rgb_444": dict(sampling=S444, rgb=True),  # RGB samples, no color transform (Adobe APP14 transform 0)
    # coefficients dequantized 4x / 40x too large: samples far outside 0..255 (range limiting), and 16-bit
    # overflows inside the IDCT (where libjpeg-turbo's SIMD code saturates and its C code would wrap)
    "amplified4_444": dict(sampling=S444, amplify=4),
    "amplified40_420": dict(sampling=S420, amplify=40),
}

OWN_CASES_OF = {"edges": ("440", "411", "amplified4_444", "amplified40_420"), "gradient": ("restart3_420", "440", "mixed_22_12_21")}  # photo: all
# (and the size budget: all fixtures together stay under 300 KB)


def cases():
    out = {}
    for name, img in images().items():
        im = Image.fromarray(img, "RGB")
        for suffix, opts in PIL_CASES.items():
            if name == "tiny" and suffix not in ("422_q75", "420_q75"):
                continue  # a 3x5 image shows the edge rules; the other cases add nothing
            if name == "noise" and suffix == "progressive_444_q95":
                continue
            out[f"{name}_{suffix}"] = pil_jpeg(im, **opts)
        if name == "tiny":
            continue
        out[f"{name}_gray_q85"] = pil_jpeg(im.convert("L"), quality=85)
        if name in ("gradient", "photo", "edges"):
            tables = tables_from(pil_jpeg(im, quality=80, subsampling=0))
            for suffix, opts in OWN_CASES.items():
                if suffix in OWN_CASES_OF.get(name, OWN_CASES):
                    out[f"{name}_{suffix}"] = encode_baseline(im, tables, **opts)
    return out


def pil_jpeg(im, **opts):
    buf = io.BytesIO()
    im.save(buf, "JPEG", **opts)
    return buf.getvalue()


def pil_pixels(data):
    im = Image.open(io.BytesIO(data))
    return np.asarray(im.convert("L" if im.mode == "L" else "RGB"), np.uint8)


# ---------------------------------------------------------------------------------------------
# a minimal baseline encoder: any sampling factors, restart intervals


def segments(data):
    """(marker, payload) of every segment up to the first SOS."""
    i = 2
    while data[i + 1] != 0xDA:
        (n,) = struct.unpack(">H", data[i + 2 : i + 4])
        yield data[i + 1], data[i + 4 : i + 2 + n]
        i += 2 + n


def tables_from(data):
    """The DQT and DHT payloads of a baseline PIL file (libjpeg's standard Huffman tables)."""
    dqt = b"".join(p for m, p in segments(data) if m == 0xDB)
    dht = b"".join(p for m, p in segments(data) if m == 0xC4)
    quant, huff = {}, {}
    i = 0
    while i < len(dqt):
        quant[dqt[i] & 15] = np.array([dqt[i + 1 + k] for k in range(64)])  # zigzag order
        i += 65
    i = 0
    while i < len(dht):
        counts = dht[i + 1 : i + 17]
        vals = dht[i + 17 : i + 17 + sum(counts)]
        code, k, codes = 0, 0, {}
        for length in range(1, 17):
            for _ in range(counts[length - 1]):
                codes[vals[k]] = (code, length)
                code, k = code + 1, k + 1
            code <<= 1
        huff[dht[i]] = (codes, dht[i : i + 17 + sum(counts)])
        i += 17 + sum(counts)
    return dqt, dht, quant, huff


class Bits:
    def __init__(self):
        self.out, self.acc, self.n = bytearray(), 0, 0

    def put(self, value, length):
        for b in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> b) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc, self.n = 0, 0

    def flush(self):
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)


def fdct_matrix():
    c = np.array([[np.sqrt(1 / 8) if u == 0 else np.sqrt(2 / 8) * np.cos((2 * x + 1) * u * np.pi / 16) for x in range(8)] for u in range(8)])
    return c


def encode_baseline(im, tables, sampling, restart=0, rgb=False, amplify=1):
    """Baseline JPEG bytes; `amplify` scales the quantization tables the file declares, not those used."""
    dqt, dht, quant, huff = tables
    if amplify != 1:
        dqt = bytes(b if i % 65 == 0 else min(255, b * amplify) for i, b in enumerate(dqt))
    ycc = np.asarray(im if rgb else im.convert("YCbCr"), np.float64)
    h_, w_ = ycc.shape[:2]
    max_h = max(h for h, v in sampling)
    max_v = max(v for h, v in sampling)
    mx, my = -(-w_ // (8 * max_h)), -(-h_ // (8 * max_v))
    padded = np.pad(ycc, ((0, my * 8 * max_v - h_), (0, mx * 8 * max_h - w_), (0, 0)), mode="edge")
    C = fdct_matrix()
    planes = []
    for ci, (h, v) in enumerate(sampling):
        fx, fy = max_h // h, max_v // v
        p = padded[:, :, ci].reshape(my * 8 * max_v // fy, fy, mx * 8 * max_h // fx, fx).mean(axis=(1, 3))
        q = quant[0 if ci == 0 else 1][np.argsort(ZIGZAG)].reshape(8, 8)  # natural order
        planes.append((p, q))
    dc_codes = [huff[0x00][0], huff[0x01][0], huff[0x01][0]]
    ac_codes = [huff[0x10][0], huff[0x11][0], huff[0x11][0]]
    bits, pred, rst = Bits(), [0, 0, 0], 0

    def put_value(codes, symbol, value, size):
        code, length = codes[symbol]
        bits.put(code, length)
        if size:
            bits.put(value if value >= 0 else value + (1 << size) - 1, size)

    for m in range(mx * my):
        if restart and m and m % restart == 0:
            bits.flush()
            bits.out += bytes([0xFF, 0xD0 + rst])
            rst, pred = (rst + 1) % 8, [0, 0, 0]
        by0, bx0 = divmod(m, mx)
        for ci, (h, v) in enumerate(sampling):
            p, q = planes[ci]
            for yy in range(v):
                for xx in range(h):
                    r, c = (by0 * v + yy) * 8, (bx0 * h + xx) * 8
                    coef = np.round(C @ (p[r : r + 8, c : c + 8] - 128) @ C.T / q).astype(int).reshape(64)[ZIGZAG]
                    diff = int(coef[0]) - pred[ci]
                    pred[ci] = int(coef[0])
                    size = int(abs(diff)).bit_length()
                    put_value(dc_codes[ci], size, diff, size)
                    run = 0
                    for k in range(1, 64):
                        a = int(coef[k])
                        if a == 0:
                            run += 1
                            continue
                        while run > 15:
                            put_value(ac_codes[ci], 0xF0, 0, 0)
                            run -= 16
                        size = abs(a).bit_length()
                        put_value(ac_codes[ci], (run << 4) | size, a, size)
                        run = 0
                    if run:
                        put_value(ac_codes[ci], 0x00, 0, 0)
    bits.flush()

    def seg(marker, payload):
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload

    sof = struct.pack(">BHHB", 8, h_, w_, 3) + b"".join(bytes([ci + 1, (h << 4) | v, 0 if ci == 0 else 1]) for ci, (h, v) in enumerate(sampling))
    sos = bytes([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0])
    app = seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    if rgb:
        app = seg(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x00")  # version 100, flags 0, transform 0
    dri = seg(0xDD, struct.pack(">H", restart)) if restart else b""
    return b"\xff\xd8" + app + seg(0xDB, dqt) + seg(0xC0, sof) + seg(0xC4, dht) + dri + seg(0xDA, sos) + bytes(bits.out) + b"\xff\xd9"


# ---------------------------------------------------------------------------------------------


def build():
    files = cases()
    pixels = {name: pil_pixels(data) for name, data in files.items()}
    for name, px in pixels.items():
        if px.ndim == 2:
            pixels[name] = px[:, :, None]
    meta = {
        "script": SCRIPT,
        "pil_version": Image.__version__,
        "libjpeg_turbo_version": str(features.version("libjpeg_turbo")),
        "decode": "Image.open(f).convert('RGB') ('L' for gray files)",
    }
    return files, safetensors_bytes(pixels, meta)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed fixtures instead of writing")
    args = ap.parse_args()
    files, st = build()
    wanted = {f"{n}.jpg": d for n, d in files.items()} | {PIXELS: st}
    if args.check:
        stale = [n for n, d in wanted.items() if not os.path.exists(os.path.join(OUT_DIR, n)) or open(os.path.join(OUT_DIR, n), "rb").read() != d]
        if stale:
            sys.exit(f"stale JPEG fixtures (rerun {SCRIPT}): {', '.join(stale)}")
        print(f"{len(wanted)} JPEG fixture files up to date")
        return
    os.makedirs(OUT_DIR, exist_ok=True)
    for n, d in wanted.items():
        with open(os.path.join(OUT_DIR, n), "wb") as f:
            f.write(d)
    print(f"wrote {len(wanted)} files, {sum(map(len, wanted.values()))} bytes, to {os.path.relpath(OUT_DIR, ROOT)}")


if __name__ == "__main__":
    main()
