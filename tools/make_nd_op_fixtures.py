#!/usr/bin/python3
"""PyTorch's own ops for the kernels nnU-Net's networks need (2D and 3D), on small odd-sized inputs:
conv3d (per-axis kernels, strides and padding, residual, LeakyReLU), conv_transpose2d / 3d with kernel =
stride, instance_norm (affine far from identity, then residual and LeakyReLU), avg_pool2d / 3d with kernel =
stride, and leaky_relu.

Writes test/fixtures/ops/nd_ops.safetensors in the format of tools/make_op_fixtures.py: for each case NAME
the tensors `NAME.input`, `NAME.output` and its parameters (`NAME.weight`, `NAME.bias`, `NAME.residual`);
`__metadata__["cases"]` is a JSON object of NAME -> the op and its settings. Outputs are computed in float64
from the f32 inputs, then cast to f32.

  /usr/bin/python3 tools/make_nd_op_fixtures.py           # (re)write
  /usr/bin/python3 tools/make_nd_op_fixtures.py --check   # verify the committed file is current
"""

import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import fixture_main  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = os.path.join(ROOT, "test", "fixtures", "ops", "nd_ops.safetensors")
SCRIPT = "tools/make_nd_op_fixtures.py"


def activation(name, y):
    """The engine's Activation names (src/ir/types.ts) as PyTorch computes them."""
    if name == "none":
        return y
    if name == "relu":
        return F.relu(y)
    if name.startswith("leakyRelu:"):
        return F.leaky_relu(y, float(name.split(":")[1]))
    raise ValueError(name)


