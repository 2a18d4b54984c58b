"""smp's own EfficientNet encoder (segmentation_models_pytorch/encoders/efficientnet.py over
_efficientnet.py), re-implemented with its module names so state_dicts load into smp as they are.

  encoder._conv_stem (3x3 s2, static same padding) -> _bn0 -> SiLU        feature 1
  encoder._blocks.N: MBConv [_expand_conv 1x1 -> _bn0 -> SiLU] -> _depthwise_conv kxk (stride, static
    same padding) -> _bn1 -> SiLU -> squeeze-excite (avg pool -> _se_reduce 1x1 + bias -> SiLU ->
    _se_expand 1x1 + bias -> sigmoid -> * x) -> _project_conv 1x1 -> _bn2 [+ input when stride 1 and
    in == out]; the outputs of the variant's out_indexes blocks are features 2..5
  encoder._conv_head, encoder._bn1: kept (smp keeps them) but never run; _fc deleted.
BatchNorm eps 1e-3. "Static same" padding is computed once from the variant's nominal image size,
tracked through the strides with ceil(size / stride), and applied whatever the real input size.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# width coefficient, depth coefficient, nominal image size
VARIANTS = {
    "efficientnet-b0": (1.0, 1.0, 224),
    "efficientnet-b1": (1.0, 1.1, 240),
    "efficientnet-b2": (1.1, 1.2, 260),
    "efficientnet-b3": (1.2, 1.4, 300),
    "efficientnet-b4": (1.4, 1.8, 380),
    "efficientnet-b5": (1.6, 2.2, 456),
    "efficientnet-b6": (1.8, 2.6, 528),
    "efficientnet-b7": (2.0, 3.1, 600),
}
OUT_INDEXES = {
    "efficientnet-b0": [2, 4, 8, 15],
    "efficientnet-b1": [4, 7, 15, 22],
    "efficientnet-b2": [4, 7, 15, 22],
    "efficientnet-b3": [4, 7, 17, 25],
    "efficientnet-b4": [5, 9, 21, 31],
    "efficientnet-b5": [7, 12, 26, 38],
    "efficientnet-b6": [8, 14, 30, 44],
    "efficientnet-b7": [10, 17, 37, 54],
}
# repeats, kernel, stride, expand ratio, in filters, out filters (se ratio 0.25 throughout)
STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
BN_EPS = 1e-3


def round_filters(filters, width):
    f = filters * width
    n = max(8, int(f + 4) // 8 * 8)
    if n < 0.9 * f:
        n += 8
    return int(n)


def blocks_of(name):
    width, depth, _ = VARIANTS[name]
    out = []
    for r, k, s, e, i, o in STAGES:
        inf, outf = round_filters(i, width), round_filters(o, width)
        out.append((inf, outf, k, s, e))
        out += [(outf, outf, k, 1, e)] * (int(math.ceil(depth * r)) - 1)
    return out


def out_channels(name, in_channels=3):
    blocks = blocks_of(name)
    return [in_channels, round_filters(32, VARIANTS[name][0])] + [blocks[i][1] for i in OUT_INDEXES[name]]


class StaticSameConv2d(nn.Conv2d):
    """Conv2d padded "same" for a fixed image size (smp's Conv2dStaticSamePadding); no extra parameters."""

    def __init__(self, cin, cout, k, stride=1, groups=1, bias=False, image_size=None):
        super().__init__(cin, cout, k, stride=stride, groups=groups, bias=bias)
        out = math.ceil(image_size / stride)
        pad = max((out - 1) * stride + k - image_size, 0)
        self.pad = (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)

    def forward(self, x):
        return F.conv2d(F.pad(x, self.pad), self.weight, self.bias, self.stride, 0, 1, self.groups)


class MBConv(nn.Module):
    def __init__(self, inf, outf, k, stride, expand, image_size):
        super().__init__()
        c = inf * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(inf, c, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(c, eps=BN_EPS)
        self._depthwise_conv = StaticSameConv2d(c, c, k, stride=stride, groups=c, image_size=image_size)
        self._bn1 = nn.BatchNorm2d(c, eps=BN_EPS)
        sq = max(1, int(inf * 0.25))
        self._se_reduce = nn.Conv2d(c, sq, 1)
        self._se_expand = nn.Conv2d(sq, c, 1)
        self._project_conv = nn.Conv2d(c, outf, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(outf, eps=BN_EPS)
        self.skip = stride == 1 and inf == outf

    def forward(self, inputs):
        x = inputs
        if self.expand:
            x = F.silu(self._bn0(self._expand_conv(x)))
        x = F.silu(self._bn1(self._depthwise_conv(x)))
        s = self._se_expand(F.silu(self._se_reduce(F.adaptive_avg_pool2d(x, 1))))
        x = torch.sigmoid(s) * x
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.skip else x


class EfficientNetEncoder(nn.Module):
    def __init__(self, name, in_channels=3, depth=5):
        super().__init__()
        if not 2 <= depth <= 5:
            raise ValueError(f"{name}: encoder depth must be in 2..5, got {depth}")
        width, _, size = VARIANTS[name]
        stem = round_filters(32, width)
        self._conv_stem = StaticSameConv2d(in_channels, stem, 3, stride=2, image_size=size)
        self._bn0 = nn.BatchNorm2d(stem, eps=BN_EPS)
        size = math.ceil(size / 2)
        blocks = []
        for inf, outf, k, s, e in blocks_of(name):
            blocks.append(MBConv(inf, outf, k, s, e, size))
            size = math.ceil(size / s)
        self._blocks = nn.ModuleList(blocks)
        head = round_filters(1280, width)
        self._conv_head = nn.Conv2d(blocks_of(name)[-1][1], head, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(head, eps=BN_EPS)
        self._out_indexes = OUT_INDEXES[name]
        self._depth = depth
        self.out_channels = out_channels(name, in_channels)[: depth + 1]

    def forward(self, x):
        feats = [x]
        x = F.silu(self._bn0(self._conv_stem(x)))
        feats.append(x)
        for i, block in enumerate(self._blocks):
            if len(feats) > self._depth:
                break
            x = block(x)
            if i in self._out_indexes:
                feats.append(x)
        return feats[: self._depth + 1]
