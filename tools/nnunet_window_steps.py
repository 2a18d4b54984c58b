"""nnU-Net's own sliding-window prediction and export, run from its source, as fixtures for src/nnunet/.

Writes test/fixtures/nnunet_window/ (see the README there):
  gaussian.safetensors  compute_gaussian(patch, 1/8, value_scaling_factor=10) as the predictor calls it
                        (dtype float16, compute_gaussian's default) for 2d and 3d, odd and even patches, F16
  steps.json            compute_steps_for_sliding_window and pad_nd_image(..., return_slicer=True) cases
  sliding_NAME.safetensors  nnUNetPredictor.predict_sliding_window_return_logits on a network of
                        test/fixtures/nnunet (its fold_0 weights, the plans' patch replaced by a small one): input
                        [C, Z, Y, X] and logits with mirroring on and off, accumulated in torch.half (as nnU-Net
                        does) and in float32 (torch.half pointed at torch.float32 for that call)
  export_NAME.safetensors  convert_predicted_logits_to_segmentation_with_correct_shape(return_probabilities=True)
                        on random logits (no resampling: the shape after cropping equals the logits'), labels and
                        regions, with cropping reverted and transpose_backward applied

Usage (the checkouts' paths; nothing is vendored):
  /usr/bin/python3 tools/nnunet_window_steps.py --nnunet /tmp/src/nnUNet --acvl /tmp/src/acvl_utils \\
      --batchgenerators /tmp/src/batchgenerators --dna /tmp/src/dynamic-network-architectures [--check]
"""
import argparse
import copy
import importlib.abc
import json
import os
import sys
import types
from importlib.machinery import ModuleSpec

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import compare, safetensors_bytes  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "nnunet_window")
NETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "nnunet")
SCRIPT = "tools/nnunet_window_steps.py"


class _Meta(type):
    def __getattr__(cls, a):
        if a.startswith("__"):
            raise AttributeError(a)
        return _Meta(a, (_Any,), {})


class _Any(metaclass=_Meta):
    """Whatever a stand-in module is asked for: constructible, callable, a context manager."""

    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


