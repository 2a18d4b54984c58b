#!/usr/bin/python3
"""Trains the demo model of `npm run demo`: the brain-segmentation U-Net architecture
(tools/unet_model.py; 1 input channel, 1 output, init_features 4) on SYNTHETIC fluorescence-microscopy
images of cell nuclei, generated here with exact masks. CPU only, a few minutes on 2 cores.

Writes under assets/demo/:
  nuclei_unet.safetensors   the state_dict (F32; num_batches_tracked I64) with training notes in __metadata__
  samples/nuclei_NN.png     held-out images (8-bit gray), never seen in training; two of them have sizes
                            that are not multiples of 16
  truth/nuclei_NN.png       their exact masks (0 / 255)
  torch/nuclei_NN.png       PyTorch's masks for them, made the way `unet segment` makes its masks
  metrics.json              held-out IoU per image (PyTorch), training settings

Preprocessing (the CLI's default, `--normalize zscore`): the 8-bit image's values v in 0..255 become
(v - mean) / std over the image's own pixels (population std, float64, then float32; std 0 -> 1). Inputs
whose sides are not multiples of 16 are padded centred by reflection and the output cropped back, as the
engine does. Mask = probability > 0.5.

Usage: /usr/bin/python3 tools/train_demo.py [--minutes 6] [--seed 1]
"""

import argparse
import json
import math
import os
import struct
import sys
import time
import zlib
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_model import UNet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "assets", "demo")
FEATURES = 4
CROP = 64  # training crops; the network is fully convolutional, so held-out images can be larger
SAMPLE_SIZES = [(128, 128)] * 6 + [(120, 152), (97, 131)]

# ---------------------------------------------------------------------------------------------
# synthetic nuclei


