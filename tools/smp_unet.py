"""Our own PyTorch re-implementation of segmentation_models.pytorch (smp) `Unet` and `UnetPlusPlus` with
ResNet / ResNeXt, EfficientNet and MobileNetV2 encoders, written from smp's documented behaviour (see /work/shared/SMP.md) so that no smp, timm or
huggingface_hub install is needed. Module names follow smp, so `state_dict()` keys and shapes are
exactly smp's (checked against the real smp by tools/check_smp.py):

  encoder.conv1.weight                      [64, in_channels, 7, 7]
  encoder.bn1.{weight,bias,running_mean,running_var,num_batches_tracked}
  encoder.layerL.B.{conv1,bn1,conv2,bn2[,conv3,bn3]}.*     (torchvision ResNet layout)
  encoder.layerL.0.downsample.{0.weight,1.*}
  decoder.blocks.N.conv1.0.weight           (conv 3x3; .0.bias only when the norm is identity)
  decoder.blocks.N.conv1.1.*                (BatchNorm2d; absent when decoder_use_norm is False)
  decoder.blocks.N.conv2.{0,1}.*
  decoder.blocks.N.attention{1,2}.attention.cSE.{1,3}.{weight,bias}, ...sSE.0.{weight,bias}  (scse)
  segmentation_head.0.{weight,bias}         (conv 3x3, padding 1)
  classification_head.3.{weight,bias}       (only with aux_params)

UnetPlusPlus names its decoder blocks by grid position instead: decoder.blocks.x_{d}_{l}.{conv1,conv2,
attention1,attention2}.* (d = 0 .. depth-2-l for l < depth-1, then x_0_{depth-1}).

As in smp, all four ResNet layers are kept whatever encoder_depth is (layer4's keys stay in the
state_dict at depth 3 or 4, unused), and `fc` / `avgpool` are deleted.

Forward (smp main, "any resolution" Unet): features = [x, relu(bn1(conv1 x)), layer1(maxpool f1),
layer2, layer3, layer4][:depth+1]; the decoder drops x, reverses the rest, and block i does
F.interpolate(to the size of the next-shallower feature, or of the input for the last block), then
(when there is a skip) cat([x, skip]) and attention1, then conv1, conv2, attention2. Note attention1
is NOT applied in the last block (no skip), although its module (and scse keys) exists.

UnetPlusPlus (smp main, decoders/unetplusplus): the nested dense grid; block x_d_l up-samples x_d_{l-1} (or
the feature f[d] for l = d) by scale_factor 2 and concatenates x_{d+1}_l .. x_l_l and the encoder feature
f[l+1]; the last block x_0_{depth-1} up-samples x_0_{depth-2} with no skip. As smp, it refuses inputs
whose H or W is not a multiple of 2^depth (the encoder's output stride).

  model = build_unet(encoder_name="resnet34", encoder_depth=5, decoder_channels=(256, 128, 64, 32, 16),
                     in_channels=3, classes=1, activation=None)
  save_pretrained(model, "dir")        # dir/config.json + dir/model.safetensors (smp's format)
  model = load_pretrained("dir")       # also reads older configs (decoder_use_batchnorm,
                                       # decoder_interpolation_mode) and bare state_dict files
"""

import json
import os
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

import smp_mobilenet

# name: (block, blocks per layer, groups, width_per_group); out_channels follow from the block type
ENCODERS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2], 1, 64),
    "resnet34": (BasicBlock, [3, 4, 6, 3], 1, 64),
    "resnet50": (Bottleneck, [3, 4, 6, 3], 1, 64),
    "resnet101": (Bottleneck, [3, 4, 23, 3], 1, 64),
    "resnet152": (Bottleneck, [3, 8, 36, 3], 1, 64),
    "resnext50_32x4d": (Bottleneck, [3, 4, 6, 3], 32, 4),
    "resnext101_32x4d": (Bottleneck, [3, 4, 23, 3], 32, 4),
    "resnext101_32x8d": (Bottleneck, [3, 4, 23, 3], 32, 8),
    "resnext101_32x16d": (Bottleneck, [3, 4, 23, 3], 32, 16),
}

