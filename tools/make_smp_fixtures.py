#!/usr/bin/python3
"""Reference fixtures for smp (segmentation_models.pytorch) Unet models with ResNet/ResNeXt encoders,
computed with our re-implementation tools/smp_unet.py (checked against the real smp by
tools/check_smp.py).

For each config NAME this writes, under test/fixtures/smp/:
  NAME/config.json          as smp's save_pretrained writes it (init kwargs + "_model_class")
  NAME/model.safetensors    the state_dict (F32; num_batches_tracked I64)  -- NOT committed (git-ignored)
  NAME.io.safetensors       `input` (F32 NCHW) and `output` (F32 NCHW), committed
and for the bare config (no config.json) NAME.safetensors (the state_dict alone, git-ignored) instead of
the folder.

The encoders have their real widths (fixed by the encoder name), so even resnet18's state_dict is
45 MB: the weights are regenerated bit-exactly by this script rather than committed, and each io file
records the sha256 of the weights file it was computed with (metadata `model_sha256`).

Weights are random: kaiming-normal convs; BatchNorm gamma in +-[0.5, 1.5] (+-[0.2, 0.6] for the last
BatchNorm of each residual branch), beta ~ N(0, 0.3), and
running statistics calibrated on the fixture input in eval mode (each BatchNorm's running_mean /
running_var are its actual input's per-channel mean + 0.5 s * N(0, 1) and s^2 * U(0.5, 2), with
s^2 = var + 0.1 mean^2 + 0.01), so the stats are far from identity but activations stay in range
through 50 residual blocks and f32 rounding is not amplified by near-constant channels; unused layers
(layer3/layer4 at depth 3) get running_mean ~ N(0, 0.5), running_var ~ U(0.25, 4). The head conv is
then scaled / centred per class so the logits have std 2 (1 for tanh) and the outputs are spread.
The reference output is a float64 forward of a float64 copy of the f32 weights and f32 input, cast
to f32 at the end.

Usage (Debian's torch: /usr/bin/python3):
  /usr/bin/python3 tools/make_smp_fixtures.py            # (re)write test/fixtures/smp/
  /usr/bin/python3 tools/make_smp_fixtures.py --check    # verify (fails if stale; regenerates nothing)
  /usr/bin/python3 tools/make_smp_fixtures.py --weights  # only the git-ignored weights that are missing
      # or stale, each checked against the model_sha256 its committed io file records (npm test runs this)
  /usr/bin/python3 tools/make_smp_fixtures.py --only r18_d5_sigmoid [--check]
  /usr/bin/python3 tools/make_smp_fixtures.py --big .cache/smp-big      # resnet101/152, resnext101
  /usr/bin/python3 tools/make_smp_fixtures.py --full .cache/smp-full --image /work/shared/data/TCGA_CS_4944.png
      # full-size resnet34 Unet (default decoder), 1x3x256x256, plus input_image/output_image from
      # the PNG (RGB / 255, ImageNet mean/std)
  (--check with --big/--full checks the files in that DIR.)
"""

import argparse
import copy
import hashlib
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import compare, load_png_rgb, make_input, read_safetensors, safetensors_bytes  # noqa: E402
from smp_unet import MODELS, config_json, padded_forward, state_dict_arrays  # noqa: E402
import smp_mobilenet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_DIR = os.path.join(ROOT, "test", "fixtures", "smp")
SCRIPT = "tools/make_smp_fixtures.py"
FORMAT_VERSION = "1"
CHECK_OUTPUT_TOL = 1e-6
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

