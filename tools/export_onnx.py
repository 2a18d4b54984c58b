#!/usr/bin/python3
"""The model `unet bench` runs, as ONNX, for ONNX Runtime (bench/peers.ts runs it on ORT's WebGPU and CPU EPs).

  /usr/bin/python3 tools/export_onnx.py --weights W.safetensors --out unet.onnx [--opset 17] [--size 64]
  /usr/bin/python3 tools/export_onnx.py --smp MODEL --out unet.onnx [...]

--weights / --smp as in tools/torch_bench.py (the brain U-Net of tools/unet_model.py from its state_dict;
an smp Unet of tools/smp_unet.py from a save_pretrained folder or a bare state_dict). One input `input`
[N, C, H, W] and one output `output` [N, classes, H, W] after the model's activation, float32, with N, H
and W dynamic (the trace runs at --size; the brain U-Net needs H and W multiples of 16). Eval mode: the
exporter folds each BatchNorm into its conv. The TorchScript exporter is used (torch 1.13 here; on
torch >= 2.5 `dynamo=False` asks for it); where that fails (a torch without it), the dynamo exporter.
Prints one JSON line: path, bytes, opset, exporter, torch version.
"""

import argparse
import inspect
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bench import add_model_args, build_model  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(ap)
    ap.add_argument("--out", required=True)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--size", type=int, default=64, help="H = W of the tracing input")
    args = ap.parse_args()

    model = build_model(args.weights, args.smp)
    first = next(p for n, p in model.named_parameters() if p.dim() == 4)
    x = torch.zeros(1, first.shape[1], args.size, args.size)
    dims = {0: "N", 2: "H", 3: "W"}
    has_dynamo = "dynamo" in inspect.signature(torch.onnx.export).parameters

    def export(**extra):
        with torch.no_grad():
            torch.onnx.export(
                model,
                (x,),
                args.out,
                opset_version=args.opset,
                input_names=["input"],
                output_names=["output"],
                dynamic_axes={"input": dims, "output": dims},
                do_constant_folding=True,
                **extra,
            )

    exporter = "torchscript"
    try:
        export(**({"dynamo": False} if has_dynamo else {}))
    except Exception as e:  # noqa: BLE001 - any failure of the old exporter: try the new one
        if not has_dynamo:
            raise
        print(f"tools/export_onnx.py: the TorchScript exporter failed ({e}); trying dynamo=True", file=sys.stderr)
        exporter = "dynamo"
        export(dynamo=True)
    print(json.dumps({"path": args.out, "bytes": os.path.getsize(args.out), "opset": args.opset, "exporter": exporter, "torch_version": torch.__version__}))


if __name__ == "__main__":
    main()