# The init arguments smp's Unet records in config.json (current main), in signature order.
CONFIG_KEYS = [
    "encoder_name",
    "encoder_depth",
    "encoder_weights",
    "decoder_use_norm",
    "decoder_channels",
    "decoder_attention_type",
    "decoder_interpolation",
    "in_channels",
    "classes",
    "activation",
    "aux_params",
]
DEFAULTS = {
    "encoder_name": "resnet34",
    "encoder_depth": 5,
    "encoder_weights": None,  # smp's default is "imagenet"; we never download, weights come from files
    "decoder_use_norm": "batchnorm",
    "decoder_channels": (256, 128, 64, 32, 16),
    "decoder_attention_type": None,
    "decoder_interpolation": "nearest",
    "in_channels": 3,
    "classes": 1,
    "activation": None,
    "aux_params": None,
}


def encoder_out_channels(name, in_channels=3):
    block = ENCODERS[name][0]
    e = block.expansion
    return [in_channels, 64, 64 * e, 128 * e, 256 * e, 512 * e]


class ResNetEncoder(ResNet):
    """torchvision's ResNet without fc/avgpool; forward returns depth + 1 features."""

    def __init__(self, name, in_channels=3, depth=5):
        if name not in ENCODERS:
            raise ValueError(f"unsupported encoder {name!r}; supported: {sorted(ENCODERS)}")
        if not 1 <= depth <= 5:
            raise ValueError(f"encoder depth must be in 1..5, got {depth}")
        block, layers, groups, width = ENCODERS[name]
        super().__init__(block=block, layers=layers, groups=groups, width_per_group=width)
        del self.fc
        del self.avgpool
        if in_channels != 3:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self._depth = depth
        self.out_channels = encoder_out_channels(name, in_channels)[: depth + 1]

    def forward(self, x):
        feats = [x]
        if self._depth >= 1:
            x = self.relu(self.bn1(self.conv1(x)))
            feats.append(x)
        stages = [nn.Sequential(self.maxpool, self.layer1), self.layer2, self.layer3, self.layer4]
        for stage in stages[: self._depth - 1]:
            x = stage(x)
            feats.append(x)
        return feats


def _norm_is_batchnorm(use_norm):
    if use_norm is True:
        return True
    if use_norm is False:
        return False
    if isinstance(use_norm, str) and use_norm.lower() in ("batchnorm", "identity"):
        return use_norm.lower() == "batchnorm"
    if isinstance(use_norm, dict) and use_norm.get("type") in ("batchnorm", "identity") and len(use_norm) == 1:
        return use_norm["type"] == "batchnorm"
    raise NotImplementedError(f"decoder_use_norm={use_norm!r}: only batchnorm / identity (True / False)")


class Conv2dReLU(nn.Sequential):
    """[0] conv k3 p1 (bias only without a norm), [1] BatchNorm2d or Identity, [2] ReLU."""

    def __init__(self, cin, cout, batchnorm):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=not batchnorm),
            nn.BatchNorm2d(cout) if batchnorm else nn.Identity(),
            nn.ReLU(inplace=True),
        )


class SCSE(nn.Module):
    """x * cSE(x) + x * sSE(x), channel reduction 16."""

    def __init__(self, channels, reduction=16):
        super().__init__()
        self.cSE = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )
        self.sSE = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.cSE(x) + x * self.sSE(x)


class Attention(nn.Module):
    def __init__(self, kind, channels):
        super().__init__()
        if kind is None:
            self.attention = nn.Identity()
        elif kind == "scse":
            self.attention = SCSE(channels)
        else:
            raise NotImplementedError(f"decoder_attention_type={kind!r}")

    def forward(self, x):
        return self.attention(x)


