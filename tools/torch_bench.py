#!/usr/bin/python3
"""PyTorch CPU side of `unet bench`: the same U-Net forward, timed, and its outputs for comparison.

  /usr/bin/python3 tools/torch_bench.py --weights W.safetensors --inputs X.safetensors --out Y.safetensors
      [--runs 5] [--warmup 2] [--threads 2]
  /usr/bin/python3 tools/torch_bench.py --smp MODEL --inputs X.safetensors --out Y.safetensors [...]

--weights: the brain-segmentation U-Net state_dict (tools/unet_model.py).
--smp: an smp Unet (ResNet/ResNeXt encoder; tools/smp_unet.py), MODEL being a save_pretrained folder
(config.json + model.safetensors; older config keys decoder_use_batchnorm / decoder_interpolation_mode
accepted) or a bare state_dict .safetensors file (config inferred from the keys; activation None and
nearest interpolation, which the keys do not tell). The output is the segmentation head's, after the
config's activation (with aux_params, only the masks are written).

Reads every tensor `input_*` of X, runs the model (eval, float32, torch.no_grad) on it --warmup times,
then --runs times, and writes `output_*` to Y. Prints one JSON object to stdout:
  {"torch_version": ..., "threads": ..., "results": {"input_*": {"median_ms", "p90_ms", "ms": [...]}}}
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import read_safetensors, safetensors_bytes  # noqa: E402
from unet_model import UNet  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", help="brain U-Net state_dict (.safetensors)")
    src.add_argument("--smp", metavar="MODEL", help="smp Unet: folder (config.json + model.safetensors) or bare state_dict")
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    if args.smp:
        from smp_unet import load_pretrained

        smp_model = load_pretrained(args.smp)

        def model(x):
            y = smp_model(x)
            return y[0] if isinstance(y, tuple) else y

    else:
        sd, _ = read_safetensors(args.weights)
        w1 = sd["encoder1.enc1conv1.weight"]
        model = UNet(w1.shape[1], sd["conv.weight"].shape[0], w1.shape[0])
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()})
        model.eval()

    inputs, _ = read_safetensors(args.inputs)
    results, outputs = {}, {}
    with torch.no_grad():
        for name, arr in inputs.items():
            if not name.startswith("input_"):
                continue
            x = torch.from_numpy(np.array(arr))
            for _ in range(args.warmup):
                model(x)
            ms = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                y = model(x)
                ms.append((time.perf_counter() - t0) * 1000)
            s = sorted(ms)
            results[name] = {"median_ms": s[len(s) // 2], "p90_ms": s[min(len(s) - 1, int(np.ceil(len(s) * 0.9)) - 1)], "ms": ms}
            outputs["output_" + name[len("input_"):]] = y.numpy().astype(np.float32)
    with open(args.out, "wb") as f:
        f.write(safetensors_bytes(outputs, {"torch_version": torch.__version__, "script": "tools/torch_bench.py"}))
    print(json.dumps({"torch_version": torch.__version__, "threads": args.threads, "results": results}))


if __name__ == "__main__":
    main()