# name: dict(kwargs = smp Unet init kwargs, N, H, W, seed, [format = "current" | "legacy" | "bare"],
#            [model_class = "Unet" | "UnetPlusPlus"], [odd = (H, W) of a second input],
#            [padded = (H, W) of an input that is not a multiple of 2^depth: the output is the model's on
#             it padded (centred, reflect) to the next multiples, cropped back, as the engine runs it])
CONFIGS = {
    "r18_d5_sigmoid": dict(
        kwargs=dict(encoder_name="resnet18", encoder_depth=5, decoder_channels=[16, 8, 8, 4, 4],
                    in_channels=3, classes=1, activation="sigmoid"),
        N=2, H=64, W=64, seed=5001),
    "r34_d4_scse_bilinear": dict(
        kwargs=dict(encoder_name="resnet34", encoder_depth=4, decoder_channels=[32, 16, 16, 16],
                    decoder_attention_type="scse", decoder_interpolation="bilinear",
                    in_channels=1, classes=3, activation="softmax"),
        N=1, H=48, W=80, seed=5002),
    "r50_d3_nonorm": dict(
        kwargs=dict(encoder_name="resnet50", encoder_depth=3, decoder_channels=[16, 8, 8],
                    decoder_use_norm=False, in_channels=3, classes=2, activation="logsoftmax"),
        N=1, H=40, W=40, seed=5003),
    "rx50_d5_identity": dict(
        kwargs=dict(encoder_name="resnext50_32x4d", encoder_depth=5, decoder_channels=[16, 8, 8, 4, 4],
                    in_channels=3, classes=1, activation=None),
        N=1, H=64, W=64, seed=5004),
    "r18_odd_tanh": dict(
        kwargs=dict(encoder_name="resnet18", encoder_depth=5, decoder_channels=[16, 8, 8, 4, 4],
                    in_channels=3, classes=1, activation="tanh"),
        N=1, H=50, W=70, seed=5005),
    # config.json with the older keys decoder_use_batchnorm / decoder_interpolation_mode
    "r18_d4_legacy_cfg": dict(
        kwargs=dict(encoder_name="resnet18", encoder_depth=4, decoder_channels=[16, 16, 8, 8],
                    decoder_use_norm=True, decoder_interpolation="bilinear",
                    in_channels=3, classes=2, activation="softmax2d"),
        N=1, H=64, W=48, seed=5006, format="legacy"),
    # EfficientNet (smp's own): depthwise convs, squeeze-excite, static same padding, BN eps 1e-3
    "eb0_d5_sigmoid": dict(
        kwargs=dict(encoder_name="efficientnet-b0", encoder_depth=5, decoder_channels=[16, 8, 8, 4, 4],
                    in_channels=3, classes=1, activation="sigmoid"),
        N=2, H=64, W=64, seed=5101),
    "eb1_d3_scse_softmax": dict(
        kwargs=dict(encoder_name="efficientnet-b1", encoder_depth=3, decoder_channels=[32, 16, 16],
                    decoder_attention_type="scse", decoder_interpolation="bilinear",
                    in_channels=1, classes=3, activation="softmax"),
        N=1, H=48, W=80, seed=5102),
    "eb3_odd_identity": dict(
        kwargs=dict(encoder_name="efficientnet-b3", encoder_depth=4, decoder_channels=[16, 8, 8, 8],
                    in_channels=3, classes=2, activation=None),
        N=1, H=50, W=70, seed=5103),
    # smp's mobilenet_v2 (torchvision's MobileNetV2): inverted residuals, ReLU6. Depth 5 at 256x256 with
    # an input_odd at 200x152 (not multiples of 32); depth 3 with 4 input channels; depth 1; a bare
    # state_dict at depth 4
    "mnv2_d5_256": dict(
        kwargs=dict(encoder_name="mobilenet_v2", encoder_depth=5, decoder_channels=[16, 8, 8, 4, 4],
                    in_channels=1, classes=1, activation="sigmoid"),
        N=1, H=256, W=256, seed=5201, odd=(200, 152)),
    "mnv2_d3_in4_scse": dict(
        kwargs=dict(encoder_name="mobilenet_v2", encoder_depth=3, decoder_channels=[32, 16, 16],
                    decoder_attention_type="scse", decoder_interpolation="bilinear",
                    in_channels=4, classes=3, activation="softmax"),
        N=1, H=48, W=80, seed=5202),
    "mnv2_d1_tanh": dict(
        kwargs=dict(encoder_name="mobilenet_v2", encoder_depth=1, decoder_channels=[8],
                    in_channels=3, classes=1, activation="tanh"),
        N=2, H=30, W=46, seed=5203),
    "bare_mnv2_d4": dict(
        kwargs=dict(encoder_name="mobilenet_v2", encoder_depth=4, decoder_channels=[16, 8, 8, 8],
                    in_channels=3, classes=2, activation=None),
        N=1, H=50, W=70, seed=5204, format="bare"),
    # bare state_dict (no config.json): only what the keys tell (activation None, nearest)
    "bare_r18_d4_scse": dict(
        kwargs=dict(encoder_name="resnet18", encoder_depth=4, decoder_channels=[32, 16, 16, 16],
                    decoder_attention_type="scse", in_channels=2, classes=2, activation=None),
        N=1, H=32, W=96, seed=5007, format="bare"),
    # UnetPlusPlus: the nested decoder grid. smp refuses sizes that are not multiples of 2^depth, so the
    # size that is not a multiple of 32 (200x152) goes with depth 3, and depth 5 has it padded to 224x160;
    # the bare state_dict has no decoder norm
    "pp_r18_d5_256": dict(
        kwargs=dict(encoder_name="resnet18", encoder_depth=5, decoder_channels=[16, 8, 8, 4, 4],
                    in_channels=3, classes=1, activation="sigmoid"),
        N=1, H=256, W=256, seed=5301, model_class="UnetPlusPlus", padded=(200, 152)),
    "pp_eb0_d3_scse_200x152": dict(
        kwargs=dict(encoder_name="efficientnet-b0", encoder_depth=3, decoder_channels=[32, 16, 16],
                    decoder_attention_type="scse", decoder_interpolation="bilinear",
                    in_channels=1, classes=3, activation="softmax"),
        N=1, H=200, W=152, seed=5302, model_class="UnetPlusPlus"),
    "bare_pp_r18_d4_nonorm": dict(
        kwargs=dict(encoder_name="resnet18", encoder_depth=4, decoder_channels=[16, 16, 8, 8],
                    decoder_use_norm=False, in_channels=3, classes=2, activation=None),
        N=2, H=48, W=80, seed=5303, model_class="UnetPlusPlus", format="bare"),
}
BIG_CONFIGS = {
    f"{enc}_default": dict(kwargs=dict(encoder_name=enc, classes=1, activation="sigmoid"), N=1, H=128, W=128, seed=6000 + i)
    for i, enc in enumerate(["resnet101", "resnet152", "resnext101_32x4d", "resnext101_32x8d"])
}
# every encoder with smp's default decoder at 256x256, plus `input_odd` / `output_odd` at 200x152 (not
# multiples of 32): the per-encoder parity table of the README (bench/parity-smp.ts)
ENCODER_CONFIGS = {
    f"{enc}_256": dict(kwargs=dict(encoder_name=enc, classes=1, activation="sigmoid"), N=1, H=256, W=256, seed=8000 + i, odd=(200, 152))
    for i, enc in enumerate(["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x4d", "resnext101_32x8d",
                             "efficientnet-b0", "efficientnet-b3", "efficientnet-b5", "efficientnet-b7", "efficientnet-b4",
                             "mobilenet_v2"])
}
FULL_CONFIGS = {
    "r34_full256": dict(kwargs=dict(encoder_name="resnet34", classes=1, activation="sigmoid"), N=1, H=256, W=256, seed=7001),
}