class DecoderBlock(nn.Module):
    def __init__(self, cin, cskip, cout, batchnorm, attention, interpolation):
        super().__init__()
        self.interpolation = interpolation
        # registration order = smp's state_dict order
        self.conv1 = Conv2dReLU(cin + cskip, cout, batchnorm)
        self.attention1 = Attention(attention, cin + cskip)
        self.conv2 = Conv2dReLU(cout, cout, batchnorm)
        self.attention2 = Attention(attention, cout)

    def upsample(self, x, size):
        return F.interpolate(x, size=size, mode=self.interpolation)

    def forward(self, x, size=None, skip=None):
        x = self.upsample(x, size)
        if skip is not None:
            x = self.attention1(torch.cat([x, skip], dim=1))
        return self.attention2(self.conv2(self.conv1(x)))


def block_channels(encoder_channels, decoder_channels):
    """smp's decoder plan: each level's input channels (the deepest feature's, then the previous level's
    output) and skip channels (the encoder's, shallower each level; 0 for the last)."""
    enc = list(encoder_channels[1:])[::-1]  # deepest first, input dropped
    if len(decoder_channels) != len(enc):
        raise ValueError(f"encoder depth {len(enc)} needs {len(enc)} decoder_channels, got {list(decoder_channels)}")
    return [enc[0]] + list(decoder_channels[:-1]), enc[1:] + [0]


class UnetDecoder(nn.Module):
    def __init__(self, encoder_channels, decoder_channels, batchnorm, attention, interpolation):
        super().__init__()
        ins, skips = block_channels(encoder_channels, decoder_channels)
        self.center = nn.Identity()  # a conv block only for vgg encoders in smp
        self.blocks = nn.ModuleList(
            DecoderBlock(i, s, o, batchnorm, attention, interpolation) for i, s, o in zip(ins, skips, decoder_channels)
        )

    def forward(self, features):
        sizes = [tuple(f.shape[2:]) for f in features][::-1]  # deepest first, input size last
        feats = features[1:][::-1]
        x = self.center(feats[0])
        skips = feats[1:]
        for i, block in enumerate(self.blocks):
            x = block(x, sizes[i + 1], skips[i] if i < len(skips) else None)
        return x


class PlusPlusBlock(DecoderBlock):
    """smp's unetplusplus DecoderBlock: the Unet's, up-sampling by scale_factor 2 rather than to a size."""

    def upsample(self, x, size):
        return F.interpolate(x, scale_factor=2.0, mode=self.interpolation)


class UnetPlusPlusDecoder(nn.Module):
    """smp's UnetPlusPlusDecoder (no center block: that is for vgg encoders only)."""

    def __init__(self, encoder_channels, decoder_channels, batchnorm, attention, interpolation):
        super().__init__()
        ins, skips = block_channels(encoder_channels, decoder_channels)
        blocks = {}
        # registration order = smp's state_dict order
        for layer in range(len(ins) - 1):
            for d in range(layer + 1):
                if d == 0:
                    cin, cskip, cout = ins[layer], skips[layer] * (layer + 1), decoder_channels[layer]
                else:
                    cin, cskip, cout = skips[layer - 1], skips[layer] * (layer + 1 - d), skips[layer]
                blocks[f"x_{d}_{layer}"] = PlusPlusBlock(cin, cskip, cout, batchnorm, attention, interpolation)
        blocks[f"x_0_{len(ins) - 1}"] = PlusPlusBlock(ins[-1], 0, decoder_channels[-1], batchnorm, attention, interpolation)
        self.center = nn.Identity()
        self.blocks = nn.ModuleDict(blocks)
        self.depth = len(ins) - 1

    def forward(self, features):
        feats = features[1:][::-1]
        dense = {}
        for layer in range(self.depth):
            for d in range(self.depth - layer):
                if layer == 0:
                    dense[f"x_{d}_{d}"] = self.blocks[f"x_{d}_{d}"](feats[d], skip=feats[d + 1])
                else:
                    l = d + layer
                    cat = torch.cat([dense[f"x_{i}_{l}"] for i in range(d + 1, l + 1)] + [feats[l + 1]], dim=1)
                    dense[f"x_{d}_{l}"] = self.blocks[f"x_{d}_{l}"](dense[f"x_{d}_{l - 1}"], skip=cat)
        return self.blocks[f"x_0_{self.depth}"](dense[f"x_0_{self.depth - 1}"])


