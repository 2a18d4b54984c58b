#!/usr/bin/python3
"""Reference fixtures for webgpu-unet, computed with PyTorch.

For each config NAME this writes, under test/fixtures/:
  NAME.weights.safetensors  the U-Net state_dict exactly (all keys; F32, num_batches_tracked I64)
  NAME.io.safetensors       `input` (F32 NCHW) and `output` (F32 NCHW, sigmoid probabilities)

The model (tools/unet_model.py) is the brain-segmentation-pytorch U-Net with random weights and
BatchNorm running statistics far from identity, in eval mode. The reference output is computed in
float64 (a float64 copy of the f32 weights and f32 input) and only then cast to float32, so it
carries no f32 rounding noise of its own.

Usage (run with Debian's torch: /usr/bin/python3):
  /usr/bin/python3 tools/make_fixtures.py            # (re)write the committed fixtures
  /usr/bin/python3 tools/make_fixtures.py --check    # verify committed fixtures are up to date
  /usr/bin/python3 tools/make_fixtures.py --full .cache/full --image /work/shared/data/TCGA_CS_4944.png
      # full-size model (init_features 32, 256x256, ~31 MB; not committed), plus `input_mri` /
      # `output_mri` from a real brain-MRI slice when --image is given
  (--check --full DIR checks the full-size files in DIR instead.)
"""

import argparse
import json
import math
import os
import struct
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_model import UNet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_DIR = os.path.join(ROOT, "test", "fixtures")
SCRIPT = "tools/make_fixtures.py"
FORMAT_VERSION = "1"

# name: (in_channels, out_channels, init_features, N, H, W, seed). H and W are multiples of 16.
CONFIGS = {
    "b2_rgb": (3, 1, 4, 2, 32, 32, 1001),
    "gray": (1, 1, 4, 1, 48, 48, 1002),
    "out2": (3, 2, 4, 1, 32, 32, 1003),
    "nonsquare_f6": (3, 1, 6, 1, 32, 80, 1004),  # channel counts 6, 12, 24, 48, 96
    "f5_odd": (2, 3, 5, 1, 16, 48, 1005),  # channel counts 5, 10, 20, 40, 80
}
FULL_CONFIGS = {"full256": (3, 1, 32, 1, 256, 256, 2001)}

# A sigmoid output is "unsaturated" in [LO, HI]; at least MIN_UNSAT of them must be.
SAT_LO, SAT_HI, MIN_UNSAT = 0.02, 0.98, 0.30
# Target std of the head's logits (see build()); ~95% of a N(0, 2^2) lies inside [logit(0.02), logit(0.98)].
LOGIT_STD = 2.0
# --check: weights and inputs must be bit-identical; outputs may differ by this much (float64
# summation order can vary with BLAS threading, which can flip the last f32 bit).
CHECK_OUTPUT_TOL = 1e-6


# ---------------------------------------------------------------------------------------------
# safetensors (own writer/reader: 8-byte LE header length, JSON header padded with spaces to a
# multiple of 8, then the raw little-endian tensor bytes in order, contiguous)

DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"), "U8": np.dtype("u1")}
# numpy dtypes of the arrays written, and torch dtypes of the tensors written, as safetensors names them
NP_ST_DTYPES = {np.dtype("float32"): "F32", np.dtype("int64"): "I64", np.dtype("uint8"): "U8"}
TORCH_ST_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64", torch.bool: "BOOL",
}