def cases():
    g = torch.Generator().manual_seed(19)

    def rand(*shape, scale=1.0, offset=0.0):
        return ((torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * scale + offset).float()

    out = {}

    def conv3d(name, N, C, D, H, W, CO, k, stride, pad, act="none", residual=False, bias=True):
        x = rand(N, C, D, H, W)
        fan = C * k[0] * k[1] * k[2]
        w = rand(CO, C, *k, scale=(3.0 / fan) ** 0.5 * 2)
        t = {"input": x, "weight": w}
        b = None
        if bias:
            b = rand(CO, scale=0.3)
            t["bias"] = b
        y = F.conv3d(x.double(), w.double(), None if b is None else b.double(), stride=stride, padding=pad)
        if residual:
            r = rand(*y.shape)
            t["residual"] = r
            y = y + r.double()
        t["output"] = activation(act, y).float()
        out[name] = (dict(op="conv3d", kernel=list(k), stride=list(stride), padding=list(pad), activation=act, residual=residual, bias=bias), t)

    conv3d("conv3d_k333_leaky", 1, 3, 5, 6, 7, 8, (3, 3, 3), (1, 1, 1), (1, 1, 1), act="leakyRelu:0.01")
    conv3d("conv3d_k133_s122", 1, 4, 3, 9, 8, 6, (1, 3, 3), (1, 2, 2), (0, 1, 1))
    conv3d("conv3d_k333_s2_odd_relu", 2, 5, 7, 5, 6, 4, (3, 3, 3), (2, 2, 2), (1, 1, 1), act="relu")
    conv3d("conv3d_k111", 1, 6, 3, 4, 5, 3, (1, 1, 1), (1, 1, 1), (0, 0, 0), bias=False)
    conv3d("conv3d_residual_leaky", 1, 8, 4, 5, 6, 8, (3, 3, 3), (1, 1, 1), (1, 1, 1), act="leakyRelu:0.2", residual=True)
    conv3d("conv3d_stem_c1", 1, 1, 6, 7, 5, 16, (3, 3, 3), (1, 1, 1), (1, 1, 1), bias=False)
    conv3d("conv3d_k313_s212", 1, 4, 6, 5, 7, 5, (3, 1, 3), (2, 1, 2), (1, 0, 1))
    conv3d("conv3d_c32_to_c12", 1, 32, 3, 4, 5, 12, (3, 3, 3), (1, 1, 1), (1, 1, 1), act="leakyRelu:0.01")

    def convt(name, shape, CO, k, bias=True):
        x = rand(*shape)
        C = shape[1]
        w = rand(C, CO, *k, scale=(3.0 / C) ** 0.5)
        t = {"input": x, "weight": w}
        b = None
        if bias:
            b = rand(CO, scale=0.3)
            t["bias"] = b
        f = F.conv_transpose2d if len(k) == 2 else F.conv_transpose3d
        t["output"] = f(x.double(), w.double(), None if b is None else b.double(), stride=k).float()
        out[name] = (dict(op="convTransposeStrided", kernel=list(k), bias=bias), t)

    convt("convt2d_k22", (1, 6, 5, 4), 4, (2, 2))
    convt("convt2d_k12_nobias", (2, 5, 3, 5), 3, (1, 2), bias=False)
    convt("convt3d_k222", (1, 8, 3, 4, 5), 4, (2, 2, 2))
    convt("convt3d_k122", (1, 5, 2, 3, 4), 6, (1, 2, 2))
    convt("convt3d_k212_n2", (2, 3, 2, 2, 3), 2, (2, 1, 2), bias=False)
    convt("convt3d_c32_k222", (1, 32, 2, 3, 3), 16, (2, 2, 2))

    def inorm(name, shape, act="none", residual=False, eps=1e-5, offset=0.0, scale=1.0):
        x = rand(*shape, scale=scale, offset=offset)
        C = shape[1]
        # affines far from identity, some negative
        w = rand(C, scale=2.0)
        b = rand(C, scale=1.0)
        t = {"input": x, "weight": w, "bias": b}
        y = F.instance_norm(x.double(), weight=w.double(), bias=b.double(), eps=eps)
        if residual:
            r = rand(*shape)
            t["residual"] = r
            y = y + r.double()
        t["output"] = activation(act, y).float()
        out[name] = (dict(op="instanceNorm", eps=eps, activation=act, residual=residual), t)

    inorm("inorm2d_c5_leaky", (2, 5, 7, 9), act="leakyRelu:0.01")
    inorm("inorm2d_c8", (1, 8, 6, 5))
    inorm("inorm3d_c6_leaky", (1, 6, 5, 6, 7), act="leakyRelu:0.01")
    inorm("inorm3d_residual_leaky", (2, 4, 3, 5, 4), act="leakyRelu:0.01", residual=True)
    inorm("inorm3d_offset_eps1e-3", (1, 3, 4, 5, 6), eps=1e-3, offset=50.0)
    # enough voxels per channel (7200) for a reduction across several workgroups
    inorm("inorm3d_many_voxels", (1, 2, 12, 24, 25), act="leakyRelu:0.01", scale=3.0, offset=-2.0)
    inorm("inorm2d_c1", (1, 1, 9, 11))

    def avgpool(name, shape, k):
        x = rand(*shape)
        f = F.avg_pool2d if len(k) == 2 else F.avg_pool3d
        out[name] = (dict(op="avgPool", kernel=list(k)), {"input": x, "output": f(x.double(), k, k).float()})

    avgpool("avgpool2d_k22", (1, 5, 6, 8), (2, 2))
    avgpool("avgpool2d_k22_odd", (1, 3, 7, 9), (2, 2))
    avgpool("avgpool3d_k222", (1, 4, 4, 6, 8), (2, 2, 2))
    avgpool("avgpool3d_k122_n2", (2, 3, 3, 6, 5), (1, 2, 2))
    avgpool("avgpool3d_k212_c9", (1, 9, 5, 4, 7), (2, 1, 2))

    big = torch.tensor([-3e38, -1e5, -100.0, -20.0, -1.0, -0.0, 0.0, 0.5, 1.0, 20.0, 1e5, 3e38], dtype=torch.float32)
    x = torch.cat([big, rand(1 * 3 * 2 * 3 * 4 - big.numel(), scale=6.0)]).reshape(1, 3, 2, 3, 4)
    for slope in ("0.01", "0.2"):
        out[f"leaky_relu_{slope}_3d"] = (dict(op="activation", fn=f"leakyRelu:{slope}"), {"input": x, "output": F.leaky_relu(x.double(), float(slope)).float()})
    return out


if __name__ == "__main__":
    sys.exit(fixture_main(PATH, SCRIPT, cases, "nd op", __doc__))
