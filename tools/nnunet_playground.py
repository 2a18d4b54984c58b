#!/usr/bin/python3
"""The playground's nnU-Net Plain reference: dynamic_network_architectures' (dna) PlainConvUNet itself, run from its
source, counted the way PyTorch counts it; the committed fixture test/playground/nnunetCounts.test.ts compares
describeModel / modelSafetensors with (so CI needs no dna).

  git --git-dir=/work/.mirror/MIC-DKFZ+dynamic-network-architectures/repo archive HEAD | tar -x -C /tmp/dna
  /usr/bin/python3 tools/nnunet_playground.py --dna /tmp/dna            # (re)write test/fixtures/playground/nnunet.json
  /usr/bin/python3 tools/nnunet_playground.py --dna /tmp/dna --check    # compare with the committed file

For each case of CASES (the names of test/playground/nnunetCounts.test.ts's CASES, whose ModelOptions are written there, not
derived from these), the network is built as nnunetv2's get_network_from_plans builds a 2D PlainConvUNet from the
default planner's plans (3x3 kernels, strides 1 then 2, 2 convs per stage, conv bias, InstanceNorm2d(eps 1e-5,
affine) or BatchNorm2d (nnUNetTrainerBN), LeakyReLU, no dropout, deep_supervision False: dna builds every seg
layer regardless) and written as:
  parameters  sum(p.numel() for p in model.parameters())  (each tensor once, however often it is registered)
  buffers     sum(b.numel() for b in model.buffers())
  tensors     key -> [dtype, ...shape] of named_parameters() then named_buffers() (the first name of each tensor)
  state_dict_keys  len(model.state_dict()) (with the repeated all_modules.* / decoder.encoder.* names)
Under torch 1.13 (Debian's), dna imports as tools/nnunet_networks.py imports it: its checkout on sys.path.
"""

import argparse
import json
import os
import re
import sys

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "playground", "nnunet.json")
SCRIPT = "tools/nnunet_playground.py"

# name -> PlainConvUNet's arguments for it, as a person writes them from plans
CASES = {
    "plain_d6_in1_c2": dict(features=[32, 64, 128, 256, 512, 512], input_channels=1, num_classes=2, norm="instance"),
    "plain_d4_bn_in3_c4": dict(features=[32, 64, 128, 256], input_channels=3, num_classes=4, norm="batch"),
    "plain_d8_in1_c3": dict(features=[32, 64, 128, 256, 512, 512, 512, 512], input_channels=1, num_classes=3, norm="instance"),
    "plain_d2_8_16_in2_c1": dict(features=[8, 16], input_channels=2, num_classes=1, norm="instance"),
    "plain_d5_16_in4_c5_bn": dict(features=[16, 32, 64, 128, 256], input_channels=4, num_classes=5, norm="batch"),
}


def build(case):
    from dynamic_network_architectures.architectures.unet import PlainConvUNet

    n = len(case["features"])
    norm = nn.InstanceNorm2d if case["norm"] == "instance" else nn.BatchNorm2d
    net = PlainConvUNet(
        input_channels=case["input_channels"],
        n_stages=n,
        features_per_stage=case["features"],
        conv_op=nn.Conv2d,
        kernel_sizes=[[3, 3]] * n,
        strides=[[1, 1]] + [[2, 2]] * (n - 1),
        n_conv_per_stage=[2] * n,
        num_classes=case["num_classes"],
        n_conv_per_stage_decoder=[2] * (n - 1),
        conv_bias=True,
        norm_op=norm,
        norm_op_kwargs={"eps": 1e-5, "affine": True},
        dropout_op=None,
        dropout_op_kwargs=None,
        nonlin=nn.LeakyReLU,
        nonlin_kwargs={"inplace": True},
        deep_supervision=False,
    )
    net.apply(net.initialize)
    return net


def dtype_of(t):
    return {torch.float32: "F32", torch.int64: "I64"}[t.dtype]


def counts(net):
    tensors = {}
    for k, p in net.named_parameters():
        tensors[k] = [dtype_of(p), *p.shape]
    for k, b in net.named_buffers():
        tensors[k] = [dtype_of(b), *b.shape]
    return {
        "parameters": sum(p.numel() for p in net.parameters()),
        "buffers": sum(b.numel() for b in net.buffers()),
        "state_dict_keys": len(net.state_dict()),
        "tensors": tensors,
    }


def dna_version(dna):
    for line in open(os.path.join(dna, "pyproject.toml")):
        if line.strip().startswith("version"):
            return line.split("=", 1)[1].strip().strip('"')
    return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dna", required=True, help="a dynamic_network_architectures checkout (the folder holding the package)")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(args.dna, "dynamic_network_architectures")):
        print(f"error: --dna {args.dna}: no dynamic_network_architectures/ package there", file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.abspath(args.dna))
    torch.manual_seed(0)
    doc = {
        "script": SCRIPT,
        "dna_version": dna_version(args.dna),
        "torch_version": torch.__version__,
        "cases": {name: {"arguments": case, **counts(build(case))} for name, case in CASES.items()},
    }
    # one line a tensor or argument list: the file stays readable in a diff
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r",\s+", ", ", m.group(1)) + "]", json.dumps(doc, indent=1)) + "\n"
    if args.check:
        old = json.load(open(args.out))
        new = json.loads(text)
        old.pop("torch_version", None)
        new.pop("torch_version", None)
        if old != new:
            print(f"{args.out}: differs from what dna builds now", file=sys.stderr)
            return 1
        print(f"{args.out}: current ({len(CASES)} cases)")
        return 0
    with open(args.out, "w") as f:
        f.write(text)
    for name, c in doc["cases"].items():
        print(f"{name}: {c['parameters']} parameters, {c['buffers']} buffers, {len(c['tensors'])} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
