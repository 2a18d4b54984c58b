#!/usr/bin/python3
"""PyTorch side of bench/large.ts (issue 21's targets): whole-image CPU forwards of large inputs, timed, with
their peak RSS, and their outputs as the references our one-pass and windowed runs are compared with.

  /usr/bin/python3 tools/large_reference.py [--cases b0_2400x1800,...] [--cache bench/.cache/large]
      [--threads 2] [--runs 1] [--f64] [--nnunet DIR] [--dna DIR] [--force] [--retime]

Cases (CASES below; bench/large.ts reads the model and the input from the files this writes):
  b0_2400x1800     smp Unet efficientnet-b0, default decoder, sigmoid, random weights (tools/make_smp_fixtures.py
                   --encoders: the full-size models of bench/parity-smp.ts), input [1, 3, 1800, 2400]
  r34_3072x2304    smp Unet resnet34 (same), input [1, 3, 2304, 3072]
  brain_4096       the brain U-Net demo model (assets/demo/nuclei_unet.safetensors), input [1, 1, 4096, 4096]: the
                   z-scored mosaic of demo samples bench/big-image.ts builds (same generator, same layout)
  nnunet3d_128     nnU-Net's default 3d_fullres PlainConvUNet (32 -> 320 features, 6 stages; tools/nnunet_networks.py
                   --big case default3d_128), input [1, 1, 128, 128, 128] (that case's input)

The smp inputs are image-like: bilinearly upsampled noise at 1/8, 1/32 and 1/128 of the size (structure at every
scale, which is what global pooling sees) plus white noise, seeded; on the random-weight Unets about half the
pixels are foreground and most outputs are away from 0 and 1.

For each case, under --cache:
  CASE.input.safetensors   `input` (f32, NCHW / NCDHW); __metadata__: model (the path bench/large.ts loads), kind,
                           and how the input was made
  CASE.ref.safetensors     `output`: PyTorch's f32 whole-image forward (eval, no_grad) of that input; with --f64 also
                           `output64`, a float64 forward of a float64 copy (nnunet3d_128: the case's own float64
                           output, already computed by tools/nnunet_networks.py); __metadata__: torch_json
  CASE.torch.json          {"seconds": [...], "max_rss_bytes", "threads", "torch_version", ...}

The forward runs in a child process (this script with --child) that loads the model and the input, runs --runs
forwards and reads its own ru_maxrss before writing anything, so the peak RSS is that of one whole-image forward
(model, input, activations, output), as bench/large.ts measures ours. Cases whose files exist are skipped
(--force redoes them). Models that are missing are made: the smp ones by tools/make_smp_fixtures.py --encoders
.cache/smp-encoders, the nnU-Net one by tools/nnunet_networks.py --big --cases default3d_128 --out --nnunet (about
10 minutes: it runs the float64 forward twice).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import read_safetensors, safetensors_bytes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = "tools/large_reference.py"
SMP_DIR = ".cache/smp-encoders"
NNUNET_CASE = "default3d_128"

CASES = {
    "b0_2400x1800": dict(kind="smp", encoder="efficientnet-b0", shape=[1, 3, 1800, 2400], seed=2101),
    "r34_3072x2304": dict(kind="smp", encoder="resnet34", shape=[1, 3, 2304, 3072], seed=2102),
    "brain_4096": dict(kind="brain", weights="assets/demo/nuclei_unet.safetensors", shape=[1, 1, 4096, 4096]),
    "nnunet3d_128": dict(kind="nnunet", shape=[1, 1, 128, 128, 128]),
}


def model_path(case, args):
    c = CASES[case]
    if c["kind"] == "smp":
        return f"{SMP_DIR}/{c['encoder']}_256"
    if c["kind"] == "brain":
        return c["weights"]
    return os.path.join(args.nnunet, NNUNET_CASE)


# ---------------------------------------------------------------------------------------------
# inputs


def image_like(shape, seed):
    """Noise upsampled from 1/8, 1/32 and 1/128 of the size, plus white noise: f32, std about 0.75."""
    n, c, h, w = shape
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, c, h, w, dtype=torch.float64)
    for div, amp in ((8, 0.6), (32, 0.6), (128, 0.5)):
        coarse = torch.randn(n, c, max(h // div, 2), max(w // div, 2), generator=g, dtype=torch.float64)
        x += amp * F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    x += 0.3 * torch.randn(n, c, h, w, generator=g, dtype=torch.float64)
    return x.float().numpy()


def nuclei_mosaic(size):
    """bench/big-image.ts's mosaic(): 128 x 128 demo samples 1-6 picked and flipped by the same generator (a JS
    double multiply, then ToUint32), z-scored over the image (float64, cast to f32)."""
    from PIL import Image

    tiles = [np.asarray(Image.open(os.path.join(ROOT, f"assets/demo/samples/nuclei_0{i + 1}.png")).convert("L"), dtype=np.float64)
             for i in range(6)]
    out = np.zeros((size, size), dtype=np.float64)
    seed = 12345

    def rand():
        nonlocal seed
        seed = int(float(seed) * 1103515245.0 + 12345.0) % 2**32
        return (seed >> 8) / 2**24

    for ty in range(0, size, 128):
        for tx in range(0, size, 128):
            t = tiles[int(rand() * len(tiles))]
            if rand() < 0.5:
                t = t[:, ::-1]
            h, w = min(128, size - ty), min(128, size - tx)
            out[ty : ty + h, tx : tx + w] = t[:h, :w]
    out = out.astype(np.float32).astype(np.float64)  # big-image.ts holds the mosaic in a Float32Array
    mean = out.mean()
    std = max(float((out * out).mean() - mean * mean), 1e-12) ** 0.5
    return ((out - mean) / std).astype(np.float32)[None, None]


def make_input(case, args):
    """(input array, metadata describing it, float64 reference or None)."""
    c = CASES[case]
    if c["kind"] == "smp":
        return image_like(c["shape"], c["seed"]), f"image-like noise (1/8, 1/32, 1/128 and white), seed {c['seed']}", None
    if c["kind"] == "brain":
        return nuclei_mosaic(c["shape"][2]), "bench/big-image.ts's mosaic of demo samples 1-6, z-scored", None
    io, _ = read_safetensors(os.path.join(args.nnunet, f"{NNUNET_CASE}.io.safetensors"))
    return np.array(io["input"]), f"tools/nnunet_networks.py --big case {NNUNET_CASE}'s input", np.array(io["output"])


def ensure_model(case, args):
    c = CASES[case]
    path = os.path.join(ROOT, model_path(case, args))
    if os.path.exists(path):
        return
    if c["kind"] == "smp":
        cmd = [sys.executable, "tools/make_smp_fixtures.py", "--encoders", SMP_DIR, "--only", f"{c['encoder']}_256", "--threads", str(args.threads)]
    elif c["kind"] == "nnunet":
        cmd = [sys.executable, "tools/nnunet_networks.py", "--dna", args.dna, "--big", "--cases", NNUNET_CASE, "--out", args.nnunet]
    else:
        sys.exit(f"{SCRIPT}: {path} is missing")
    print("making the model: " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, cwd=ROOT, check=True)


# ---------------------------------------------------------------------------------------------
# the child: one model, one input, timed forwards


def build(case, path, dna):
    from torch_bench import build_model

    kind = CASES[case]["kind"]
    if kind == "smp":
        return build_model(smp=path)
    if kind == "brain":
        return build_model(weights=path)
    return build_model(nnunet=path, dna=dna)


def cpu_time():
    """User + system CPU seconds of this process, all threads (less sensitive than wall time to a shared machine)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(args):
    torch.set_num_threads(args.threads)
    path = os.path.join(ROOT, model_path(args.child, args))
    model = build(args.child, path, args.dna)
    x = torch.from_numpy(np.array(read_safetensors(os.path.join(args.cache, f"{args.child}.input.safetensors"))[0]["input"]))
    seconds, cpu_seconds = [], []
    y = None
    load = os.getloadavg()[0]
    with torch.no_grad():
        for _ in range(args.runs):
            y = None  # the previous output is freed before the next forward, as one forward would hold it
            t0, c0 = time.perf_counter(), cpu_time()
            y = model(x)
            seconds.append(time.perf_counter() - t0)
            cpu_seconds.append(cpu_time() - c0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    info = {"seconds": seconds, "cpu_seconds": cpu_seconds, "load_before": load, "load_after": os.getloadavg()[0], "max_rss_bytes": rss,
            "threads": torch.get_num_threads(), "torch_version": torch.__version__, "model": model_path(args.child, args)}
    if args.retime:
        print(json.dumps(info))
        return
    out = {"output": y.numpy()}
    f64_seconds = None
    if args.f64:
        m64 = model.double()
        x64 = x.double()
        del model, x
        with torch.no_grad():
            t0 = time.perf_counter()
            out["output64"] = m64(x64).float().numpy()
            f64_seconds = time.perf_counter() - t0
    info["f64_seconds"] = f64_seconds
    with open(os.path.join(args.cache, f"{args.child}.ref.safetensors.tmp"), "wb") as f:
        f.write(safetensors_bytes(out, {"torch_json": json.dumps(info), "script": SCRIPT}))
    print(json.dumps(info))


# ---------------------------------------------------------------------------------------------


def retime(case, args):
    """The forward again, timed, its output not written: CASE.torch.json is replaced (f64_seconds kept)."""
    base = os.path.join(args.cache, case)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", case, "--cache", args.cache, "--threads", str(args.threads), "--runs", str(args.runs),
           "--nnunet", args.nnunet, "--dna", args.dna, "--retime"]
    info = json.loads(subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, check=True, text=True).stdout.strip().splitlines()[-1])
    with open(f"{base}.torch.json", encoding="utf-8") as f:
        info["f64_seconds"] = json.load(f).get("f64_seconds")
    with open(f"{base}.torch.json", "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    print(f"{case}: torch {', '.join(f'{s:.1f}' for s in info['seconds'])} s (cpu {', '.join(f'{s:.1f}' for s in info['cpu_seconds'])}), "
          f"peak RSS {info['max_rss_bytes'] / 2**20:.0f} MiB, load {info['load_before']:.1f}", file=sys.stderr)