def make_activation(name):
    if name is None or name == "identity":
        return nn.Identity()
    table = {
        "sigmoid": nn.Sigmoid,
        "softmax": lambda: nn.Softmax(dim=1),  # smp: nn.Softmax() (dim None -> 1 for 4-D input)
        "softmax2d": lambda: nn.Softmax(dim=1),
        "logsoftmax": lambda: nn.LogSoftmax(dim=1),  # smp: nn.LogSoftmax() (dim None -> 1 for 4-D)
        "tanh": nn.Tanh,
    }
    if name not in table:
        raise NotImplementedError(f"activation={name!r}")
    return table[name]()


class Unet(nn.Module):
    """smp.Unet (ResNet/ResNeXt, EfficientNet, MobileNetV2 encoders). Keyword arguments as smp's; `config`
    holds them."""

    MODEL_CLASS = "Unet"
    DECODER = UnetDecoder

    def __init__(self, **kwargs):
        super().__init__()
        cfg = normalize_config(kwargs)
        self.config = cfg
        batchnorm = _norm_is_batchnorm(cfg["decoder_use_norm"])
        if cfg["encoder_name"].startswith("efficientnet-"):
            from smp_efficientnet import EfficientNetEncoder  # noqa: E402

            self.encoder = EfficientNetEncoder(cfg["encoder_name"], cfg["in_channels"], cfg["encoder_depth"])
        elif smp_mobilenet.is_mobilenet(cfg["encoder_name"]):
            self.encoder = smp_mobilenet.MobileNetV2Encoder(cfg["in_channels"], cfg["encoder_depth"])
        else:
            self.encoder = ResNetEncoder(cfg["encoder_name"], cfg["in_channels"], cfg["encoder_depth"])
        self.decoder = self.DECODER(
            self.encoder.out_channels,
            cfg["decoder_channels"],
            batchnorm,
            cfg["decoder_attention_type"],
            cfg["decoder_interpolation"],
        )
        self.segmentation_head = nn.Sequential(
            nn.Conv2d(cfg["decoder_channels"][-1], cfg["classes"], 3, padding=1),
            nn.Identity(),  # smp's upsampling slot (1 for Unet)
            make_activation(cfg["activation"]),
        )
        aux = cfg["aux_params"]
        if aux is not None:
            pool = aux.get("pooling", "avg")
            self.classification_head = nn.Sequential(
                nn.AdaptiveAvgPool2d(1) if pool == "avg" else nn.AdaptiveMaxPool2d(1),
                nn.Flatten(),
                nn.Dropout(p=aux.get("dropout", 0.2)) if aux.get("dropout", 0.2) else nn.Identity(),
                nn.Linear(self.encoder.out_channels[-1], aux["classes"]),
                make_activation(aux.get("activation")),
            )
        else:
            self.classification_head = None

    def forward(self, x):
        feats = self.encoder(x)
        masks = self.segmentation_head(self.decoder(feats))
        if self.classification_head is not None:
            return masks, self.classification_head(feats[-1])
        return masks


class UnetPlusPlus(Unet):
    """smp.UnetPlusPlus: the Unet's encoder and head around the nested decoder grid."""

    MODEL_CLASS = "UnetPlusPlus"
    DECODER = UnetPlusPlusDecoder

    def forward(self, x):
        # smp's SegmentationModel.check_input_shape: the decoder up-samples by 2 at every level
        stride = 2 ** self.config["encoder_depth"]
        if x.shape[-2] % stride or x.shape[-1] % stride:
            raise RuntimeError(f"UnetPlusPlus: input {list(x.shape[-2:])} is not a multiple of {stride} (2^encoder_depth)")
        return super().forward(x)


