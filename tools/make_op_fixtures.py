#!/usr/bin/python3
"""PyTorch's own ops on small random inputs, for testing each engine op against torch itself (not only
against our CPU references, which could share a misreading of e.g. "nearest" with the kernels).

Writes test/fixtures/ops/ops.safetensors: for each case NAME the tensors `NAME.input`, `NAME.output`
and the case's parameters (`NAME.weight`, `NAME.bias`, ...); `__metadata__["cases"]` is a JSON object
of NAME -> the op and its settings, read by test/ops/torchOps.test.ts. Outputs are computed in float64
from the f32 inputs, then cast to f32.

  /usr/bin/python3 tools/make_op_fixtures.py           # (re)write
  /usr/bin/python3 tools/make_op_fixtures.py --check   # verify the committed file is current
"""

import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import fixture_main  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = os.path.join(ROOT, "test", "fixtures", "ops", "ops.safetensors")
SCRIPT = "tools/make_op_fixtures.py"
# the engine's activations (src/kernels/common.ts Activation) as PyTorch computes them
ACTIVATIONS = {"none": lambda y: y, "relu": F.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "silu": F.silu}


def cases():
    g = torch.Generator().manual_seed(7)

    def rand(*shape, scale=1.0):
        return ((torch.rand(*shape, generator=g, dtype=torch.float64) * 2 - 1) * scale).float()

    out = {}

    def conv(name, N, C, H, W, CO, k, stride, pad, groups=1, act="none", residual=False, gain=1.0):
        """pad: symmetric int, or (top, bottom, left, right) applied with F.pad first. gain scales the
        weights (outputs of std ~gain)."""
        x = rand(N, C, H, W)
        w = rand(CO, C // groups, k, k, scale=gain * (3.0 / (C // groups * k * k)) ** 0.5)
        b = rand(CO, scale=0.2)
        t = {"input": x, "weight": w, "bias": b}
        x64 = x.double()
        if isinstance(pad, tuple):
            top, bottom, left, right = pad
            y = F.conv2d(F.pad(x64, (left, right, top, bottom)), w.double(), b.double(), stride=stride, groups=groups)
        else:
            y = F.conv2d(x64, w.double(), b.double(), stride=stride, padding=pad, groups=groups)
        if residual:
            r = rand(*y.shape)
            t["residual"] = r
            y = y + r.double()
        y = ACTIVATIONS[act](y)
        t["output"] = y.float()
        spec = dict(op="conv2d", stride=stride, groups=groups, activation=act, residual=residual, kernel=k)
        spec["padding"] = list(pad) if isinstance(pad, tuple) else [pad] * 4
        out[name] = (spec, t)

    conv("conv_groups4", 1, 16, 7, 9, 16, 3, 2, 1, groups=4, act="relu")
    conv("conv_groups2_c8", 2, 8, 6, 5, 8, 3, 1, 1, groups=2)
    conv("conv_groups32_resnext", 1, 128, 5, 6, 128, 3, 1, 1, groups=32, act="relu")
    conv("conv_k7s2p3", 1, 3, 13, 11, 8, 7, 2, 3, act="relu")
    conv("conv_same_asym", 1, 4, 9, 8, 6, 3, 2, (0, 1, 0, 1))
    conv("conv_residual_relu", 2, 5, 6, 7, 6, 3, 1, 1, act="relu", residual=True)
    conv("conv_sigmoid_c3", 1, 4, 5, 5, 3, 3, 1, 1, act="sigmoid")
    conv("conv_tanh_c5", 1, 4, 5, 6, 5, 1, 1, 0, act="tanh")
    # 3x3 stride 1 on >= 8 input channels: what the Winograd variants take (the test runs every conv case
    # with each algorithm the tuner may pick)
    conv("conv3_c16_winograd", 2, 16, 11, 13, 24, 3, 1, 1, act="relu")
    conv("conv3_c12_residual", 1, 12, 9, 10, 12, 3, 1, 1, act="relu", residual=True)
    conv("conv3_c10_asym", 1, 10, 8, 9, 7, 3, 1, (0, 2, 1, 0))
    # depthwise (groups = channels), as EfficientNet's MBConv: 3x3 and 5x5, stride 1 and 2, "same" padding
    conv("dw3_s1_silu_c12", 2, 12, 9, 7, 12, 3, 1, 1, groups=12, act="silu")
    conv("dw5_s2_same_c8", 1, 8, 13, 11, 8, 5, 2, (1, 2, 1, 2), groups=8)
    conv("dw3_s2_same_c6", 1, 6, 10, 9, 6, 3, 2, (0, 1, 0, 1), groups=6, act="silu")

    for name, shape, k, s, p in [("maxpool_k3s2p1_7x9", (1, 5, 7, 9), 3, 2, 1), ("maxpool_k3s2p1_13x11", (2, 4, 13, 11), 3, 2, 1), ("maxpool_k2s2_odd", (1, 3, 7, 5), 2, 2, 0)]:
        x = rand(*shape) - 0.5  # mostly negative: -inf padding matters
        out[name] = (dict(op="maxPool2d", kernel=k, stride=s, padding=p), {"input": x, "output": F.max_pool2d(x.double(), k, s, p).float()})

    for mode in ("nearest", "bilinear"):
        for shape, size in [((1, 5, 5, 7), (11, 13)), ((1, 4, 8, 8), (16, 16)), ((1, 3, 9, 11), (17, 21)), ((1, 4, 17, 21), (9, 11)), ((2, 2, 2, 3), (4, 5))]:
            x = rand(*shape)
            kw = {} if mode == "nearest" else {"align_corners": False}
            # float64 (nearest_idx computes its source index in float whatever the dtype, as the engine)
            y = F.interpolate(x.double(), size=size, mode=mode, **kw)
            name = f"resize_{mode}_{shape[2]}x{shape[3]}_to_{size[0]}x{size[1]}"
            out[name] = (dict(op="resize", mode=mode, size=list(size)), {"input": x, "output": y.float()})

    x = rand(2, 6, 9, 7)
    out["global_avg_pool"] = (dict(op="globalAvgPool"), {"input": x, "output": F.adaptive_avg_pool2d(x.double(), 1).float()})

    for name, shape, scale in [("softmax_c3", (1, 3, 5, 6), 4.0), ("softmax_c5_large", (2, 5, 4, 4), 300.0)]:
        x = rand(*shape, scale=scale)
        out[name] = (dict(op="softmax", log=False), {"input": x, "output": torch.softmax(x.double(), 1).float()})
        out["log" + name] = (dict(op="softmax", log=True), {"input": x, "output": torch.log_softmax(x.double(), 1).float()})

    big = torch.tensor([-3e38, -1e5, -100.0, -20.0, -1.0, 0.0, 0.5, 1.0, 20.0, 100.0, 1e5, 3e38], dtype=torch.float32)
    x = torch.cat([big, rand(1 * 4 * 3 * 4 - big.numel(), scale=6.0)]).reshape(1, 4, 3, 4)
    for act, f in ((a, ACTIVATIONS[a]) for a in ("relu", "sigmoid", "tanh", "silu")):
        out[f"activation_{act}"] = (dict(op="activation", fn=act), {"input": x, "output": f(x.double()).float()})

    # smp's SCSE module (reduction 16): x * cSE(x) + x * sSE(x)
    C = 32
    x = rand(1, C, 5, 6)
    w1, b1 = rand(C // 16, C, 1, 1, scale=0.5), rand(C // 16, scale=0.2)
    w2, b2 = rand(C, C // 16, 1, 1, scale=0.5), rand(C, scale=0.2)
    ws, bs = rand(1, C, 1, 1, scale=0.5), rand(1, scale=0.2)
    d = x.double()
    cse = torch.sigmoid(F.conv2d(F.relu(F.conv2d(F.adaptive_avg_pool2d(d, 1), w1.double(), b1.double())), w2.double(), b2.double()))
    sse = torch.sigmoid(F.conv2d(d, ws.double(), bs.double()))
    t = {"input": x, "cse1.weight": w1, "cse1.bias": b1, "cse3.weight": w2, "cse3.bias": b2, "sse.weight": ws, "sse.bias": bs, "output": (d * cse + d * sse).float()}
    out["scse_c32"] = (dict(op="scse"), t)

    # EfficientNet's squeeze-excite (avg pool -> 1x1 reduce + SiLU -> 1x1 expand + sigmoid -> x * gate),
    # alone and followed by the MBConv's 1x1 project conv (the engine folds the scale into that conv)
    for name, C, project in (("se_c16", 16, False), ("se_project_c24", 24, True)):
        x = rand(2, C, 7, 9)
        w1, b1 = rand(C // 4, C, 1, 1, scale=0.5), rand(C // 4, scale=0.2)
        w2, b2 = rand(C, C // 4, 1, 1, scale=0.5), rand(C, scale=0.2)
        d = x.double()
        gate = torch.sigmoid(F.conv2d(F.silu(F.conv2d(F.adaptive_avg_pool2d(d, 1), w1.double(), b1.double())), w2.double(), b2.double()))
        y = d * gate
        t = {"input": x, "reduce.weight": w1, "reduce.bias": b1, "expand.weight": w2, "expand.bias": b2}
        if project:
            wp, bp = rand(8, C, 1, 1, scale=0.4), rand(8, scale=0.2)
            t["project.weight"], t["project.bias"] = wp, bp
            y = F.conv2d(y, wp.double(), bp.double())
        t["output"] = y.float()
        out[name] = (dict(op="se", project=project), t)

    x = rand(2, 6, 4, 5)
    y = rand(2, 6, 4, 5)
    out["add_relu"] = (dict(op="add", activation="relu"), {"input": x, "other": y, "output": F.relu(x.double() + y.double()).float()})

    # ReLU6 (MobileNetV2), after the cases above so that their random inputs stay as they were: alone on the
    # extreme values (+-3e38, +-1e5: clamped to 0 and 6), and in the epilogues of the convs MobileNetV2 has
    # (1x1 expand, depthwise 3x3 stride 1 and 2, the 3x3 stride-2 stem, and a 3x3 the Winograd variants
    # take), with weights scaled so that a good part of the outputs is past 6
    x = torch.cat([big, rand(1 * 4 * 3 * 5 - big.numel(), scale=9.0)]).reshape(1, 4, 3, 5)
    out["activation_relu6"] = (dict(op="activation", fn="relu6"), {"input": x, "output": F.relu6(x.double()).float()})
    conv("conv1x1_relu6_c24", 2, 8, 6, 7, 24, 1, 1, 0, act="relu6", gain=12.0)
    conv("conv3_s2_relu6_stem", 1, 3, 11, 10, 8, 3, 2, 1, act="relu6", gain=12.0)
    conv("conv3_c12_relu6_winograd", 1, 12, 9, 8, 10, 3, 1, 1, act="relu6", gain=12.0)
    conv("dw3_s1_relu6_c20", 2, 20, 7, 9, 20, 3, 1, 1, groups=20, act="relu6", gain=12.0)
    conv("dw3_s2_relu6_c12", 1, 12, 9, 10, 12, 3, 2, 1, groups=12, act="relu6", gain=12.0)
    return out


if __name__ == "__main__":
    sys.exit(fixture_main(PATH, SCRIPT, cases, "ops", __doc__))
