#!/usr/bin/python3
"""The playground's reference: segmentation_models.pytorch (smp) itself, run from its source, on what the
playground exports (src/playground.ts: smpConfig / modelSafetensors); and the committed fixtures made from it
(test/fixtures/playground/, which test/playground/*.test.ts compare with, so CI needs no smp).

  /usr/bin/python3 tools/smp_playground.py --smp SRC fixtures [--check] [--out DIR]
      runs our side (npx tsx test/playground/export.ts) and smp on the cases named in CONFIGS / FORWARDS /
      PRETRAINED below (the same names as test/playground/cases.ts, whose options are written there, not
      derived from these) and writes DIR (default test/fixtures/playground): smp.json (each config: the
      config.json text smp's save_pretrained writes, parameter and buffer counts, the state_dict's keys,
      dtypes and shapes; each forward: our weights' sha256 and its io file), NAME.io.safetensors (a seeded
      input and smp's float64 output on our weights), pretrained.json (each seeded .pth: how it is made, its
      sha256; each case: the sha256 of every encoder.* tensor as smp loads the file). --check rebuilds all of
      it and compares with DIR instead of writing (outputs to 1e-6, everything else exactly).
  ... count CONFIG.json [CONFIG.json ...]
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
  /usr/bin/python3 tools/smp_playground.py [--smp SRC] make-pth --file ENCODER OUT.pth [--file ...] [--seed 0]
      writes pretrained-format files with seeded weights from numpy's generator (tools/make_torchvision_resnet18.py's
      seeded_state_dict: the same bytes on every machine with the same torch): torchvision's resnet* /
      resnext* / mobilenet_v2 state_dict (with fc / classifier), or efficientnet-pytorch's EfficientNet
      state_dict (with _fc) for efficientnet-b*, whose keys and shapes come from smp's copy of it
      (encoders/_efficientnet.py) with --smp, else from test/fixtures/playground/pretrained.json (b0 only).
      Needs no smp for the others.

SRC is a checked-out copy of smp's source (the folder holding segmentation_models_pytorch/), e.g.
  mkdir -p /tmp/smp && git --git-dir=/work/.mirror/qubvel-org+segmentation_models.pytorch/repo archive HEAD | tar -x -C /tmp/smp
Debian lacks smp's timm / huggingface_hub / safetensors / tqdm: tools/check_smp.py's import hook stubs them.
"""

import argparse
import hashlib
import inspect
import json
import os
import subprocess
import sys
import tempfile
import warnings
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_smp import import_smp  # noqa: E402
from make_fixtures import read_safetensors, safetensors_bytes  # noqa: E402
from make_torchvision_resnet18 import fill_module_state, layout_of, save_pth, seeded_state_dict  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "test", "fixtures", "playground")
FORMAT_VERSION = 1

# name -> (smp class, its arguments as a person writes them); save_pretrained's config adds the defaults.
# The names are test/playground/cases.ts's, whose ModelOptions must give the same config.json text.
CONFIGS = {
    "r34_d5_c3": ("Unet", dict(encoder_name="resnet34", encoder_weights=None, classes=3)),
    "eb0_d4_c2": ("Unet", dict(encoder_name="efficientnet-b0", encoder_depth=4, decoder_channels=[256, 128, 64, 32], encoder_weights=None, classes=2)),
    "mnv2_defaults": ("Unet", dict(encoder_name="mobilenet_v2", encoder_weights=None)),
    "r18_scse": ("Unet", dict(encoder_name="resnet18", encoder_weights=None, decoder_attention_type="scse")),
    "pp_r34": ("UnetPlusPlus", dict(encoder_weights=None)),
    "rx50_d3_nonorm_bilinear_in1_sigmoid": ("Unet", dict(
        encoder_name="resnext50_32x4d", encoder_depth=3, decoder_channels=[256, 128, 64], encoder_weights=None,
        decoder_use_norm=False, decoder_interpolation="bilinear", in_channels=1, activation="sigmoid")),
    "pp_eb3_d3_scse_in4_c5_softmax": ("UnetPlusPlus", dict(
        encoder_name="efficientnet-b3", encoder_depth=3, decoder_channels=[256, 128, 64], encoder_weights=None,
        decoder_attention_type="scse", in_channels=4, classes=5, activation="softmax")),
    "r50_d2_c2_logsoftmax": ("Unet", dict(
        encoder_name="resnet50", encoder_depth=2, decoder_channels=[256, 128], encoder_weights=None, classes=2, activation="logsoftmax")),
    "mnv2_in1_c2": ("Unet", dict(encoder_name="mobilenet_v2", encoder_weights=None, in_channels=1, classes=2)),
    "r18_scse_c4": ("Unet", dict(encoder_name="resnet18", encoder_weights=None, decoder_attention_type="scse", classes=4)),
    "eb3_d3_in4_c3": ("Unet", dict(
        encoder_name="efficientnet-b3", encoder_depth=3, decoder_channels=[64, 32, 16], encoder_weights=None, in_channels=4, classes=3)),
}