MODELS = {"Unet": Unet, "UnetPlusPlus": UnetPlusPlus}


def padded_forward(forward, x, multiple):
    """What the engine does with an input whose H or W is not a multiple of `multiple` (UnetPlusPlus:
    2^depth, sizes smp refuses): pads it centred to the next multiples, mirroring without repeating the
    edge (numpy's 'reflect'), runs `forward` and crops the output back to H x W."""
    h, w = x.shape[-2:]
    ph, pw = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    top, left = (ph - h) // 2, (pw - w) // 2
    widths = ((0, 0), (0, 0), (top, ph - h - top), (left, pw - w - left))
    xp = torch.from_numpy(np.pad(x.numpy(), widths, mode="reflect"))
    return forward(xp)[:, :, top:top + h, left:left + w].contiguous()


def normalize_config(kwargs):
    """smp init kwargs (current or older names; `_`-prefixed keys ignored) -> the 11 current keys."""
    kw = {k: v for k, v in kwargs.items() if not k.startswith("_")}
    # older smp: decoder_use_batchnorm (-> decoder_use_norm), decoder_interpolation_mode
    # (-> decoder_interpolation). Current smp pops the first and silently ignores the second for ResNet
    # encoders (it lands in the encoder kwargs); we honour both, as the revision that wrote them did.
    if "decoder_use_batchnorm" in kw:
        v = kw.pop("decoder_use_batchnorm")
        if v is not None:
            kw["decoder_use_norm"] = v
    if "decoder_interpolation_mode" in kw:
        v = kw.pop("decoder_interpolation_mode")
        kw.setdefault("decoder_interpolation", v)
    unknown = set(kw) - set(CONFIG_KEYS)
    if unknown:
        raise ValueError(f"unsupported Unet arguments: {sorted(unknown)}")
    cfg = dict(DEFAULTS)
    cfg.update(kw)
    cfg["decoder_channels"] = [int(c) for c in cfg["decoder_channels"]]
    if cfg["decoder_interpolation"] not in ("nearest", "bilinear"):
        raise NotImplementedError(f"decoder_interpolation={cfg['decoder_interpolation']!r}")
    return cfg


def build_unet(**kwargs):
    return Unet(**kwargs).eval()


# ---------------------------------------------------------------------------------------------
# files: config.json (as smp / huggingface_hub's save_pretrained writes it) + model.safetensors


def config_json(model):
    """The config.json text: init kwargs + "_model_class", sorted keys, indent 2 (huggingface_hub's layout)."""
    cfg = {k: model.config[k] for k in CONFIG_KEYS}
    cfg["decoder_channels"] = list(cfg["decoder_channels"])
    cfg["_model_class"] = model.MODEL_CLASS
    return json.dumps(cfg, sort_keys=True, indent=2)


def state_dict_arrays(model):
    """state_dict as numpy arrays: F32, num_batches_tracked I64."""
    out = OrderedDict()
    for k, v in model.state_dict().items():
        a = v.detach().cpu().numpy()
        out[k] = a.astype(np.int64) if k.endswith("num_batches_tracked") else a.astype(np.float32)
    return out


def save_pretrained(model, folder, metadata=None):
    """Writes folder/config.json and folder/model.safetensors (metadata: {"format": "pt"} + extra)."""
    from make_fixtures import safetensors_bytes

    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        f.write(config_json(model))
    meta = {"format": "pt"}
    meta.update(metadata or {})
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(safetensors_bytes(state_dict_arrays(model), meta))