LOGIT_STD = {"tanh": 1.0}  # others 2.0
RELU6_GAMMA = 2.0


# ---------------------------------------------------------------------------------------------
# weights


def randomize(model, x):
    """Random weights (global torch RNG, seeded by the caller) + BatchNorm stats calibrated on x."""
    bns = []
    # the last BatchNorm of each residual branch (BasicBlock bn2, Bottleneck bn3)
    branch_end = {f"{n}.bn3" if isinstance(b, Bottleneck) else f"{n}.bn2"
                  for n, b in model.named_modules() if isinstance(b, (BasicBlock, Bottleneck))}
    # and EfficientNet's MBConv blocks with an identity skip (project conv's BatchNorm)
    branch_end |= {f"{n}._bn2" for n, b in model.named_modules() if getattr(b, "skip", False) and hasattr(b, "_project_conv")}
    # and MobileNetV2's InvertedResidual blocks with an identity skip (project conv's BatchNorm)
    branch_end |= smp_mobilenet.residual_branch_ends(model)
    # BatchNorms before a ReLU6 get |gamma| x RELU6_GAMMA, so that the clamp at 6 is exercised (~1% of
    # the outputs; at x 4, ~15%, f32 rounding grows tenfold through the 17 blocks)
    relu6_in = smp_mobilenet.relu6_norms(model)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
                gain = 1.0 if name in ("encoder.conv1", "encoder._conv_stem", "encoder.features.0.0", "segmentation_head.0") else 2.0
                m.weight.normal_(0.0, (gain / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.1)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, (1.0 / m.weight.shape[1]) ** 0.5)
                m.bias.normal_(0.0, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                gamma = torch.empty(c).uniform_(0.5, 1.5)
                sign = torch.where(torch.rand(c) < 0.2, -1.0, 1.0)
                # residual branches end with |gamma| in [0.2, 0.6]: with |gamma| ~ 1 a deep random
                # residual stack amplifies small perturbations (f32 rounding) ~15% per block
                m.weight.copy_(gamma * sign * (0.4 if name in branch_end else RELU6_GAMMA if name in relu6_in else 1.0))
                m.bias.normal_(0.0, 0.3)
                # defaults for BatchNorms the forward never reaches (layers past encoder_depth)
                m.running_mean.normal_(0.0, 0.5)
                m.running_var.uniform_(0.25, 4.0)
                m.num_batches_tracked.fill_(int(torch.randint(1, 100000, ()).item()))
                bns.append((name, torch.randn(c, dtype=torch.float64), torch.empty(c, dtype=torch.float64).uniform_(0.5, 2.0)))
    # Calibrate in float64, in forward order, in eval mode: each BatchNorm sees its real input.
    m64 = copy.deepcopy(model).double().eval()
    mods = dict(m64.named_modules())
    handles = []
    for name, noise, factor in bns:

        def hook(mod, inp, noise=noise, factor=factor):
            t = inp[0]
            mean = t.mean(dim=(0, 2, 3))
            # floors keep f32 rounding from being amplified: channels whose input is nearly constant
            # over the few pixels of a deep layer, or whose mean dwarfs their spread
            var = t.var(dim=(0, 2, 3), unbiased=False) + 0.1 * mean * mean + 1e-2
            mod.running_mean.copy_(mean + 0.5 * var.sqrt() * noise)
            mod.running_var.copy_(var * factor)

        handles.append(mods[name].register_forward_pre_hook(hook))
    with torch.no_grad():
        m64(x.double())
    for h in handles:
        h.remove()
    fmods = dict(model.named_modules())
    with torch.no_grad():
        for name, _, _ in bns:
            fmods[name].running_mean.copy_(mods[name].running_mean.float())
            fmods[name].running_var.copy_(mods[name].running_var.float())
    model.eval()


def forward64(model, x, head_only_conv=False):
    """Float64 forward of a float64 copy of the (f32) model; optionally the head conv's output."""
    m64 = copy.deepcopy(model).double().eval()
    if head_only_conv:
        m64.segmentation_head[2] = nn.Identity()
    with torch.no_grad():
        y = m64(x.double())
    return y[0] if head_only_conv and isinstance(y, tuple) else y  # (masks, labels) with aux_params


def scale_head(model, x):
    """Per class: head logits std LOGIT_STD, centred on the random N(0, 0.1) bias."""
    act = model.config["activation"]
    target = LOGIT_STD.get(act, 2.0)
    conv = model.segmentation_head[0]
    with torch.no_grad():
        b = conv.bias.double().view(1, -1, 1, 1)
        z = forward64(model, x, head_only_conv=True) - b
        sc = target / z.std(dim=(0, 2, 3))
        conv.weight.mul_(sc.view(-1, 1, 1, 1).float())
        conv.bias.sub_((sc * z.mean(dim=(0, 2, 3))).float())
    return sc


def spread(y, act):
    """Fraction of outputs away from the activation's saturation."""
    if act == "sigmoid" or act in ("softmax", "softmax2d"):
        return float(((y >= 0.02) & (y <= 0.98)).double().mean())
    if act == "tanh":
        return float((y.abs() <= 0.96).double().mean())
    return 1.0


def legacy_config_json(model):
    """config.json as an older smp (decoder_use_batchnorm / decoder_interpolation_mode) wrote it."""
    cfg = json.loads(config_json(model))
    cfg["decoder_use_batchnorm"] = cfg.pop("decoder_use_norm")
    cfg["decoder_interpolation_mode"] = cfg.pop("decoder_interpolation")
    return json.dumps(cfg, sort_keys=True, indent=2)


def image_input(img):
    """RGB uint8 HxWx3 -> [1, 3, H, W] f32: v / 255, then (v - mean) / std with ImageNet's mean/std."""
    v = img.astype(np.float64) / 255.0
    v = (v - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    return torch.from_numpy(np.ascontiguousarray(v.transpose(2, 0, 1)[None])).float()


def build(name, spec, image=None):
    kw = spec["kwargs"]
    torch.manual_seed(spec["seed"])
    model = MODELS[spec.get("model_class", "Unet")](**kw)
    x = make_input(spec["N"], model.config["in_channels"], spec["H"], spec["W"])
    randomize(model, x)
    sc = scale_head(model, x)
    y = forward64(model, x).float()
    act = model.config["activation"]
    notes = ["head scale " + ",".join(f"{v:.3g}" for v in sc.tolist())]
    with torch.no_grad():
        notes.append(f"torch f32 max|d| {float((model(x) - y).abs().max()):.2g}")

    fmt = spec.get("format", "current")
    gen_config = dict(kwargs=kw, N=spec["N"], H=spec["H"], W=spec["W"], seed=spec["seed"], format=fmt)
    if "model_class" in spec:
        gen_config["model_class"] = spec["model_class"]
    meta = {
        "torch_version": torch.__version__,
        "script": SCRIPT,
        "config": json.dumps(gen_config, sort_keys=True),
        "format_version": FORMAT_VERSION,
    }
    weights = state_dict_arrays(model)
    wbytes = safetensors_bytes(weights, dict(meta, format="pt"))
    files = {}
    if fmt == "bare":
        files[f"{name}.safetensors"] = wbytes
        model_path = f"{name}.safetensors"
    else:
        cj = legacy_config_json(model) if fmt == "legacy" else config_json(model)
        files[f"{name}/config.json"] = cj.encode("utf-8")
        files[f"{name}/model.safetensors"] = wbytes
        model_path = f"{name}/model.safetensors"
    io = {"input": x.numpy(), "output": y.numpy()}
    if "odd" in spec:
        h2, w2 = spec["odd"]
        x2 = make_input(spec["N"], model.config["in_channels"], h2, w2)
        io["input_odd"], io["output_odd"] = x2.numpy(), forward64(model, x2).float().numpy()
    if "padded" in spec:
        h2, w2 = spec["padded"]
        x2 = make_input(spec["N"], model.config["in_channels"], h2, w2)
        y2 = padded_forward(lambda xp: forward64(model, xp), x2, 2 ** model.config["encoder_depth"])
        io["input_padded"], io["output_padded"] = x2.numpy(), y2.float().numpy()
    io_meta = dict(meta, model=model_path, model_sha256=hashlib.sha256(wbytes).hexdigest(),
                   model_config=json.dumps(model.config, sort_keys=True))
    if image is not None:
        img = load_png_rgb(image)
        if img is not None:
            xi = image_input(img)
            io["input_image"], io["output_image"] = xi.numpy(), forward64(model, xi).float().numpy()
            io_meta["input_image"] = f"{os.path.basename(image)}: RGB / 255, (v - ImageNet mean) / ImageNet std, NCHW"
    files[f"{name}.io.safetensors"] = (io, io_meta)
    return files, weights, io, notes, spread(y, act)


def describe(name, weights, io, spread_frac, notes, sizes):
    y = io["output"]
    print(
        f"{name}: input {list(io['input'].shape)} output {list(y.shape)} weights {len(weights)} tensors "
        f"{sizes / 1e6:.1f} MB; output min {y.min():.4g} max {y.max():.4g} mean {y.mean():.4g} "
        f"unsaturated {spread_frac:.3f} [{', '.join(notes)}]"
    )


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_weights(configs, outdir):
    """Regenerates the weights files whose sha256 is not the one the committed io file records."""
    bad = 0
    for name, spec in configs.items():
        io_path = os.path.join(outdir, f"{name}.io.safetensors")
        _, meta = read_safetensors(io_path)
        path = os.path.join(outdir, meta["model"])
        if os.path.exists(path) and sha256_of(path) == meta["model_sha256"]:
            continue
        files, *_ = build(name, spec)
        content = files[meta["model"]]
        if hashlib.sha256(content).hexdigest() != meta["model_sha256"]:
            print(f"error: {path}: the regenerated weights differ from those {io_path} was computed with "
                  f"(another torch version?); rerun without --weights to remake the fixtures", file=sys.stderr)
            bad += 1
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(content)
        os.replace(tmp, path)
        print(f"wrote {path} ({len(content) / 1e6:.1f} MB)")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="verify existing files instead of writing")
    ap.add_argument("--weights", action="store_true", help="write only missing or stale weights files (checked against the io files)")
    ap.add_argument("--big", metavar="DIR", help="resnet101/152 and resnext101 Unets (default decoder) into DIR")
    ap.add_argument("--full", metavar="DIR", help="full-size resnet34 Unet (256x256) into DIR")
    ap.add_argument("--encoders", metavar="DIR", help="every encoder (ResNet/ResNeXt, EfficientNet b0/b3/b4/b5/b7, mobilenet_v2), default decoder, 256x256 and 200x152, into DIR (~1 GB)")
    ap.add_argument("--image", metavar="PATH", help="with --full: RGB PNG for input_image/output_image")
    ap.add_argument("--only", metavar="NAME", action="append", help="only this config (repeatable)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    args = ap.parse_args()
    if args.image and not args.full:
        ap.error("--image only applies with --full")
    if args.big and args.full:
        ap.error("--big and --full are separate runs")
    torch.set_num_threads(args.threads)

    configs, outdir = CONFIGS, FIXTURE_DIR
    if args.big:
        configs, outdir = BIG_CONFIGS, args.big
    elif args.full:
        configs, outdir = FULL_CONFIGS, args.full
    elif args.encoders:
        configs, outdir = ENCODER_CONFIGS, args.encoders
    if args.only:
        unknown = set(args.only) - set(configs)
        if unknown:
            ap.error(f"unknown config(s) {sorted(unknown)}; known: {sorted(configs)}")
        configs = {k: v for k, v in configs.items() if k in args.only}

    errs = []
    if args.weights:
        return write_weights(configs, outdir)
    for name, spec in configs.items():
        files, weights, io, notes, frac = build(name, spec, args.image if args.full else None)
        size = 0
        for rel, content in files.items():
            path = os.path.join(outdir, rel)
            if isinstance(content, tuple):
                tensors, meta = content
                if args.check:
                    errs += compare(path, tensors, meta)
                else:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(safetensors_bytes(tensors, meta))
                continue
            if rel.endswith(".safetensors"):
                size = len(content)
            if args.check:
                if not os.path.exists(path):
                    if rel.endswith(".safetensors"):
                        print(f"note: {path} not generated (git-ignored; run without --check to write it)")
                    else:
                        errs.append(f"{path}: missing")
                    continue
                with open(path, "rb") as f:
                    got = f.read()
                if got != content:
                    if rel.endswith(".safetensors"):
                        tensors, meta = read_safetensors(path)  # name the first differing tensor
                        errs += compare(path, weights, meta) or [f"{path}: bytes differ"]
                    else:
                        errs.append(f"{path}: differs from the regenerated text")
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(content)
        if args.check:
            print("STALE " if any(name in e for e in errs) else "ok    ", end="")
        describe(name, weights, io, frac, notes, size)

    if errs:
        for e in errs:
            print("error: " + e, file=sys.stderr)
        print("smp fixtures are stale: regenerate with /usr/bin/python3 tools/make_smp_fixtures.py", file=sys.stderr)
        sys.exit(1)
    if args.check:
        print("all smp fixtures match")


if __name__ == "__main__":
    sys.exit(main())