def gaussian_blur(img, sigma):
    r = max(1, int(math.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    p = np.pad(img, r, mode="reflect")
    p = np.apply_along_axis(lambda m: np.convolve(m, k, mode="valid"), 0, p)
    return np.apply_along_axis(lambda m: np.convolve(m, k, mode="valid"), 1, p)


def smooth_noise(rng, h, w, cells):
    """A smooth random field in about [-1, 1]: bilinear upsampling of a coarse grid."""
    g = rng.uniform(-1, 1, size=(cells + 2, cells + 2))
    ys, xs = np.linspace(0, cells, h), np.linspace(0, cells, w)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    a, b = g[y0][:, x0], g[y0][:, x0 + 1]
    c, d = g[y0 + 1][:, x0], g[y0 + 1][:, x0 + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def synth(rng, h, w):
    """One image (uint8, HxW) and its exact mask (bool): nuclei of varied size, shape and brightness,
    some touching, blurred, unevenly lit, with Poisson and Gaussian noise."""
    density = rng.uniform(0.0012, 0.0022)  # nuclei per pixel
    n = max(1, rng.poisson(density * h * w))
    signal = np.zeros((h, w))
    mask = np.zeros((h, w), dtype=bool)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    centres = []
    for _ in range(n):
        a = rng.uniform(5.0, 11.0)
        b = a * rng.uniform(0.6, 1.0)
        for _try in range(20):  # keep most nuclei apart, but let some touch or overlap a little
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            if all(math.hypot(cy - y, cx - x) > 0.85 * (a + r) for y, x, r in centres):
                break
        centres.append((cy, cx, a))
        th = rng.uniform(0, math.pi)
        dy, dx = yy - cy, xx - cx
        u = dx * math.cos(th) + dy * math.sin(th)
        v = -dx * math.sin(th) + dy * math.cos(th)
        phi = np.arctan2(v, u)
        wobble = 1 + rng.uniform(0, 0.12) * np.cos(2 * phi + rng.uniform(0, 6.3)) \
            + rng.uniform(0, 0.08) * np.cos(3 * phi + rng.uniform(0, 6.3))
        inside = np.hypot(u / a, v / b) <= wobble
        bright = rng.uniform(0.45, 1.0)
        texture = 1 + 0.15 * smooth_noise(rng, h, w, max(2, int(max(h, w) / 6)))
        signal = np.where(inside, np.maximum(signal, bright * texture), signal)
        mask |= inside
    img = gaussian_blur(signal, rng.uniform(0.7, 1.3))
    light = 1 + 0.25 * smooth_noise(rng, h, w, 2)  # uneven illumination
    background = rng.uniform(0.04, 0.12) * (1 + 0.5 * smooth_noise(rng, h, w, 3))
    photons = rng.uniform(40, 150)
    img = rng.poisson(np.clip((img * light + background) * photons, 0, None)) / photons
    img = img + rng.normal(0, 0.015, size=img.shape)
    gain = rng.uniform(150, 230)
    return np.clip(np.round(img * gain), 0, 255).astype(np.uint8), mask


# ---------------------------------------------------------------------------------------------
# preprocessing and inference as the engine does them


def zscore(img):
    v = img.astype(np.float64)
    std = v.std()
    return ((v - v.mean()) / (std if std > 0 else 1.0)).astype(np.float32)


def predict(model, img):
    """Probabilities HxW: z-score, reflect-pad centred to multiples of 16, forward, crop."""
    h, w = img.shape
    ph, pw = -(-h // 16) * 16, -(-w // 16) * 16
    top, left = (ph - h) // 2, (pw - w) // 2
    x = np.pad(zscore(img), ((top, ph - h - top), (left, pw - w - left)), mode="reflect")
    with torch.no_grad():
        y = model(torch.from_numpy(x)[None, None])
    return y[0, 0, top : top + h, left : left + w].numpy()


def iou(a, b):
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


# ---------------------------------------------------------------------------------------------
# files


def png_gray8(arr):
    h, w = arr.shape
    raw = b"".join(b"\x00" + arr[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def safetensors_bytes(sd, metadata):
    header = {"__metadata__": metadata}
    blobs, off = [], 0
    for k, v in sd.items():
        arr = v.detach().cpu().numpy()
        dt = "I64" if arr.dtype == np.int64 else "F32"
        b = np.ascontiguousarray(arr, dtype="<i8" if dt == "I64" else "<f4").tobytes()
        header[k] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---------------------------------------------------------------------------------------------


def batch(rng, n):
    xs, ys = [], []
    for _ in range(n):
        img, m = synth(rng, CROP, CROP)
        xs.append(zscore(img))
        ys.append(m.astype(np.float32))
    return torch.from_numpy(np.stack(xs)[:, None]), torch.from_numpy(np.stack(ys)[:, None])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=6.0, help="training time budget (default 6)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    model = UNet(1, 1, FEATURES)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    budget = args.minutes * 60
    t0 = time.time()
    step, seen, loss_avg = 0, 0, None
    while time.time() - t0 < budget:
        # learning rate: cosine from 3e-3 to 1e-4 over the time budget
        frac = min(1.0, (time.time() - t0) / budget)
        for g in opt.param_groups:
            g["lr"] = 1e-4 + 0.5 * (3e-3 - 1e-4) * (1 + math.cos(math.pi * frac))
        x, y = batch(rng, args.batch)
        model.train()
        p = model(x).clamp(1e-6, 1 - 1e-6)
        bce = F.binary_cross_entropy(p, y)
        dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
        loss = bce + dice
        opt.zero_grad()
        loss.backward()
        opt.step()
        step, seen = step + 1, seen + args.batch
        loss_avg = float(loss) if loss_avg is None else 0.95 * loss_avg + 0.05 * float(loss)
        if step % 20 == 0:
            print(f"step {step:4d}  {seen:6d} images  loss {loss_avg:.4f}  {time.time() - t0:5.0f} s", flush=True)
    train_s = time.time() - t0
    model.eval()

    # Held-out samples: a separate seed, never used in training.
    srng = np.random.default_rng(10_000 + args.seed)
    per_image = {}
    for i, (h, w) in enumerate(SAMPLE_SIZES, start=1):
        img, truth = synth(srng, h, w)
        mask = predict(model, img) > 0.5
        name = f"nuclei_{i:02d}"
        per_image[name] = {"size": [h, w], "iou": round(iou(mask, truth), 4), "foreground": round(float(truth.mean()), 4)}
        write(os.path.join(OUT, "samples", f"{name}.png"), png_gray8(img))
        write(os.path.join(OUT, "truth", f"{name}.png"), png_gray8(truth.astype(np.uint8) * 255))
        write(os.path.join(OUT, "torch", f"{name}.png"), png_gray8(mask.astype(np.uint8) * 255))
        print(f"{name} {h}x{w}: IoU {per_image[name]['iou']:.4f}")
    mean_iou = sum(v["iou"] for v in per_image.values()) / len(per_image)
    print(f"mean held-out IoU {mean_iou:.4f} after {step} steps ({seen} images) in {train_s:.0f} s")

    settings = {
        "architecture": "brain-segmentation-pytorch UNet", "in_channels": 1, "out_channels": 1,
        "init_features": FEATURES, "crop": CROP, "batch": args.batch, "steps": step, "images_seen": seen,
        "seconds": round(train_s), "seed": args.seed, "loss": "BCE + Dice", "optimizer": "Adam, cosine lr 3e-3 -> 1e-4",
        "torch_version": torch.__version__,
    }
    meta = {
        "description": "DEMO ONLY: U-Net trained on synthetic fluorescence-microscopy nuclei (tools/train_demo.py)",
        "preprocessing": "per-image z-score of the 0..255 gray values (unet segment --normalize zscore)",
        "training": json.dumps(settings, sort_keys=True),
        "heldout_mean_iou": f"{mean_iou:.4f}",
    }
    sd = OrderedDict(model.state_dict())
    write(os.path.join(OUT, "nuclei_unet.safetensors"), safetensors_bytes(sd, meta))
    metrics = {"heldout_mean_iou": round(mean_iou, 4), "per_image": per_image, "training": settings}
    write(os.path.join(OUT, "metrics.json"), (json.dumps(metrics, indent=2) + "\n").encode())


if __name__ == "__main__":
    main()
