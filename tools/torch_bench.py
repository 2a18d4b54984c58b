#!/usr/bin/python3
"""PyTorch side of `unet bench` and bench/peers.ts: the same U-Net forward, timed, and its outputs for comparison.

  /usr/bin/python3 tools/torch_bench.py --weights W.safetensors --inputs X.safetensors --out Y.safetensors
      [--runs 5] [--warmup 2] [--threads 2] [--device cpu|cuda] [--variants f32,tf32,fp16-cl] [--serve]
  /usr/bin/python3 tools/torch_bench.py --smp MODEL --inputs X.safetensors --out Y.safetensors [...]
  /usr/bin/python3 tools/torch_bench.py --nnunet FOLDER --dna DNA [--folds 0,1] --inputs X.safetensors --out Y.safetensors [...]

--weights: the brain-segmentation U-Net state_dict (tools/unet_model.py).
--smp: an smp Unet (ResNet/ResNeXt encoder; tools/smp_unet.py), MODEL being a save_pretrained folder
(config.json + model.safetensors; older config keys decoder_use_batchnorm / decoder_interpolation_mode
accepted) or a bare state_dict .safetensors file (config inferred from the keys; activation None and
nearest interpolation, which the keys do not tell). The output is the segmentation head's, after the
config's activation (with aux_params, only the masks are written).
--nnunet: an nnU-Net v2 results folder (the trainer folder holding plans.json, dataset.json and fold_K/; or a
Dataset folder with exactly one such trainer folder), its network built as nnU-Net builds it from plans.json by
dynamic_network_architectures' classes in the --dna checkout (tools/nnunet_networks.py's build_network, the one
implementation), each fold's checkpoint_final.pth network_weights loaded strictly; the output is the logits,
averaged over --folds (default every fold_K present, else fold_all) as nnU-Net's predictor averages them;
--checkpoint picks the file in each fold (default checkpoint_final.pth), --configuration the trainer folder
TRAINER__PLANS__C of a Dataset folder holding several.

Variants (eval, torch.no_grad): f32 (TF32 off); tf32 (CUDA only: TF32 allowed in cuDNN convs and
matmuls); fp16-cl (CUDA only: the model and input in float16, channels_last). On CUDA cudnn.benchmark
is on, inputs stay on the GPU for the timing and each forward is bracketed by torch.cuda.synchronize().

Reads every tensor `input_*` of X, runs each variant on it once and writes the outputs to Y (`output_*`
for f32, `output_*@VARIANT` for the others, as float32). Then
- by default: --warmup untimed and --runs timed forwards per input and variant; prints one JSON object:
  {"torch_version", "threads", "device", "results": {"input_*": {"median_ms", "p90_ms", "ms": [...]}}}
  (f32; other variants under "input_*@VARIANT");
- with --serve: prints {"ready": true, "torch_version", "threads", "device"} and then, for each line
  `NAME VARIANT` read from stdin (NAME an input_* tensor), times one forward and prints {"ms": ...};
  an empty line or end of input ends it. The caller interleaves these with its own runs.
"""

import argparse
import json
import os
import re
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import read_safetensors, safetensors_bytes  # noqa: E402
from unet_model import UNet  # noqa: E402

VARIANTS = ("f32", "tf32", "fp16-cl")


def build_model(weights=None, smp=None, nnunet=None, dna=None, folds=None, checkpoint="checkpoint_final.pth", configuration=None):
    """The module named by --weights (brain U-Net state_dict), --smp (smp Unet) or --nnunet (a results folder), in
    eval mode, returning the masks only (smp's aux_params classification output dropped) or nnU-Net's logits."""
    if nnunet:
        return build_nnunet(nnunet, dna, folds, checkpoint, configuration)
    if smp:
        from smp_unet import load_pretrained

        return MasksOnly(load_pretrained(smp))
    sd, _ = read_safetensors(weights)
    w1 = sd["encoder1.enc1conv1.weight"]
    model = UNet(w1.shape[1], sd["conv.weight"].shape[0], w1.shape[0])
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()})
    return model.eval()