def run_case(case, args):
    base = os.path.join(args.cache, case)
    if not args.force and all(os.path.exists(f"{base}.{s}") for s in ("input.safetensors", "ref.safetensors", "torch.json")):
        print(f"{case}: cached ({base}.*)", file=sys.stderr)
        return
    ensure_model(case, args)
    x, how, ref64 = make_input(case, args)
    meta = {"model": model_path(case, args), "kind": CASES[case]["kind"], "input": how, "script": SCRIPT}
    with open(f"{base}.input.safetensors", "wb") as f:
        f.write(safetensors_bytes({"input": x}, meta))
    del x
    print(f"{case}: torch forward ({args.runs} run(s), {args.threads} threads{', then float64' if args.f64 and ref64 is None else ''})...", file=sys.stderr)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", case, "--cache", args.cache, "--threads", str(args.threads), "--runs", str(args.runs),
           "--nnunet", args.nnunet, "--dna", args.dna] + (["--f64"] if args.f64 and ref64 is None else [])
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, check=True, text=True)
    info = json.loads(r.stdout.strip().splitlines()[-1])
    if ref64 is not None:
        # the case's own float64 forward: add it to the reference file
        refs, m = read_safetensors(f"{base}.ref.safetensors.tmp")
        refs = {k: np.array(v) for k, v in refs.items()}
        refs["output64"] = ref64
        with open(f"{base}.ref.safetensors.tmp", "wb") as f:
            f.write(safetensors_bytes(refs, m))
    os.replace(f"{base}.ref.safetensors.tmp", f"{base}.ref.safetensors")
    with open(f"{base}.torch.json", "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    print(f"{case}: torch {', '.join(f'{s:.1f}' for s in info['seconds'])} s, peak RSS {info['max_rss_bytes'] / 2**20:.0f} MiB"
          + (f", float64 {info['f64_seconds']:.1f} s" if info.get("f64_seconds") else ""), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma-separated (default all: {', '.join(CASES)})")
    ap.add_argument("--cache", default="bench/.cache/large", help="where the inputs and references go (git-ignored)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: every core)")
    ap.add_argument("--runs", type=int, default=1, help="timed forwards (the last one's output is the reference)")
    ap.add_argument("--f64", action="store_true", help="also a float64 forward (output64) for the cases that lack one")
    ap.add_argument("--nnunet", default="bench/.cache/nnunet-big", help=f"tools/nnunet_networks.py --big --out folder holding {NNUNET_CASE}")
    ap.add_argument("--dna", default="/tmp/dna", help="a dynamic_network_architectures checkout (for the nnU-Net case)")
    ap.add_argument("--force", action="store_true", help="redo cases whose files exist")
    ap.add_argument("--retime", action="store_true", help="time the forwards of cases already made again (CASE.torch.json only)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.chdir(ROOT)
    if args.child:
        return child(args)
    os.makedirs(args.cache, exist_ok=True)
    cases = args.cases.split(",")
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown cases {unknown}; known: {list(CASES)}")
    for case in cases:
        (retime if args.retime else run_case)(case, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
