"""smp's `mobilenet_v2` encoder (segmentation_models_pytorch/encoders/mobilenet.py): torchvision's
MobileNetV2 (width 1.0) with `classifier` deleted, so state_dict keys are torchvision's under `encoder.`:

  encoder.features.0.{0,1}                 stem: conv 3x3 s2 p1 (no bias) [32, in_channels, 3, 3],
                                           BatchNorm, ReLU6
  encoder.features.1.conv.{0.0,0.1,1,2}    InvertedResidual, expand ratio 1: depthwise 3x3 + BN + ReLU6,
                                           project 1x1 + BN
  encoder.features.N.conv.{0.0,0.1,1.0,1.1,2,3}   (N = 2..17) expand 1x1 + BN + ReLU6, depthwise 3x3
                                           (the stage's stride on its first block) + BN + ReLU6, project
                                           1x1 + BN; + the input when stride 1 and in == out
  encoder.features.18.{0,1}                conv 1x1 320 -> 1280 + BN + ReLU6

Features (smp `_out_indexes` [1, 3, 6, 13, 18]): [x, features[1] (16, /2), features[3] (24, /4),
features[6] (32, /8), features[13] (96, /16), features[18] (1280, /32)][:depth + 1], depth 1 to 5. The
modules past the depth stay in the state_dict (smp keeps them). in_channels != 3: smp's
patch_first_conv gives `features.0.0` a new [32, in_channels, 3, 3] weight (freshly initialised
without pretrained weights). BatchNorm eps 1e-5 (torchvision's default); the pretrained weights expect
ImageNet's mean / std.
"""

import torch.nn as nn
from torchvision.models.mobilenetv2 import InvertedResidual, MobileNetV2

NAME = "mobilenet_v2"
OUT_INDEXES = [1, 3, 6, 13, 18]
OUT_CHANNELS = [3, 16, 24, 32, 96, 1280]


def is_mobilenet(name):
    return name == NAME


def out_channels(in_channels=3):
    return [in_channels] + OUT_CHANNELS[1:]


class MobileNetV2Encoder(MobileNetV2):
    """torchvision's MobileNetV2 without `classifier`; forward returns depth + 1 features."""

    def __init__(self, in_channels=3, depth=5):
        if not 1 <= depth <= 5:
            raise ValueError(f"encoder depth must be in 1..5, got {depth}")
        super().__init__()
        del self.classifier
        if in_channels != 3:
            self.features[0][0] = nn.Conv2d(in_channels, 32, kernel_size=3, stride=2, padding=1, bias=False)
        self._depth = depth
        self.out_channels = out_channels(in_channels)[: depth + 1]

    def forward(self, x):
        feats = [x]
        for i, module in enumerate(self.features[: OUT_INDEXES[self._depth - 1] + 1]):
            x = module(x)
            if i in OUT_INDEXES:
                feats.append(x)
        return feats


def stem(encoder):
    """The first conv (smp's patch_first_conv target)."""
    return encoder.features[0][0]


def residual_branch_ends(model):
    """Names of the BatchNorms that end a residual branch (InvertedResidual with an identity skip)."""
    return {f"{n}.conv.{len(b.conv) - 1}" for n, b in model.named_modules() if isinstance(b, InvertedResidual) and b.use_res_connect}


def relu6_norms(model):
    """Names of the BatchNorms that a ReLU6 follows (Conv2dNormActivation: conv, BN, ReLU6)."""
    out = set()
    for n, m in model.named_modules():
        if isinstance(m, nn.Sequential) and len(m) == 3 and isinstance(m[1], nn.BatchNorm2d) and isinstance(m[2], nn.ReLU6):
            out.add(f"{n}.1")
    return out


def infer_name(shape):
    """encoder_name of a bare state_dict's `encoder.*` shapes, or None when they are not MobileNetV2's."""
    if "encoder.features.0.0.weight" not in shape or "encoder.features.18.0.weight" not in shape:
        return None
    return NAME if shape["encoder.features.18.0.weight"][:2] == (1280, 320) else None