class MasksOnly(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        y = self.model(x)
        return y[0] if isinstance(y, tuple) else y


def trainer_folder(folder, configuration=None):
    """The folder holding plans.json: FOLDER itself, or its one subfolder that holds one (a Dataset folder; with
    --configuration C, the one named TRAINER__PLANS__C)."""
    if os.path.isfile(os.path.join(folder, "plans.json")):
        return folder
    subs = sorted(d for d in os.listdir(folder) if os.path.isfile(os.path.join(folder, d, "plans.json")))
    if configuration:
        subs = [d for d in subs if d.endswith("__" + configuration)]
    if len(subs) != 1:
        sys.exit(f"tools/torch_bench.py: --nnunet {folder}: no plans.json there" + (f", and several trainer folders: {subs}" if subs else ""))
    return os.path.join(folder, subs[0])


def fold_names(folder, folds):
    """fold_K folder names: those asked for, else every fold_<number> present, else fold_all."""
    if folds:
        return [f"fold_{f.strip()}" for f in folds.split(",")]
    present = sorted((d for d in os.listdir(folder) if re.fullmatch(r"fold_\d+", d)), key=lambda d: int(d[5:]))
    return present or ["fold_all"]


class FoldAverage(torch.nn.Module):
    """nnU-Net's predictor over several folds: the networks' logits summed, then divided by their number."""

    def __init__(self, nets):
        super().__init__()
        self.nets = torch.nn.ModuleList(nets)

    def forward(self, x):
        y = self.nets[0](x)
        for net in self.nets[1:]:
            y = y + net(x)
        return y / len(self.nets) if len(self.nets) > 1 else y


def build_nnunet(folder, dna, folds, checkpoint="checkpoint_final.pth", configuration=None):
    if not dna or not os.path.isdir(os.path.join(dna, "dynamic_network_architectures")):
        sys.exit(f"tools/torch_bench.py: --nnunet needs --dna, a dynamic_network_architectures checkout (found {dna!r})")
    sys.path.insert(0, os.path.abspath(dna))
    from nnunet_networks import build_network, load_checkpoint

    folder = trainer_folder(folder, configuration)
    with open(os.path.join(folder, "plans.json"), encoding="utf-8") as f:
        plans = json.load(f)
    with open(os.path.join(folder, "dataset.json"), encoding="utf-8") as f:
        ds = json.load(f)
    nets = []
    for name in fold_names(folder, folds):
        path = os.path.join(folder, name, checkpoint)
        if not os.path.isfile(path):
            sys.exit(f"tools/torch_bench.py: --nnunet: no {path}")
        ck = load_checkpoint(path)
        # the configuration the checkpoint was trained as (a results folder's plans hold several)
        net = build_network(plans, ck["init_args"]["configuration"], ds, deep_supervision=False)
        net.load_state_dict(ck["network_weights"], strict=True)
        nets.append(net.eval())
    return FoldAverage(nets).eval()


def add_model_args(ap, nnunet=False):
    """--weights / --smp, and with `nnunet` --nnunet FOLDER --dna PATH --folds (tools/export_onnx.py takes the first two)."""
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", help="brain U-Net state_dict (.safetensors)")
    src.add_argument("--smp", metavar="MODEL", help="smp Unet: folder (config.json + model.safetensors) or bare state_dict")
    if not nnunet:
        return
    src.add_argument("--nnunet", metavar="FOLDER", help="nnU-Net v2 results folder (plans.json, dataset.json, fold_K/checkpoint_final.pth)")
    ap.add_argument("--dna", help="with --nnunet: a dynamic_network_architectures checkout (the folder holding the package)")
    ap.add_argument("--folds", help="with --nnunet: comma-separated folds to average (default every fold_K present, else all)")
    ap.add_argument("--checkpoint", default="checkpoint_final.pth", help="with --nnunet: the checkpoint file in each fold")
    ap.add_argument("--configuration", help="with --nnunet: in a Dataset folder, the trainer folder of this configuration")


class Runner:
    """One forward of an input under a variant, timed with the device synchronized around it."""

    def __init__(self, model, device, inputs):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.models = {"f32": model.to(self.device)}
        self.inputs = {name: torch.from_numpy(np.array(a)).to(self.device) for name, a in inputs.items()}
        self.half = {}

    def forward(self, name, variant):
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r} (known: {', '.join(VARIANTS)})")
        if variant != "f32" and not self.cuda:
            raise ValueError(f"variant {variant} needs --device cuda")
        if self.cuda:
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = variant == "tf32"
        x = self.inputs[name]
        model = self.models["f32"]
        if variant == "fp16-cl":
            if "fp16-cl" not in self.models:
                import copy

                self.models["fp16-cl"] = copy.deepcopy(model).half().to(memory_format=torch.channels_last)
            model = self.models["fp16-cl"]
            if name not in self.half:
                self.half[name] = x.half().contiguous(memory_format=torch.channels_last)
            x = self.half[name]
        return model(x)

    def time(self, name, variant):
        if self.cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        y = self.forward(name, variant)
        if self.cuda:
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) * 1000, y


def percentile(sorted_ms, q):
    return sorted_ms[max(0, min(len(sorted_ms) - 1, int(np.ceil(len(sorted_ms) * q)) - 1))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_args(ap, nnunet=True)
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--variants", default="f32", help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--serve", action="store_true", help="time one forward per request line on stdin")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            sys.exit("tools/torch_bench.py: --device cuda, but this PyTorch sees no CUDA device")
        torch.backends.cudnn.benchmark = True
    variants = args.variants.split(",")
    arrays, _ = read_safetensors(args.inputs)
    runner = Runner(build_model(args.weights, args.smp, args.nnunet, args.dna, args.folds, args.checkpoint, args.configuration), args.device, {k: v for k, v in arrays.items() if k.startswith("input_")})
    head = {"torch_version": torch.__version__, "threads": args.threads, "device": torch.cuda.get_device_name() if runner.cuda else "cpu"}

    outputs = {}
    with torch.no_grad():
        for name in runner.inputs:
            for v in variants:
                y = runner.forward(name, v)
                outputs["output_" + name[len("input_"):] + ("" if v == "f32" else "@" + v)] = y.float().cpu().numpy().astype(np.float32)
        with open(args.out, "wb") as f:
            f.write(safetensors_bytes(outputs, {"torch_version": torch.__version__, "script": "tools/torch_bench.py"}))

        if args.serve:
            print(json.dumps({"ready": True, **head}), flush=True)
            for line in sys.stdin:
                if not line.strip():
                    break
                name, variant = line.split()
                ms, _ = runner.time(name, variant)
                print(json.dumps({"ms": ms}), flush=True)
            return

        results = {}
        for name in runner.inputs:
            for v in variants:
                for _ in range(args.warmup):
                    runner.time(name, v)
                ms = [runner.time(name, v)[0] for _ in range(args.runs)]
                s = sorted(ms)
                results[name + ("" if v == "f32" else "@" + v)] = {"median_ms": percentile(s, 0.5), "p90_ms": percentile(s, 0.9), "ms": ms}
    print(json.dumps({**head, "results": results}))


if __name__ == "__main__":
    main()
