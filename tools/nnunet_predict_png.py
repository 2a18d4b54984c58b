#!/usr/bin/python3
"""nnU-Net v2's own predictor as the judge for 2D natural-image datasets (dataset.json file_ending ".png", plans
image_reader_writer NaturalImage2DIO): nnUNetPredictor from nnU-Net's source on the CPU, each case read with
NaturalImage2DIO.read_images (skimage.io.imread: gray -> 1 channel, RGB -> 3, as [C, 1, Y, X] with spacing
(999, 1, 1)) and written by predict_single_npy_array as nnUNetv2_predict writes it (<case>.png through the plans'
reader/writer, <case>.npz with --save_probabilities). Extends tools/nnunet_predict.py (its predictor set-up, the
recorded run with float16 and float32 accumulation, case files and safetensors writer are imported from there).

Cases (CASES below) live in test/fixtures/nnunet_predict_png/<case>/:

  <case>_0000.png            the input image: an 8-bit RGB PNG (one file, three of the model's channels) or a gray one
  case.json                  results folder (relative to the case folder), folds, use_mirroring, tile_step_size, files
  results/                   rgb2d only: a 3-channel (R, G, B) 2d network written by tools/nnunet_networks.py's build_case
  reference.safetensors      input (what NaturalImage2DIO read, float32 [C, 1, Y, X]); segmentation (int32 [1, Y, X],
                             the written <case>.png read back with skimage) and probabilities (float16 [K, 1, Y, X], the
                             .npz) for nnU-Net's torch.half accumulation and, as *_f32acc, for float32 accumulation
                             (torch.half pointed at torch.float32 for the call; the float16 Gaussian kept)

  /usr/bin/python3 tools/nnunet_predict_png.py --sources DIR             # (re)write every case
  /usr/bin/python3 tools/nnunet_predict_png.py --sources DIR --check     # regenerate in memory and compare

--sources DIR holds the checkouts nnUNet/, acvl_utils/, batchgenerators/ and dna/ (see tools/nnunet_env.py).
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nnunet_env  # noqa: E402
import nnunet_predict as npred  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "nnunet_predict_png")
SCRIPT = "tools/nnunet_predict_png.py"
FORMAT_VERSION = "1"


def rgb_network():
    """A 2d PlainConvUNet taking an RGB image (channel_names R, G, B as Dataset120_RoadSegmentation's; ZScore per
    channel, as the default planner gives those names), patch 32x32 so that a small image needs several windows."""
    import nnunet_networks as nn_

    return dict(
        doc="2d PlainConvUNet, 3 channels (R, G, B: one RGB PNG), 2 labels, patch 32x32, 4 stages, NaturalImage2DIO plans",
        dim=2, configuration="2d", channels={"0": "R", "1": "G", "2": "B"}, labels={"background": 0, "road": 1},
        file_ending=".png", reader="NaturalImage2DIO", spacing=[1.0, 1.0], patch=[32, 32], input=[1, 3, 32, 32],
        architecture=nn_.arch(nn_.PLAIN, 2, [4, 8, 8, 8], nn_.iso(2, 4), nn_.pools(2, 4), [2] * 4, [2] * 3),
    )


CASES = {
    "rgb2d": dict(
        doc="RGB PNG 52x40 (one file, 3 channels) through an own 3-channel 2d network (results/): patch 32x32 -> 2x3 = 6 "
            "windows, mirroring; a black frame so that the nonzero crop has work to do",
        results="results", network=rgb_network, network_seed=2101, folds=[0], mirroring=True, step=0.5,
        size=[40, 52], mode="rgb", frame=[[2, 0], [0, 3]],
    ),
    "gray2d": dict(
        doc="gray 8-bit PNG 70x50 through test/fixtures/nnunet/plain2d (1 channel, NaturalImage2DIO plans, patch 64x96): "
            "one padded window, no mirroring",
        results="../../nnunet/plain2d", folds=[0], mirroring=False, step=0.5,
        size=[50, 70], mode="gray", frame=[[0, 2], [1, 0]],
    ),
}


def case_seed(name):
    return 2100 + sorted(CASES).index(name)


def input_image(name, case):
    """uint8 [Y, X] (gray) or [Y, X, 3] (RGB): smooth random fields with texture, a zero frame."""
    rng = np.random.default_rng(case_seed(name))
    shape = tuple(case["size"]) + ((3,) if case["mode"] == "rgb" else ())
    field = gaussian_filter(rng.standard_normal(shape), sigma=(3.0, 3.0) + ((0.0,) if len(shape) == 3 else ()), mode="reflect")
    field /= field.std()
    v = np.clip(np.round(128 + 50 * field + 12 * rng.standard_normal(shape)), 1, 255).astype(np.uint8)
    (y0, y1), (x0, x1) = case["frame"]
    out = np.zeros_like(v)
    out[y0 : shape[0] - y1, x0 : shape[1] - x1] = v[y0 : shape[0] - y1, x0 : shape[1] - x1]
    return out


def png_bytes(arr):
    from skimage import io

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.png")
        io.imsave(path, arr, check_contrast=False)
        with open(path, "rb") as f:
            return f.read()


def predict_png(predictor, files, out_dir, case_id, f32acc=False):
    """One case as nnUNetv2_predict runs it with NaturalImage2DIO: read, predict_single_npy_array writing <case>.png
    and <case>.npz; returns what was read, the written segmentation (read back with skimage) and probabilities."""
    from nnunetv2.imageio.natural_image_reader_writer import NaturalImage2DIO
    from skimage import io

    data, props = NaturalImage2DIO().read_images(files)
    steps = npred.predict_recorded(predictor, data, props, out_dir, case_id, f32acc)
    seg = io.imread(os.path.join(out_dir, case_id + ".png"))
    return {
        "input": data, "spacing": [float(s) for s in props["spacing"]], "n_windows": steps["n_windows"], "seconds": steps["seconds"][0],
        "segmentation": seg[None].astype(np.int32), "segmentation_dtype": str(seg.dtype), "probabilities": steps["probabilities"],
    }


def build_case(name, case, sources, case_dir):
    """({relative path: bytes | str | checkpoint dict}, tensors, metadata, seconds) for one case; writes nothing."""
    fname = f"{name}_0000.png"
    files = {fname: png_bytes(input_image(name, case))}
    spec = npred.case_spec(case, [fname], files)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, fname), "wb") as f:
            f.write(files[fname])
        predictor, results = npred.case_predictor(case, sources, case_dir, tmp, files)
        # make_predictor names NibabelIO for the NIfTI cases; nnUNetv2_predict writes with the plans' own writer
        with open(os.path.join(results, "plans.json"), encoding="utf-8") as f:
            predictor.plans_manager.plans["image_reader_writer"] = json.load(f)["image_reader_writer"]
        assert predictor.plans_manager.plans["image_reader_writer"] == "NaturalImage2DIO"
        half, full = npred.predict_both(lambda out, f32acc: predict_png(predictor, [os.path.join(tmp, fname)], out, name, f32acc))
    tensors = {
        "input": half["input"].astype(np.float32),
        "segmentation": half["segmentation"], "segmentation_f32acc": full["segmentation"],
        # float16 (|rounding| <= 2.5e-4, inside the 2e-3) to keep the committed files small
        "probabilities": half["probabilities"].astype(np.float16), "probabilities_f32acc": full["probabilities"].astype(np.float16),
    }
    info = {
        "input_shape": list(half["input"].shape), "input_spacing": half["spacing"], "n_windows": half["n_windows"],
        "segmentation_png_dtype": half["segmentation_dtype"], **npred.accumulation_differences(half, full),
    }
    return files, tensors, npred.case_meta(spec, info, sources, SCRIPT, FORMAT_VERSION), (half["seconds"], full["seconds"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    nnunet_env.add_arguments(ap)
    ap.add_argument("--out", default=OUT, help="the cases' folder (default test/fixtures/nnunet_predict_png)")
    ap.add_argument("--check", action="store_true", help="regenerate in memory and compare with the files under --out")
    args = ap.parse_args()
    sources = nnunet_env.paths(args)
    nnunet_env.setup(**sources)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    failed = 0
    for name, case in CASES.items():
        case_dir = os.path.join(args.out, name)
        files, tensors, meta, (s16, s32) = build_case(name, case, sources, case_dir)
        if args.check:
            errs = npred.check_files(case_dir, files) + npred.compare_reference(os.path.join(case_dir, "reference.safetensors"), tensors, meta)
        else:
            npred.write_files(case_dir, files, tensors, meta)
            errs = []
        info = json.loads(meta["case"])
        seg = tensors["segmentation"]
        print(f"{name}: input {info['input_shape']} spacing {info['input_spacing']}, {info['n_windows']} windows, labels "
              f"{sorted(int(v) for v in np.unique(seg))} ({info['segmentation_png_dtype']} PNG); f16 vs f32 accumulation: "
              f"{info['labels_f16_vs_f32acc_differ']} labels differ, probabilities max |diff| {info['probabilities_f16_vs_f32acc_max_abs']:.3g}; "
              f"predictor {s16:.1f} s / {s32:.1f} s" + ("" if not errs else " STALE" if args.check else " FAILED"))
        for e in errs:
            print("error: " + e, file=sys.stderr)
        failed += bool(errs)
    if args.check:
        print("nnU-Net PNG predictor references match" if not failed else f"nnU-Net PNG predictor references: {failed} case(s) stale or wrong")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
