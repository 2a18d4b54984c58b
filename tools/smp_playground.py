#!/usr/bin/python3
"""The playground's reference: segmentation_models.pytorch (smp) itself, run from its source, on what the
playground exports (src/playground.ts: smpConfig / modelSafetensors). Used by test/playground/*.test.ts.

  /usr/bin/python3 tools/smp_playground.py --smp SRC count CONFIG.json [CONFIG.json ...]
      builds smp.<_model_class>(**config) for each config.json (encoder_weights as the file says; null
      downloads nothing) and prints one JSON line per config: {"parameters": sum(p.numel() for p in
      model.parameters()), "buffers": sum(b.numel() for b in model.buffers()), "keys": len(state_dict)}
  ... load --case CONFIG.json MODEL.safetensors [IO.safetensors] [--case ...]
      load_state_dict(strict=True) of our file into smp's model (fails on any missing / unexpected key or
      shape); with IO (tensors "input" [N, C, H, W] and "output", our run's), also the float32 forward of
      smp's model on that input in eval mode; one JSON line per case: {"loaded": true, "max_abs_diff": ...,
      "max_abs_ref": ...}
  ... pretrained --case ENCODER.pth CONFIG.json OURS.safetensors [--case ...]
      smp.<class>(**config, encoder_weights="imagenet") with smp's download replaced by ENCODER.pth (so smp's
      own get_encoder loads it: its load_state_dict dropping fc / _fc / classifier, then set_in_channels /
      patch_first_conv); then compares every encoder.* tensor of that model with OURS bit for bit, printing
      {"encoder_tensors": n, "equal": n, "first_mismatch": key or null}
  ... make-pth --file ENCODER OUT.pth [--file ...] [--seed 0]
      writes pretrained-format files with seeded random weights (BatchNorm statistics randomised too):
      torchvision's resnet* / resnext* / mobilenet_v2 state_dict (with fc / classifier), or efficientnet-pytorch's
      EfficientNet (smp's copy of it, encoders/_efficientnet.py, with _fc) for efficientnet-b*

SRC is a checked-out copy of smp's source (the folder holding segmentation_models_pytorch/), e.g.
  mkdir -p /tmp/smp && git --git-dir=/work/.mirror/qubvel-org+segmentation_models.pytorch/repo archive HEAD | tar -x -C /tmp/smp
Debian lacks smp's timm / huggingface_hub / safetensors / tqdm: tools/check_smp.py's import hook stubs them.
"""

import argparse
import json
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_smp import import_smp  # noqa: E402
from make_fixtures import read_safetensors  # noqa: E402


def build(smp, config, **override):
    cfg = dict(config)
    cls = cfg.pop("_model_class", "Unet")
    cfg.update(override)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(smp, cls)(**cfg).eval()


def read_config(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def tensors_of(path):
    arrays, _ = read_safetensors(path)
    return {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}


def count(smp, paths):
    for path in paths:
        model = build(smp, read_config(path))
        print(json.dumps({
            "parameters": sum(p.numel() for p in model.parameters()),
            "buffers": sum(b.numel() for b in model.buffers()),
            "keys": len(model.state_dict()),
        }))


def load(smp, config_path, weights_path, io_path):
    model = build(smp, read_config(config_path))
    model.load_state_dict(tensors_of(weights_path), strict=True)
    out = {"loaded": True}
    if io_path:
        io = tensors_of(io_path)
        with torch.no_grad():
            y = model(io["input"].float())
        ours = io["output"].float()
        if tuple(y.shape) != tuple(ours.shape):
            raise SystemExit(f"smp's output is {list(y.shape)}, ours {list(ours.shape)}")
        out["max_abs_diff"] = float((y - ours).abs().max())
        out["max_abs_ref"] = float(y.abs().max())
    print(json.dumps(out))


def pretrained(smp, config_path, pth, ours_path):
    import segmentation_models_pytorch.encoders as encoders

    # smp's get_encoder downloads config.json and model.safetensors from the hub, then load_file()s them:
    # hand it the .pth instead, everything after that is smp's own code
    encoders.hf_hub_download = lambda *args, **kwargs: pth
    encoders.load_file = lambda path, device="cpu": torch.load(path, map_location=device)
    model = build(smp, read_config(config_path), encoder_weights="imagenet")
    ours = tensors_of(ours_path)
    keys = [k for k in model.state_dict() if k.startswith("encoder.")]
    equal, first = 0, None
    for k in keys:
        a = model.state_dict()[k]
        b = ours.get(k)
        same = b is not None and a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape) and bool(
            torch.equal(a.contiguous().view(-1).view(torch.int64 if a.dtype == torch.int64 else torch.int32),
                        b.contiguous().view(-1).view(torch.int64 if b.dtype == torch.int64 else torch.int32)))
        if same:
            equal += 1
        elif first is None:
            first = k
    print(json.dumps({"encoder_tensors": len(keys), "equal": equal, "first_mismatch": first}))


def make_pth(smp, encoder, out, seed):
    import torchvision

    torch.manual_seed(seed)
    if encoder.startswith("efficientnet-"):
        from segmentation_models_pytorch.encoders._efficientnet import EfficientNet, get_model_params

        model = EfficientNet(*get_model_params(encoder, override_params=None))
    else:
        model = getattr(torchvision.models, encoder)()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    torch.save(model.state_dict(), out)
    print(json.dumps({"file": out, "tensors": len(model.state_dict())}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smp", required=True, help="smp's source (the folder holding segmentation_models_pytorch/)")
    ap.add_argument("--threads", type=int, default=2)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("count")
    c.add_argument("configs", nargs="+")
    lo = sub.add_parser("load")
    lo.add_argument("--case", action="append", nargs="+", required=True, metavar="FILE", help="CONFIG.json MODEL.safetensors [IO.safetensors]")
    pr = sub.add_parser("pretrained")
    pr.add_argument("--case", action="append", nargs=3, required=True, metavar="FILE", help="ENCODER.pth CONFIG.json OURS.safetensors")
    mk = sub.add_parser("make-pth")
    mk.add_argument("--file", action="append", nargs=2, required=True, metavar="ARG", help="ENCODER OUT.pth")
    mk.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    # stdout is the JSON lines: smp's import message goes to stderr
    real_stdout, sys.stdout = sys.stdout, sys.stderr
    smp = import_smp(args.smp)
    sys.stdout = real_stdout
    if args.command == "count":
        count(smp, args.configs)
    elif args.command == "load":
        for case in args.case:
            if len(case) not in (2, 3):
                raise SystemExit(f"--case takes CONFIG.json MODEL.safetensors [IO.safetensors], got {case}")
            load(smp, case[0], case[1], case[2] if len(case) == 3 else None)
    elif args.command == "pretrained":
        for pth, config, ours in args.case:
            pretrained(smp, config, pth, ours)
    else:
        for encoder, out in args.file:
            make_pth(smp, encoder, out, args.seed)


if __name__ == "__main__":
    main()