_R18_D3 = dict(encoder_name="resnet18", encoder_depth=3, decoder_channels=[32, 16, 16], encoder_weights=None, classes=2)
# name -> (class, arguments, input shape N, C, H, W, input seed): smp runs our seeded weights on this input
FORWARDS = {
    "fwd_r18_d3": ("Unet", _R18_D3, [1, 3, 40, 56], 9),
    "fwd_pp_r18_d3_scse_nonorm_bilinear_in1": ("UnetPlusPlus", dict(
        _R18_D3, decoder_attention_type="scse", decoder_use_norm=False, decoder_interpolation="bilinear", in_channels=1,
        activation="sigmoid"), [1, 1, 32, 48], 10),
}

# encoder file -> the command that makes it ({out}: the path), run from the repository root with /usr/bin/python3
PTH_FILES = {
    "resnet18": ["tools/make_torchvision_resnet18.py", "{out}", "--seed", "7"],
    "efficientnet-b0": ["tools/smp_playground.py", "make-pth", "--seed", "3", "--file", "efficientnet-b0", "{out}"],
    "mobilenet_v2": ["tools/smp_playground.py", "make-pth", "--seed", "3", "--file", "mobilenet_v2", "{out}"],
}
_R18_D4 = dict(encoder_name="resnet18", encoder_depth=4, decoder_channels=[256, 128, 64, 32], classes=2)
# name -> (encoder file, class, arguments without encoder_weights)
PRETRAINED = {
    "pre_r18_in3": ("resnet18", "Unet", _R18_D4),
    "pre_r18_in1": ("resnet18", "Unet", dict(_R18_D4, in_channels=1)),
    "pre_r18_in4": ("resnet18", "Unet", dict(_R18_D4, in_channels=4)),
    "pre_eb0_d4": ("efficientnet-b0", "Unet", dict(encoder_name="efficientnet-b0", encoder_depth=4, decoder_channels=[256, 128, 64, 32], classes=2)),
    "pre_mnv2_d3_in2": ("mobilenet_v2", "Unet", dict(encoder_name="mobilenet_v2", encoder_depth=3, decoder_channels=[256, 128, 64], in_channels=2)),
}


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


def sha256_of(data):
    return hashlib.sha256(data).hexdigest()


def tensor_sha256(t):
    """sha256 of a tensor's little-endian bytes in C order (what a safetensors file holds)."""
    return sha256_of(t.detach().contiguous().numpy().tobytes())