def infer_config(sd):
    """Unet kwargs from a bare state_dict (name -> array/tensor). Not inferable: activation (None) and
    decoder_interpolation ("nearest"), smp's defaults."""
    shape = {k: tuple(v.shape) for k, v in sd.items()}
    if smp_mobilenet.infer_name(shape):
        return _decoder_config(shape, smp_mobilenet.infer_name(shape), shape["encoder.features.0.0.weight"][1])
    if "encoder._conv_stem.weight" in shape:
        from smp_efficientnet import VARIANTS, blocks_of, round_filters  # noqa: E402

        n_blocks = 0
        while f"encoder._blocks.{n_blocks}._project_conv.weight" in shape:
            n_blocks += 1
        last = shape[f"encoder._blocks.{n_blocks - 1}._project_conv.weight"][0]
        name = next((v for v in VARIANTS if round_filters(32, VARIANTS[v][0]) == shape["encoder._conv_stem.weight"][0]
                     and len(blocks_of(v)) == n_blocks and blocks_of(v)[-1][1] == last), None)
        if name is None:
            raise ValueError(f"no known EfficientNet with {n_blocks} blocks")
        return _decoder_config(shape, name, shape["encoder._conv_stem.weight"][1])
    counts = []
    for layer in range(1, 5):
        n = 0
        while f"encoder.layer{layer}.{n}.conv1.weight" in shape:
            n += 1
        counts.append(n)
    bottleneck = "encoder.layer1.0.conv3.weight" in shape
    width, per_group = shape["encoder.layer1.0.conv2.weight"][:2]
    groups = width // per_group
    name = None
    for cand, (block, layers, g, wpg) in ENCODERS.items():
        if (block is Bottleneck) == bottleneck and layers == counts and g == groups and (not bottleneck or wpg * g == width):
            name = cand
            break
    if name is None:
        raise ValueError(f"no known encoder with layers {counts}, bottleneck={bottleneck}, groups={groups}, width={width}")
    return _decoder_config(shape, name, shape["encoder.conv1.weight"][1])


def _decoder_config(shape, name, in_channels):
    """The kwargs a bare state_dict's decoder and head keys tell, for encoder `name`, with "_model_class"
    (UnetPlusPlus when its blocks are named x_{d}_{l})."""
    cls = "UnetPlusPlus" if "decoder.blocks.x_0_0.conv1.0.weight" in shape else "Unet"
    block = "decoder.blocks.x_0_{}" if cls == "UnetPlusPlus" else "decoder.blocks.{}"
    depth = 0
    while f"{block.format(depth)}.conv1.0.weight" in shape:
        depth += 1
    return {
        "_model_class": cls,
        "encoder_name": name,
        "encoder_depth": depth,
        "decoder_use_norm": f"{block.format(0)}.conv1.1.running_mean" in shape,
        "decoder_channels": [shape[f"{block.format(i)}.conv1.0.weight"][0] for i in range(depth)],
        "decoder_attention_type": "scse" if f"{block.format(0)}.attention1.attention.sSE.0.weight" in shape else None,
        "in_channels": in_channels,
        "classes": shape["segmentation_head.0.weight"][0],
        "aux_params": {"classes": shape["classification_head.3.weight"][0]} if "classification_head.3.weight" in shape else None,
    }


def load_pretrained(path):
    """A folder with config.json + model.safetensors, or a bare state_dict .safetensors file."""
    from make_fixtures import read_safetensors

    if os.path.isdir(path):
        with open(os.path.join(path, "config.json")) as f:
            cfg = json.load(f)
        if cfg.get("_model_class", "Unet") not in MODELS:
            raise ValueError(f"{path}: _model_class {cfg['_model_class']!r} is not one of {sorted(MODELS)}")
        sd, _ = read_safetensors(os.path.join(path, "model.safetensors"))
    else:
        sd, _ = read_safetensors(path)
        cfg = infer_config(sd)
    model = MODELS[cfg.get("_model_class", "Unet")](**cfg)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, strict=True)
    return model.eval()
