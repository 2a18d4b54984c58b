#!/usr/bin/python3
"""Writes a torchvision-format resnet18 checkpoint, as torchvision's resnet18-f37072fd.pth is laid out
(torch.save of torchvision.models.resnet18().state_dict(): conv1, bn1, layer1..4, fc), with seeded random
weights instead of ImageNet's, for the playground's pretrained-encoder tests (test/playground/). About 45 MB:
written into a temporary folder at test time, never committed.

The file is the same bytes wherever it is made with the same torch / torchvision (its sha256 is in
test/fixtures/playground/pretrained.json): every value comes from numpy's seeded generator (PCG64), never
from torch's RNG, and torch.save writes into memory first, so the zip's folder name is "archive" whatever
the file is called. BatchNorm statistics are randomised too, so that a mix-up of running_mean / running_var
or weight / bias shows.

  /usr/bin/python3 tools/make_torchvision_resnet18.py OUT.pth [--seed 0]

seeded_state_dict() and save_pth() also make tools/smp_playground.py's efficientnet-b* / mobilenet_v2 files.
"""

import argparse
import hashlib
import io
import math

import numpy as np
import torch


def seeded_state_dict(layout, seed):
    """{key: tensor} for an ordered layout [(key, shape, "F32" | "I64")], drawn in that order from
    numpy.random.default_rng(seed): BatchNorms (the keys beside a running_mean) weight U(0.5, 1.5), bias and
    running_mean U(-0.2, 0.2), running_var U(0.5, 2), num_batches_tracked an integer in [1, 1000); other
    tensors of rank >= 2 U(+-sqrt(6 / fan_in)) (the scale of kaiming_uniform for ReLU, so a network of them
    stays finite), other biases U(-0.1, 0.1)."""
    rng = np.random.default_rng(seed)
    keys = {key for key, _, _ in layout}
    out = {}
    for key, shape, dtype in layout:
        prefix, name = key.rsplit(".", 1)
        n = math.prod(shape)
        if dtype == "I64":
            a = rng.integers(1, 1000, size=shape, dtype=np.int64)
        elif dtype != "F32":
            raise SystemExit(f"{key}: dtype {dtype}, expected F32 or I64")
        elif f"{prefix}.running_mean" in keys:
            lo, hi = {"weight": (0.5, 1.5), "running_var": (0.5, 2.0)}.get(name, (-0.2, 0.2))
            a = rng.uniform(lo, hi, size=shape)
        elif len(shape) >= 2:
            bound = math.sqrt(6 / (n // shape[0]))
            a = rng.uniform(-bound, bound, size=shape)
        else:
            a = rng.uniform(-0.1, 0.1, size=shape)
        # np.array, not ascontiguousarray: that makes a 0-d array (num_batches_tracked) 1-d
        out[key] = torch.from_numpy(np.array(a, dtype=np.int64 if dtype == "I64" else np.float32, order="C").reshape(shape))
    return out


def layout_of(state_dict):
    """[(key, shape, "F32" | "I64")] of a state_dict, in its order."""
    names = {torch.float32: "F32", torch.int64: "I64"}
    return [(k, list(v.shape), names[v.dtype]) for k, v in state_dict.items()]


def save_pth(state_dict, out):
    """torch.save into memory, then the bytes to `out`: the zip's top folder is then "archive" (torch names it
    after the file otherwise, so two names would give two sha256s). Returns the bytes' sha256."""
    buf = io.BytesIO()
    torch.save(state_dict, buf)
    data = buf.getvalue()
    with open(out, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def fill_module_state(model, seed):
    """The module's own state_dict (an OrderedDict with torch's _metadata, as torchvision's files are saved)
    with every tensor overwritten from seeded_state_dict."""
    sd = model.state_dict()
    values = seeded_state_dict(layout_of(sd), seed)
    with torch.no_grad():
        for k, v in sd.items():
            v.copy_(values[k])
    return sd


def main():
    import torchvision

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sd = fill_module_state(torchvision.models.resnet18(), args.seed)
    sha = save_pth(sd, args.out)
    print(f"{args.out}: torchvision {torchvision.__version__} resnet18, seed {args.seed}, {len(sd)} tensors, sha256 {sha}")


if __name__ == "__main__":
    main()