def _tensor_bytes(t):
    """(safetensors dtype, little-endian contiguous bytes) of a numpy array or a torch tensor (BF16 through
    its bits: numpy has no bfloat16)."""
    if isinstance(t, torch.Tensor):
        t = t.detach().contiguous()
        dt = TORCH_ST_DTYPES[t.dtype]
        return dt, (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
    dt = NP_ST_DTYPES[t.dtype]
    return dt, np.ascontiguousarray(t, dtype=DTYPES[dt]).tobytes()


def safetensors_bytes(tensors, metadata):
    """A safetensors file of numpy arrays or torch tensors, in order; header padded to 8 bytes."""
    header = {"__metadata__": dict(metadata)}
    blobs, off = [], 0
    for name, t in tensors.items():
        dt, b = _tensor_bytes(t)
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    body = data[8 + n :]
    tensors, end = {}, 0
    for name, info in header.items():
        b, e = info["data_offsets"]
        arr = np.frombuffer(body[b:e], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        tensors[name] = arr
        end = max(end, e)
    if end != len(body):
        raise ValueError(f"{path}: data section is {len(body)} bytes, header covers {end}")
    return tensors, metadata


# ---------------------------------------------------------------------------------------------
# model and data


def init_weights(model):
    """Random weights; uses the global torch RNG (seeded by the caller)."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.ConvTranspose2d):
                # weight [in, out, 2, 2], stride 2: each output pixel sees `in` inputs through one
                # kernel tap, so the effective fan-in is `in` (the input follows a ReLU).
                m.weight.normal_(0.0, math.sqrt(2.0 / m.weight.shape[0]))
                m.bias.normal_(0.0, 0.1)
            elif isinstance(m, nn.Conv2d):
                fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
                # kaiming-normal for fan_in (inputs follow a ReLU, except the network input;
                # the head's gain 1 keeps the logits near unit scale)
                gain = 1.0 if name == "conv" else 2.0
                m.weight.normal_(0.0, math.sqrt(gain / fan_in))
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.normal_(0.0, 0.5)
                m.running_var.uniform_(0.25, 4.0)
                gamma = torch.empty(c).uniform_(0.5, 1.5)
                sign = torch.where(torch.rand(c) < 0.2, -1.0, 1.0)
                m.weight.copy_(gamma * sign)
                m.bias.normal_(0.0, 0.3)
                m.num_batches_tracked.fill_(int(torch.randint(1, 100000, ()).item()))
    model.eval()


def make_input(n, c, h, w):
    """A smooth random field (bilinearly upsampled coarse noise) plus some white noise, f32."""
    coarse = torch.randn(n, c, max(h // 8, 1), max(w // 8, 1))
    smooth = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return (smooth + 0.3 * torch.randn(n, c, h, w)).float().contiguous()


def reference(model, x):
    """Float64 forward of a float64 copy of the (f32) model, cast to f32 at the end."""
    m64 = _clone(model).double().eval()
    with torch.no_grad():
        return m64(x.double()).float()


def logits64(model, x):
    """Float64 pre-sigmoid output (head conv) of a float64 copy of the model."""
    m64 = _clone(model).double().eval()
    with torch.no_grad():
        return torch.logit(m64(x.double()))


def _clone(model):
    enc = model.encoder1[0]
    m = UNet(enc.in_channels, model.conv.out_channels, enc.out_channels)
    m.load_state_dict(model.state_dict())
    return m


def unsaturated(y):
    return float(((y >= SAT_LO) & (y <= SAT_HI)).double().mean())


# ---------------------------------------------------------------------------------------------
# PNG (for --image): PIL when available, else a minimal decoder for 8-bit non-interlaced
# grayscale / RGB / RGBA images.


def _png_decode_minimal(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if zlib.crc32(ctype + chunk) != struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]:
            raise ValueError(f"bad CRC in chunk {ctype!r}")
        pos += 12 + length
        if ctype == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", chunk)
        elif ctype == b"IDAT":
            idat.append(chunk)
        elif ctype == b"IEND":
            break
    w, h, depth, color, _, _, interlace = ihdr
    ch = {0: 1, 2: 3, 6: 4}.get(color)
    if depth != 8 or ch is None or interlace != 0:
        raise ValueError(f"unsupported PNG (depth {depth}, color type {color}, interlace {interlace})")
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(h, 1 + w * ch)
    out = np.zeros((h, w * ch), dtype=np.int32)
    prev = np.zeros(w * ch, dtype=np.int32)
    for y in range(h):
        ft, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        cur = np.zeros(w * ch, dtype=np.int32)
        if ft == 0:
            cur = line
        elif ft == 2:
            cur = (line + prev) & 255
        elif ft in (1, 3, 4):
            for i in range(w * ch):  # sequential dependency on the left neighbour
                a = cur[i - ch] if i >= ch else 0
                b, c = prev[i], (prev[i - ch] if i >= ch else 0)
                if ft == 1:
                    p = a
                elif ft == 3:
                    p = (a + b) >> 1
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                cur[i] = (line[i] + p) & 255
        else:
            raise ValueError(f"bad PNG filter type {ft}")
        out[y] = cur
        prev = cur
    return out.reshape(h, w, ch).astype(np.uint8)


def load_png_rgb(path):
    """HxWx3 uint8, or None (with a message) if it cannot be decoded."""
    try:
        from PIL import Image

        img, how = np.asarray(Image.open(path).convert("RGB")), "PIL"
    except ImportError:
        try:
            img, how = _png_decode_minimal(path), "built-in PNG decoder (PIL not installed)"
        except Exception as e:  # noqa: BLE001
            print(f"skipping --image {path}: PIL not installed and built-in decoder failed: {e}")
            return None
        if img.shape[2] == 1:
            img = np.repeat(img, 3, axis=2)
        img = img[:, :, :3]
    print(f"decoded {path} with {how}: {img.shape[1]}x{img.shape[0]}")
    return img


def mri_input(img):
    """Per-channel standardization, as the brain U-Net hub example intends: channel c becomes
    (v - mean_c) / std_c with v the 0..255 pixel values and mean/std (population, ddof=0) over all
    H*W pixels of that channel, in float64, cast to f32. Shape [1, 3, H, W].
    (The hub example computes mean/std on 0..255 values but applies them after ToTensor's /255;
    we use the consistent scale.)"""
    v = img.astype(np.float64)
    v = (v - v.mean(axis=(0, 1))) / v.std(axis=(0, 1))
    return torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1)[None])).float()


# ---------------------------------------------------------------------------------------------


def build(name, cfg, image=None):
    """Returns (weights tensors, io tensors, metadata, notes) for one config."""
    cin, cout, feat, n, h, w, seed = cfg
    assert h % 16 == 0 and w % 16 == 0, name
    torch.manual_seed(seed)
    model = UNet(cin, cout, feat)
    init_weights(model)
    x = make_input(n, cin, h, w)

    notes = []
    # Spread the outputs over the sigmoid's useful range. With the raw random head the outputs
    # cluster in a narrow band (near 0.5, where the sigmoid's slope of 1/4 hides errors, or off to
    # one side because decoder1's post-ReLU features have a nonzero mean). So, per output channel
    # c, on this input: scale the head weights so z_c = W_c . dec1 has std LOGIT_STD, and subtract
    # the scaled mean of z_c from the random N(0, 0.1) bias, centring the logits near 0.
    with torch.no_grad():
        b = model.conv.bias.double().view(1, -1, 1, 1)
        z = logits64(model, x) - b
        sc = LOGIT_STD / z.std(dim=(0, 2, 3))
        model.conv.weight.mul_(sc.view(-1, 1, 1, 1).float())
        model.conv.bias.sub_((sc * z.mean(dim=(0, 2, 3))).float())
    notes.append("head scale " + ",".join(f"{v:.3g}" for v in sc.tolist()))
    y = reference(model, x)
    # Guard: if the sigmoid still saturates (e.g. a large head bias), shrink the head 1x1 conv
    # weights until it doesn't (a fixture with every output at 0 or 1 tests nothing). The scaled
    # weights are what gets written.
    while unsaturated(y) < MIN_UNSAT:
        with torch.no_grad():
            model.conv.weight.mul_(0.5)
        notes.append("head*0.5")
        y = reference(model, x)

    # Headroom indicator: how far PyTorch's own float32 forward lands from the reference.
    with torch.no_grad():
        notes.append(f"torch f32 max|d| {float((model(x) - y).abs().max()):.2g}")

    weights = {}
    for k, v in model.state_dict().items():
        arr = v.detach().cpu().numpy()
        weights[k] = arr.astype(np.int64) if k.endswith("num_batches_tracked") else arr.astype(np.float32)
    io = {"input": x.numpy(), "output": y.numpy()}

    config = {"in_channels": cin, "out_channels": cout, "init_features": feat, "N": n, "H": h, "W": w, "seed": seed}
    meta = {
        "torch_version": torch.__version__,
        "script": SCRIPT,
        "config": json.dumps(config, sort_keys=True),
        "format_version": FORMAT_VERSION,
    }
    io_meta = dict(meta)

    if image is not None:
        img = load_png_rgb(image)
        if img is not None:
            xm = mri_input(img)
            if tuple(xm.shape[2:]) != (h, w):
                raise SystemExit(f"--image is {tuple(xm.shape[2:])}, {name} expects {(h, w)}")
            ym = reference(model, xm)
            io["input_mri"], io["output_mri"] = xm.numpy(), ym.numpy()
            io_meta["input_mri"] = (
                f"{os.path.basename(image)}: RGB 0..255, per channel (v - mean)/std "
                "(population std over HxW, float64), NCHW"
            )
    return weights, io, meta, io_meta, notes


# Padding fixtures: inputs whose H, W are not multiples of 16, run by the engine padded (centred, to the
# next multiples of 16) and cropped back. name: (padding mode, N, H, W, seed). The b2_rgb model is used.
PAD_CASES = {
    "reflect": ("reflect", 1, 27, 41, 3001),
    "zero": ("constant", 2, 20, 33, 3002),
    # borders wider than the image: numpy's 'reflect' keeps mirroring (PyTorch's F.pad would refuse)
    "fold": ("reflect", 1, 5, 7, 3003),
}


def build_pad(weights, meta):
    """io tensors input_<case> / output_<case>: output = model(pad(input))[crop], in float64."""
    cin = weights["encoder1.enc1conv1.weight"].shape[1]
    feat = weights["encoder1.enc1conv1.weight"].shape[0]
    model = UNet(cin, weights["conv.weight"].shape[0], feat)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    model.eval()
    io, cases = {}, {}
    for case, (mode, n, h, w, seed) in PAD_CASES.items():
        torch.manual_seed(seed)
        x = make_input(n, cin, h, w)
        ph, pw = -(-h // 16) * 16, -(-w // 16) * 16
        top, left = (ph - h) // 2, (pw - w) // 2
        widths = ((0, 0), (0, 0), (top, ph - h - top), (left, pw - w - left))
        xp = torch.from_numpy(np.pad(x.numpy(), widths, mode=mode))
        y = reference(model, xp)[:, :, top:top + h, left:left + w].contiguous()
        io[f"input_{case}"], io[f"output_{case}"] = x.numpy(), y.numpy()
        cases[case] = {"mode": "zero" if mode == "constant" else mode, "top": top, "left": left, "padded": [ph, pw]}
    io_meta = dict(meta, pad_cases=json.dumps(cases, sort_keys=True), model="b2_rgb.weights.safetensors")
    return io, io_meta


def describe(name, weights, io, sizes, notes):
    y = io["output"]
    line = (
        f"{name}: input {list(io['input'].shape)} output {list(y.shape)} "
        f"weights {len(weights)} tensors {sizes[0]} B, io {sizes[1]} B; "
        f"output min {y.min():.4g} max {y.max():.4g} mean {y.mean():.4g} "
        f"unsaturated {unsaturated(torch.from_numpy(y)):.3f}"
    )
    if "output_mri" in io:
        ym = io["output_mri"]
        line += (
            f"; output_mri min {ym.min():.4g} max {ym.max():.4g} mean {ym.mean():.4g} "
            f"unsaturated {unsaturated(torch.from_numpy(ym)):.3f}"
        )
    if notes:
        line += f" [{', '.join(notes)}]"
    print(line)


def compare(path, want_tensors, want_meta):
    """Returns a list of problems (empty if the file matches)."""
    if not os.path.exists(path):
        return [f"{path}: missing"]
    try:
        got, meta = read_safetensors(path)
    except Exception as e:  # noqa: BLE001
        return [f"{path}: unreadable: {e}"]
    errs = []
    if list(got) != list(want_tensors):
        errs.append(f"{path}: tensor names differ: {list(got)} vs {list(want_tensors)}")
        return errs
    for k, want in want_tensors.items():
        g = got[k]
        if g.dtype != want.dtype or g.shape != want.shape:
            errs.append(f"{path}: {k}: {g.dtype}{list(g.shape)} vs {want.dtype}{list(want.shape)}")
        elif k.startswith("output"):
            d = float(np.max(np.abs(g.astype(np.float64) - want.astype(np.float64)))) if g.size else 0.0
            if d > CHECK_OUTPUT_TOL:
                errs.append(f"{path}: {k}: max |diff| {d:.3g} > {CHECK_OUTPUT_TOL}")
        elif g.tobytes() != want.tobytes():
            errs.append(f"{path}: {k}: values differ")
    for k in sorted(set(meta) | set(want_meta)):
        if meta.get(k) != want_meta.get(k):
            msg = f"{path}: metadata {k}: {meta.get(k)!r} vs {want_meta.get(k)!r}"
            if k == "torch_version":
                print("warning: " + msg)
            else:
                errs.append(msg)
    return errs


def fixture_main(path, script, cases, label, doc):
    """main() of an op-fixture script (tools/make_op_fixtures.py, tools/make_nd_op_fixtures.py): writes, or with
    --check verifies, one safetensors file at `path` holding every case of `cases()` (NAME -> (spec, tensors)) as
    tensors `NAME.KEY` and `__metadata__["cases"]`, a JSON object of NAME -> spec. `label` names the fixtures
    in the --check verdict, `doc` is the script's usage text."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    tensors, specs = {}, {}
    for name, (spec, t) in cases().items():
        specs[name] = spec
        for k, v in t.items():
            tensors[f"{name}.{k}"] = v.contiguous().numpy()
    meta = {"torch_version": torch.__version__, "script": script, "format_version": "1", "cases": json.dumps(specs, sort_keys=True)}
    if args.check:
        errs = compare(path, tensors, meta)
        for e in errs:
            print("error: " + e, file=sys.stderr)
        print(f"{label} fixtures match" if not errs else f"{label} fixtures are stale")
        return 1 if errs else 0
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(safetensors_bytes(tensors, meta))
    print(f"wrote {path}: {len(specs)} cases, {os.path.getsize(path)} bytes")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", metavar="DIR", help="write (or --check) the full-size model into DIR")
    ap.add_argument("--image", metavar="PATH", help="with --full: 256x256 RGB PNG for input_mri/output_mri")
    ap.add_argument("--check", action="store_true", help="verify existing files instead of writing")
    args = ap.parse_args()
    if args.image and not args.full:
        ap.error("--image only applies with --full")

    configs, outdir = (FULL_CONFIGS, args.full) if args.full else (CONFIGS, FIXTURE_DIR)
    if not args.check:
        os.makedirs(outdir, exist_ok=True)

    errs = []
    for name, cfg in configs.items():
        weights, io, meta, io_meta, notes = build(name, cfg, args.image)
        wpath = os.path.join(outdir, f"{name}.weights.safetensors")
        iopath = os.path.join(outdir, f"{name}.io.safetensors")
        if args.check:
            e = compare(wpath, weights, meta) + compare(iopath, io, io_meta)
            if args.full and not args.image and any("input_mri" in m for m in e):
                e.append(f"{iopath} was made with --image; pass the same --image to check it")
            errs += e
            sizes = [os.path.getsize(p) if os.path.exists(p) else 0 for p in (wpath, iopath)]
            print("STALE " if e else "ok    ", end="")
            describe(name, weights, io, sizes, notes)
        else:
            wb, iob = safetensors_bytes(weights, meta), safetensors_bytes(io, io_meta)
            with open(wpath, "wb") as f:
                f.write(wb)
            with open(iopath, "wb") as f:
                f.write(iob)
            describe(name, weights, io, (len(wb), len(iob)), notes)

    if not args.full:
        weights, _, meta, _, _ = build("b2_rgb", CONFIGS["b2_rgb"])
        io, io_meta = build_pad(weights, meta)
        iopath = os.path.join(outdir, "pad.io.safetensors")
        if args.check:
            e = compare(iopath, io, io_meta)
            errs += e
            print(("STALE " if e else "ok    ") + f"pad: {', '.join(PAD_CASES)} on b2_rgb")
        else:
            with open(iopath, "wb") as f:
                f.write(safetensors_bytes(io, io_meta))
            print(f"pad: {', '.join(PAD_CASES)} on b2_rgb -> {iopath}")

    if errs:
        for e in errs:
            print("error: " + e, file=sys.stderr)
        print("fixtures are stale: regenerate with /usr/bin/python3 tools/make_fixtures.py", file=sys.stderr)
        sys.exit(1)
    if args.check:
        print("all fixtures match")


if __name__ == "__main__":
    main()