class _StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Modules nnunetv2's inference imports but never calls (training augmentation, blosc2 datasets, SimpleITK
    IO, plotting); see ../shared/NNUNET.md."""

    ROOTS = {"batchgeneratorsv2", "blosc2", "SimpleITK", "graphviz", "imagecodecs", "tifffile", "yacs", "einops",
             "timm", "seaborn", "matplotlib", "threadpoolctl"}

    def find_spec(self, name, path, target=None):
        return ModuleSpec(name, self, is_package=True) if name.split(".")[0] in self.ROOTS else None

    def create_module(self, spec):
        m = types.ModuleType(spec.name)
        m.__path__ = []
        m.__getattr__ = lambda a: _Meta(a, (_Any,), {})
        return m

    def exec_module(self, m):
        pass


def import_nnunet(args):
    for p in (args.nnunet, args.acvl, args.batchgenerators, args.dna):
        sys.path.insert(0, os.path.abspath(p))
    sys.meta_path.insert(0, _StandIns())
    dynamo = types.ModuleType("torch._dynamo")
    dynamo.OptimizedModule = type("OptimizedModule", (), {})
    sys.modules["torch._dynamo"] = dynamo
    torch._dynamo = dynamo


GAUSSIAN_PATCHES = [(32, 48), (33, 47), (1, 5), (8, 16, 32), (7, 15, 21), (5, 1, 9), (24, 40, 36)]

STEP_CASES = [  # image, tile, step size
    ((110,), (64,), 0.5), ((64,), (64,), 0.5), ((65,), (64,), 0.5), ((200, 97, 63), (128, 64, 48), 0.5),
    ((200, 97, 63), (128, 64, 48), 0.33), ((300, 300), (96, 160), 0.7), ((101, 59, 83), (20, 32, 32), 0.5),
    ((1000,), (7,), 0.5), ((45, 46), (10, 12), 1.0), ((137, 141, 150), (40, 56, 48), 0.25), ((13,), (5,), 0.1),
]
PAD_CASES = [((2, 10, 13, 40), (8, 16, 32)), ((1, 3, 50, 40), (32, 48)), ((1, 5, 5, 5), (8, 9, 10)), ((3, 40, 50), (32, 48))]


def gaussians():
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian

    out = {}
    for p in GAUSSIAN_PATCHES:
        g = compute_gaussian(p, sigma_scale=1.0 / 8, value_scaling_factor=10, device=torch.device("cpu"))
        assert g.dtype == torch.float16
        out["x".join(map(str, p))] = g.contiguous()
    return out


def steps():
    from acvl_utils.cropping_and_padding.padding import pad_nd_image
    from nnunetv2.inference.sliding_window_prediction import compute_steps_for_sliding_window

    cases = []
    for image, tile, step in STEP_CASES:
        cases.append({"image": list(image), "tile": list(tile), "step": step,
                      "steps": [[int(s) for s in a] for a in compute_steps_for_sliding_window(image, tile, step)]})
    pads = []
    for shape, patch in PAD_CASES:
        padded, slicer = pad_nd_image(torch.zeros(shape), patch, "constant", {"value": 0}, True, None)
        pads.append({"shape": list(shape), "patch": list(patch), "padded": [int(s) for s in padded.shape],
                     "below": [int(s.start) for s in slicer]})
    return {"steps": cases, "pad": pads}


SLIDING = {  # fixture network, configuration, small patch, input [C, Z, Y, X], seed
    "plain3d_aniso": ("3d_fullres", [8, 16, 32], [2, 10, 13, 40], 1),
    "plain2d": ("2d", [32, 48], [1, 3, 50, 40], 2),
    "resenc2d_regions": ("2d", [32, 32], [2, 2, 20, 45], 3),
}


def predictor_for(name, configuration, patch, mirroring):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from nnunet_networks import build_network
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    folder = os.path.join(NETS, name)
    plans = json.load(open(os.path.join(folder, "plans.json")))
    ds = json.load(open(os.path.join(folder, "dataset.json")))
    ck = torch.load(os.path.join(folder, "fold_0", "checkpoint_final.pth"), map_location="cpu", weights_only=False) \
        if "weights_only" in torch.load.__code__.co_varnames else \
        torch.load(os.path.join(folder, "fold_0", "checkpoint_final.pth"), map_location="cpu")
    net = build_network(plans, configuration, ds, False)
    net.load_state_dict(ck["network_weights"])
    net.eval()
    small = copy.deepcopy(plans)
    small["configurations"][configuration]["patch_size"] = patch
    pm = PlansManager(small)
    cm = pm.get_configuration(configuration)
    pred = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=mirroring,
                           perform_everything_on_device=False, device=torch.device("cpu"), verbose=False,
                           allow_tqdm=False)
    pred.manual_initialization(net, pm, cm, None, ds, "nnUNetTrainer", ck["inference_allowed_mirroring_axes"])
    return pred, ck["inference_allowed_mirroring_axes"]


def sliding(name):
    configuration, patch, shape, seed = SLIDING[name]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float32)
    out = {"input": x}
    axes = None
    for mirroring in (False, True):
        pred, axes = predictor_for(name, configuration, patch, mirroring)
        key = "mirror" if mirroring else "plain"
        out[f"{key}.half"] = pred.predict_sliding_window_return_logits(x.clone()).float()
        half = torch.half
        torch.half = torch.float32  # the accumulators only: compute_gaussian's default dtype was bound at import
        try:
            out[f"{key}.f32"] = pred.predict_sliding_window_return_logits(x.clone()).float()
        finally:
            torch.half = half
    meta = {"case": json.dumps({"network": name, "configuration": configuration, "patch": patch, "step": 0.5,
                                "mirror_axes": list(axes)})}
    return out, meta


EXPORT = {  # fixture (dataset + plans), logits shape, shape before cropping, bbox, seed
    "labels3d": ("plain3d_aniso", "3d_fullres", [3, 6, 9, 11], [8, 12, 11], [[1, 7], [2, 11], [0, 11]], 4),
    "regions2d": ("resenc2d_regions", "2d", [3, 1, 17, 13], [1, 20, 15], [[0, 1], [3, 20], [1, 14]], 5),
}


def export(name):
    from nnunetv2.inference.export_prediction import convert_predicted_logits_to_segmentation_with_correct_shape
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    net, configuration, shape, before, bbox, seed = EXPORT[name]
    folder = os.path.join(NETS, net)
    plans = json.load(open(os.path.join(folder, "plans.json")))
    ds = json.load(open(os.path.join(folder, "dataset.json")))
    pm = PlansManager(plans)
    cm = pm.get_configuration(configuration)
    lm = pm.get_label_manager(ds)
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(*shape, generator=g, dtype=torch.float32) * 3
    spacing = [1.0] * 3
    props = {"spacing": spacing, "shape_after_cropping_and_before_resampling": shape[1:],
             "shape_before_cropping": before, "bbox_used_for_cropping": bbox}
    seg, probs = convert_predicted_logits_to_segmentation_with_correct_shape(
        logits.clone(), pm, cm, lm, props, return_probabilities=True, num_threads_torch=1)
    out = {"logits": logits, "segmentation": torch.from_numpy(np.asarray(seg).astype(np.float32)),
           "probabilities": torch.from_numpy(np.asarray(probs, dtype=np.float32))}
    meta = {"case": json.dumps({"dataset": net, "configuration": configuration, "shape_before_cropping": before,
                                "bbox": bbox, "transpose_backward": pm.transpose_backward,
                                "regions_class_order": lm.regions_class_order, "has_regions": lm.has_regions})}
    return out, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nnunet", required=True)
    ap.add_argument("--acvl", required=True)
    ap.add_argument("--batchgenerators", required=True)
    ap.add_argument("--dna", required=True)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--check", action="store_true", help="regenerate in memory and compare with the files")
    args = ap.parse_args()
    import_nnunet(args)
    torch.set_num_threads(2)
    meta = {"torch_version": torch.__version__, "script": SCRIPT}
    files = {"gaussian.safetensors": (gaussians(), {})}
    for name in SLIDING:
        t, m = sliding(name)
        files[f"sliding_{name}.safetensors"] = (t, m)
    for name in EXPORT:
        t, m = export(name)
        files[f"export_{name}.safetensors"] = (t, m)
    os.makedirs(args.out, exist_ok=True)
    text = json.dumps(steps(), indent=1) + "\n"
    bad = 0
    if args.check:
        if open(os.path.join(args.out, "steps.json")).read() != text:
            print("steps.json differs")
            bad += 1
        for f, (t, m) in files.items():
            if not compare(os.path.join(args.out, f), t, {**meta, **m}):
                bad += 1
        sys.exit(1 if bad else 0)
    with open(os.path.join(args.out, "steps.json"), "w") as fh:
        fh.write(text)
    for f, (t, m) in files.items():
        with open(os.path.join(args.out, f), "wb") as fh:
            fh.write(safetensors_bytes(t, {**meta, **m}))
        print(f"wrote {f}")


if __name__ == "__main__":
    main()