def _jsonable(v):
    """huggingface_hub's is_jsonable: None / bool / int / float / str, lists and tuples of those, dicts of str keys."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_jsonable(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _jsonable(x) for k, x in v.items())
    return False


def saved_config_text(smp, cls_name, kwargs):
    """config.json's text as smp's save_pretrained writes it, without huggingface_hub (Debian lacks it; the
    import hook stubs it): the hub mixin's __new__ keeps the JSON-able defaults of the class's __init__
    signature (inspect.signature, through smp's supports_config_loading wrapper) updated with the JSON-able
    arguments passed; smp's save_pretrained adds "_model_class"; the mixin writes
    json.dumps(config, sort_keys=True, indent=2), no newline at the end."""
    cls = getattr(smp, cls_name)
    params = inspect.signature(cls.__init__).parameters.values()
    config = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty and _jsonable(p.default)}
    config.update({k: v for k, v in kwargs.items() if _jsonable(v)})
    config["_model_class"] = cls_name
    return json.dumps(config, sort_keys=True, indent=2)


def state_dict_layout(model):
    """{key: [dtype, *shape]} of a model's state_dict (what load_state_dict(strict=True) checks), in its order."""
    return {k: [dtype, *shape] for k, shape, dtype in layout_of(model.state_dict())}


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


def smp_pretrained_model(smp, config, pth):
    """smp's model with encoder_weights="imagenet" loaded from `pth`: smp's get_encoder downloads config.json
    and model.safetensors from the hub, then load_file()s them; it is handed the .pth instead, everything
    after that is smp's own code."""
    import segmentation_models_pytorch.encoders as encoders

    encoders.hf_hub_download = lambda *args, **kwargs: pth
    encoders.load_file = lambda path, device="cpu": torch.load(path, map_location=device)
    return build(smp, config, encoder_weights="imagenet")


def pretrained(smp, config_path, pth, ours_path):
    model = smp_pretrained_model(smp, read_config(config_path), pth)
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


def efficientnet_layout(smp, encoder):
    """efficientnet-pytorch's state_dict layout [(key, shape, dtype)]: from smp's copy of the class, or the
    committed one (pretrained.json) without smp."""
    if smp is not None:
        from segmentation_models_pytorch.encoders._efficientnet import EfficientNet, get_model_params

        return layout_of(EfficientNet(*get_model_params(encoder, override_params=None)).state_dict())
    path = os.path.join(FIXTURES, "pretrained.json")
    with open(path, encoding="utf-8") as f:
        files = json.load(f)["files"]
    if "layout" not in files.get(encoder, {}):
        raise SystemExit(f"{path} has no layout for {encoder}: make its file with --smp SRC")
    return [(k, v[1:], v[0]) for k, v in files[encoder]["layout"].items()]


def make_pth(smp, encoder, out, seed):
    """A seeded pretrained-format file; returns (sha256, tensors, layout or None). torchvision's are its module's
    state_dict (with torch's _metadata, as torchvision saves them); efficientnet's a plain OrderedDict in
    efficientnet-pytorch's key order (the same bytes with and without smp)."""
    if encoder.startswith("efficientnet-"):
        layout = efficientnet_layout(smp, encoder)
        sd = OrderedDict(seeded_state_dict(layout, seed))
    else:
        import torchvision

        layout = None
        sd = fill_module_state(getattr(torchvision.models, encoder)(), seed)
    sha = save_pth(sd, out)
    print(json.dumps({"file": out, "tensors": len(sd), "sha256": sha}))
    return sha, len(sd), layout


# ---------------------------------------------------------------------------------------------
# fixtures


def seeded_input(shape, seed):
    """A smooth field (a coarse grid, bilinearly upsampled) plus white noise, from numpy's seeded generator, f32."""
    rng = np.random.default_rng(seed)
    n, c, h, w = shape
    coarse = torch.from_numpy(rng.standard_normal((n, c, max(h // 8, 1), max(w // 8, 1))))
    smooth = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return (smooth + 0.3 * torch.from_numpy(rng.standard_normal((n, c, h, w)))).float().contiguous()


def export_ours(tmp):
    """Our side: test/playground/export.ts writes NAME.config.json (and NAME.safetensors for the forwards)."""
    r = subprocess.run(["npx", "tsx", "test/playground/export.ts", tmp], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"test/playground/export.ts failed:\n{r.stderr[-2000:]}")


def ours_text(tmp, name):
    with open(os.path.join(tmp, f"{name}.config.json"), encoding="utf-8") as f:
        return f.read()


def make_fixtures(smp, tmp, out):
    """Everything the tests compare with, into `out`; returns the names of configs whose text differs from ours
    (the tests then fail on them)."""
    export_ours(tmp)
    differ = []
    meta = {
        "format_version": FORMAT_VERSION,
        "script": "tools/smp_playground.py fixtures",
        "smp_version": smp.__version__,
        "torch_version": torch.__version__,
    }
    configs = {}
    for name, (cls, kwargs) in CONFIGS.items():
        text = saved_config_text(smp, cls, kwargs)
        model = build(smp, json.loads(text))
        if ours_text(tmp, name) != text:
            differ.append(name)
        configs[name] = {
            "config_json": text,
            "parameters": sum(p.numel() for p in model.parameters()),
            "buffers": sum(b.numel() for b in model.buffers()),
            "state_dict": state_dict_layout(model),
        }
        print(f"{name}: {configs[name]['parameters']} parameters, {configs[name]['buffers']} buffers", file=sys.stderr)
    forwards = {}
    for name, (cls, kwargs, shape, seed) in FORWARDS.items():
        text = saved_config_text(smp, cls, kwargs)
        if ours_text(tmp, name) != text:
            differ.append(name)
        weights = os.path.join(tmp, f"{name}.safetensors")
        model = build(smp, json.loads(text))
        model.load_state_dict(tensors_of(weights), strict=True)
        x = seeded_input(shape, seed)
        with torch.no_grad():
            y = model.double()(x.double()).float()
        io_name = f"{name}.io.safetensors"
        with open(weights, "rb") as f:
            weights_sha = sha256_of(f.read())
        io_meta = dict(meta, config=text, model_sha256=weights_sha, input_seed=str(seed))
        io_meta = {k: str(v) for k, v in io_meta.items()}
        with open(os.path.join(out, io_name), "wb") as f:
            f.write(safetensors_bytes({"input": x, "output": y.contiguous()}, io_meta))
        forwards[name] = {"config_json": text, "weights_sha256": weights_sha, "io": io_name, "input_shape": shape}
        print(f"{name}: smp's float64 output on our weights, max |y| {float(y.abs().max()):.4g}", file=sys.stderr)
    files = {}
    for encoder, cmd in PTH_FILES.items():
        pth = os.path.join(tmp, f"{encoder}.pth")
        seed = int(cmd[cmd.index("--seed") + 1])
        sha, n, layout = make_pth(smp, encoder, pth, seed)
        files[encoder] = {"command": ["/usr/bin/python3", *cmd], "sha256": sha, "bytes": os.path.getsize(pth), "tensors": n}
        if layout is not None:
            files[encoder]["layout"] = {k: [dtype, *shape] for k, shape, dtype in layout}
    cases = {}
    for name, (encoder, cls, kwargs) in PRETRAINED.items():
        text = saved_config_text(smp, cls, dict(kwargs, encoder_weights=None))
        if ours_text(tmp, name) != text:
            differ.append(name)
        model = smp_pretrained_model(smp, json.loads(text), os.path.join(tmp, f"{encoder}.pth"))
        sd = model.state_dict()
        cases[name] = {
            "file": encoder,
            "config_json": text,
            # key -> [sha256, dtype, *shape]
            "encoder": {k: [tensor_sha256(v), dtype, *shape] for k, shape, dtype in layout_of(sd) if k.startswith("encoder.") for v in [sd[k]]},
        }
    with open(os.path.join(out, "smp.json"), "w", encoding="utf-8") as f:
        f.write(dump(dict(meta, configs=configs, forwards=forwards)))
    with open(os.path.join(out, "pretrained.json"), "w", encoding="utf-8") as f:
        f.write(dump(dict(meta, files=files, cases=cases)))
    return differ


def dump(obj, indent=0):
    """JSON with an indent of 1, each array of scalars on one line (a key's [dtype, *shape], a command)."""
    pad = " " * (indent + 1)
    if isinstance(obj, dict) and obj:
        items = [f"{pad}{json.dumps(k)}: {dump(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}" + ("\n" if indent == 0 else "")
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        return "[\n" + ",\n".join(pad + dump(v, indent + 1) for v in obj) + "\n" + " " * indent + "]"
    return json.dumps(obj)


def compare_fixtures(new, old):
    """Differences between two fixture folders: JSON files exactly (but torch_version), io inputs exactly,
    outputs to 1e-6 of max(1, |output|)."""
    problems = []
    for name in ("smp.json", "pretrained.json"):
        with open(os.path.join(new, name), encoding="utf-8") as f:
            a = json.load(f)
        try:
            with open(os.path.join(old, name), encoding="utf-8") as f:
                b = json.load(f)
        except FileNotFoundError:
            problems.append(f"{old}/{name} is missing")
            continue
        for part in sorted(set(a) | set(b)):
            if part == "torch_version":
                continue
            if not isinstance(a.get(part), dict) or not isinstance(b.get(part), dict):
                if a.get(part) != b.get(part):
                    problems.append(f"{name}: {part} is {b.get(part)!r}, smp gives {a.get(part)!r}")
                continue
            for key in sorted(set(a[part]) | set(b[part])):
                if a[part].get(key) != b[part].get(key):
                    fields = sorted(f for f in set(a[part].get(key) or {}) | set(b[part].get(key) or {})
                                    if (a[part].get(key) or {}).get(f) != (b[part].get(key) or {}).get(f))
                    problems.append(f"{name}: {part}.{key} differs ({', '.join(fields) or 'missing'})")
    for io in sorted(f for f in os.listdir(new) if f.endswith(".io.safetensors")):
        a, _ = read_safetensors(os.path.join(new, io))
        try:
            b, _ = read_safetensors(os.path.join(old, io))
        except FileNotFoundError:
            problems.append(f"{old}/{io} is missing")
            continue
        if a["input"].shape != b["input"].shape or not np.array_equal(a["input"], b["input"]):
            problems.append(f"{io}: input differs")
        elif a["output"].shape != b["output"].shape:
            problems.append(f"{io}: output shape {list(b['output'].shape)}, smp gives {list(a['output'].shape)}")
        else:
            d = float(np.abs(a["output"].astype(np.float64) - b["output"]).max())
            bound = 1e-6 * max(1.0, float(np.abs(a["output"]).max()))
            print(f"{io}: max |committed - smp| {d:.3g} (bound {bound:.3g})", file=sys.stderr)
            if d > bound:
                problems.append(f"{io}: output differs by {d:.3g} > {bound:.3g}")
    return problems


def fixtures(smp, out, check):
    with tempfile.TemporaryDirectory(prefix="smp-playground-") as tmp:
        dest = os.path.join(tmp, "fixtures") if check else out
        os.makedirs(dest, exist_ok=True)
        differ = make_fixtures(smp, tmp, dest)
        for name in differ:
            print(f"warning: {name}: our config.json text differs from smp's (the tests will fail on it)", file=sys.stderr)
        if not check:
            print(f"wrote {out}: {len(CONFIGS)} configs, {len(FORWARDS)} forwards, {len(PRETRAINED)} pretrained cases")
            return
        problems = compare_fixtures(dest, out)
        for p in problems:
            print(f"MISMATCH {p}")
        if problems:
            raise SystemExit(f"{len(problems)} differences between {out} and smp")
        print(f"{out} matches smp: {len(CONFIGS)} configs, {len(FORWARDS)} forwards, {len(PRETRAINED)} pretrained cases, {len(PTH_FILES)} files")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smp", help="smp's source (the folder holding segmentation_models_pytorch/); make-pth runs without it")
    ap.add_argument("--threads", type=int, default=2)
    sub = ap.add_subparsers(dest="command", required=True)
    fx = sub.add_parser("fixtures")
    fx.add_argument("--check", action="store_true", help="compare with the committed fixtures instead of writing them")
    fx.add_argument("--out", default=FIXTURES)
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
    if args.command != "make-pth" and not args.smp:
        raise SystemExit(f"{args.command} runs smp: give --smp SRC (the folder holding segmentation_models_pytorch/)")
    smp = None
    if args.smp:
        # stdout is the JSON lines: smp's import message goes to stderr
        real_stdout, sys.stdout = sys.stdout, sys.stderr
        smp = import_smp(args.smp)
        sys.stdout = real_stdout
    if args.command == "fixtures":
        fixtures(smp, args.out, args.check)
    elif args.command == "count":
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
