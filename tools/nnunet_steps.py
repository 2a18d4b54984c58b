#!/usr/bin/python3
"""nnU-Net's own preprocessing steps, run from its source, as fixtures for src/nnunet/ (crop.ts, normalize.ts,
resample.ts, preprocess.ts).

Writes test/fixtures/nnunet_steps/steps.safetensors: random float32 volumes of odd sizes with zero borders and
what nnU-Net's functions make of them. `__metadata__`: `cases` (JSON: per case the function, its arguments and the
names of its tensors), `scipy_version`, `skimage_version`, `numpy_version`, `torch_version`, `script`.

  crop_*       crop_to_nonzero(data): `NAME.input`, `NAME.data` (cropped), `NAME.seg` (-1 outside the filled
               nonzero mask), the bbox in the case
  norm_*       each scheme's run(image, seg) on one channel, as the preprocessor's _normalize calls it:
               `NAME.input`, `NAME.seg`, `NAME.output`
  resample_*   resample_data_or_seg_to_shape(data, new_shape, current_spacing, new_spacing, **kwargs): isotropic up
               and down, anisotropic separate z (order 3 / order_z 0), forced separate z, the low-resolution axis
               last, order_z 3, segmentations (order 1; separate z with order_z 0 and 1), probabilities (order 1,
               as export resamples them), a 2d configuration (in-plane only): `NAME.input`, `NAME.output`
  case_*       DefaultPreprocessor.run_case_npy(data, None, {'spacing': ...}, PlansManager(plans),
               ConfigurationManager, dataset_json) with the plans and dataset.json in the case: `NAME.input`,
               `NAME.output`, the properties in the case

Usage (the checkouts' paths; nothing is vendored; see tools/nnunet_env.py):
  /usr/bin/python3 tools/nnunet_steps.py --sources DIR [--check]
  /usr/bin/python3 tools/nnunet_steps.py --nnunet N --acvl A --batchgenerators B --dna D [--check]
"""
import argparse
import importlib
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nnunet_env  # noqa: E402
from make_fixtures import compare, safetensors_bytes  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "nnunet_steps", "steps.safetensors")
SCRIPT = "tools/nnunet_steps.py"


def volume(rng, shape, box, scale=100.0, offset=50.0):
    """float32 [C, Z, Y, X], zero outside `box` ([[z0, z1], ...]) in every channel, random inside."""
    v = np.zeros(shape, dtype=np.float32)
    sl = (slice(None),) + tuple(slice(a, b) for a, b in box)
    v[sl] = (rng.standard_normal(v[sl].shape) * scale + offset).astype(np.float32)
    return v


def crop_cases(rng, crop_to_nonzero):
    cases, tensors = [], {}
    # 3D, 2 channels: channel 0 in one box, channel 1 in another; an enclosed zero cube (a hole binary_fill_holes
    # fills) and a zero notch open to the border (not filled)
    a = volume(rng, (2, 9, 13, 11), [[2, 8], [3, 11], [1, 9]])
    a[1] = 0
    a[1, 3:7, 2:6, 2:10] = rng.standard_normal((4, 4, 8)).astype(np.float32) + 3
    a[:, 4:6, 5:8, 4:7] = 0  # enclosed
    a[:, 2:8, 3:5, 1:3] = 0  # a notch from the box's face
    # 2D image [C, 1, Y, X]: an enclosed hole is not filled (every voxel is on a z face)
    b = volume(rng, (1, 1, 12, 14), [[0, 1], [2, 10], [3, 12]])
    b[:, :, 5:7, 6:8] = 0
    # nothing nonzero: the bbox is the whole array
    c = np.zeros((1, 3, 4, 5), dtype=np.float32)
    for name, x in (("crop_3d", a), ("crop_2d", b), ("crop_empty", c)):
        data, seg, bbox = crop_to_nonzero(x.copy())
        tensors[f"{name}.input"] = x
        tensors[f"{name}.data"] = data.astype(np.float32)
        tensors[f"{name}.seg"] = seg.astype(np.float32)
        cases.append({"name": name, "fn": "crop_to_nonzero", "shape": list(x.shape),
                      "bbox": [[int(i), int(j)] for i, j in bbox]})
    return cases, tensors


def norm_cases(rng, crop_to_nonzero, schemes):
    cases, tensors = [], {}
    x = volume(rng, (1, 7, 10, 9), [[1, 6], [1, 9], [2, 8]], scale=300.0, offset=400.0)
    x[:, 1:6, 1:4, 2:4] = 0  # a notch open to the box's face: -1 in the cropped seg
    x, seg, _ = crop_to_nonzero(x)  # as the preprocessor: the cropped image and its seg
    rgb = np.floor(rng.random((1, 1, 9, 11)) * 256).astype(np.float32)
    props = {"mean": 321.5, "std": 210.25, "percentile_00_5": -150.0, "percentile_99_5": 820.0}
    for name, cls, use_mask, img, s in (
        ("norm_zscore", "ZScoreNormalization", False, x, seg),
        ("norm_zscore_mask", "ZScoreNormalization", True, x, seg),
        ("norm_ct", "CTNormalization", False, x, seg),
        ("norm_none", "NoNormalization", False, x, seg),
        ("norm_rescale", "RescaleTo01Normalization", False, x, seg),
        ("norm_rgb", "RGBTo01Normalization", False, rgb, np.zeros_like(rgb, dtype=np.int8)),
    ):
        norm = getattr(schemes, cls)(use_mask_for_norm=use_mask, intensityproperties=dict(props))
        out = norm.run(img[0].copy(), s[0])
        tensors[f"{name}.input"] = img[0]
        tensors[f"{name}.seg"] = s[0].astype(np.float32)
        tensors[f"{name}.output"] = np.asarray(out, dtype=np.float32)
        cases.append({"name": name, "fn": cls, "use_mask_for_norm": use_mask, "shape": list(img[0].shape),
                      "intensityproperties": props})
    return cases, tensors


def labels(rng, shape, values):
    """A blocky label map: random labels on a coarse grid, upsampled by repetition."""
    coarse = rng.choice(values, size=tuple((n + 2) // 3 for n in shape)).astype(np.float32)
    return np.kron(coarse, np.ones((3, 3, 3), dtype=np.float32))[: shape[0], : shape[1], : shape[2]][None]


def resample_cases(rng, resampling):
    data = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None}
    seg = {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None}
    prob = {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None}
    probs = rng.random((3, 6, 9, 8)).astype(np.float32)
    probs /= probs.sum(0, keepdims=True)
    defs = [
        # name, input, current spacing, new spacing, kwargs
        ("resample_iso_up", volume(rng, (1, 7, 9, 8), [[1, 6], [1, 8], [1, 7]]), [1.0, 1.0, 1.0], [0.7, 0.7, 0.7], data),
        ("resample_iso_down", volume(rng, (2, 12, 13, 11), [[1, 11], [2, 12], [1, 10]]), [1.0, 1.0, 1.0], [1.6, 1.6, 1.6], data),
        ("resample_aniso_sepz", volume(rng, (1, 5, 12, 13), [[1, 4], [1, 11], [2, 12]]), [3.5, 0.8, 0.8], [2.0, 1.0, 1.0], data),
        ("resample_force_sepz", volume(rng, (1, 8, 9, 10), [[1, 7], [1, 8], [1, 9]]), [1.5, 1.0, 1.0], [1.0, 0.8, 0.8],
         dict(data, force_separate_z=True)),
        ("resample_sepz_axis2", volume(rng, (1, 10, 9, 4), [[1, 9], [1, 8], [0, 4]]), [0.9, 0.9, 4.0], [1.2, 1.2, 2.5], data),
        ("resample_sepz_orderz3", volume(rng, (1, 5, 8, 9), [[0, 5], [1, 7], [1, 8]]), [4.0, 1.0, 1.0], [2.5, 1.3, 1.3],
         dict(data, order_z=3)),
        ("resample_no_sepz_forced_off", volume(rng, (1, 5, 9, 8), [[0, 5], [1, 8], [1, 7]]), [4.0, 1.0, 1.0], [3.0, 1.4, 1.4],
         dict(data, force_separate_z=False)),
        ("resample_seg_iso", labels(rng, (6, 9, 10), [-1, 0, 1, 2]), [1.0, 1.0, 1.0], [0.8, 1.3, 0.9], seg),
        ("resample_seg_sepz", labels(rng, (4, 10, 9), [-1, 0, 1, 3]), [3.5, 1.0, 1.0], [2.0, 0.75, 0.75], seg),
        ("resample_seg_sepz_orderz1", labels(rng, (4, 10, 9), [0, 1, 2]), [3.5, 1.0, 1.0], [2.0, 0.75, 0.75],
         dict(seg, order_z=1)),
        ("resample_probabilities", probs, [1.0, 1.2, 1.2], [0.9, 1.0, 1.1], prob),
        ("resample_2d_config", volume(rng, (1, 3, 14, 15), [[0, 3], [1, 13], [2, 14]]), [5.0, 0.8, 0.8], [5.0, 1.1, 1.1], data),
    ]
    cases, tensors = [], {}
    for name, x, cur, new, kw in defs:
        new_shape = [int(i) for i in resampling.compute_new_shape(x.shape[1:], cur, new)]
        out = resampling.resample_data_or_seg_to_shape(x.copy(), new_shape, cur, new, **kw)
        tensors[f"{name}.input"] = x
        tensors[f"{name}.output"] = np.asarray(out, dtype=np.float32)
        do_sep, axis = resampling.determine_do_sep_z_and_axis(kw["force_separate_z"], cur, new)
        cases.append({"name": name, "fn": "resample_data_or_seg_to_shape", "shape": list(x.shape), "new_shape": new_shape,
                      "current_spacing": cur, "new_spacing": new, "kwargs": kw,
                      "separate_z_axis": int(axis) if do_sep else None})
    return cases, tensors


def plans_for(config_name, spacing, transpose, schemes, use_mask, dims):
    """A minimal plans.json holding what preprocessing reads (and what nnunetConfig needs to parse it)."""
    patch = [16, 16] if dims == 2 else [8, 16, 16]
    conv = "torch.nn.modules.conv.Conv2d" if dims == 2 else "torch.nn.modules.conv.Conv3d"
    norm = "torch.nn.modules.instancenorm.InstanceNorm2d" if dims == 2 else "torch.nn.modules.instancenorm.InstanceNorm3d"
    k = [3] * dims
    return {
        "dataset_name": "Dataset999_Steps", "plans_name": "nnUNetPlans", "original_median_spacing_after_transp": [1, 1, 1],
        "original_median_shape_after_transp": [8, 16, 16], "image_reader_writer": "NibabelIO",
        "transpose_forward": transpose, "transpose_backward": [int(i) for i in np.argsort(transpose)],
        "configurations": {config_name: {
            "data_identifier": "steps", "preprocessor_name": "DefaultPreprocessor", "batch_size": 2,
            "patch_size": patch, "median_image_size_in_voxels": patch, "spacing": spacing,
            "normalization_schemes": schemes, "use_mask_for_norm": use_mask,
            "resampling_fn_data": "resample_data_or_seg_to_shape",
            "resampling_fn_seg": "resample_data_or_seg_to_shape",
            "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
            "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
            "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
            "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None},
            "architecture": {
                "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
                "arch_kwargs": {"n_stages": 2, "features_per_stage": [4, 8], "conv_op": conv,
                                "kernel_sizes": [k, k], "strides": [[1] * dims, [2] * dims], "n_conv_per_stage": [1, 1],
                                "n_conv_per_stage_decoder": [1], "conv_bias": True, "norm_op": norm,
                                "norm_op_kwargs": {"eps": 1e-05, "affine": True}, "dropout_op": None,
                                "dropout_op_kwargs": None, "nonlin": "torch.nn.LeakyReLU",
                                "nonlin_kwargs": {"inplace": True}},
                "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"]},
            "batch_dice": True}},
        "experiment_planner_used": "ExperimentPlanner", "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {
            "0": {"max": 1500.0, "mean": 310.0, "median": 300.0, "min": -900.0, "percentile_00_5": -120.0,
                  "percentile_99_5": 700.0, "std": 180.0},
            "1": {"max": 900.0, "mean": 90.0, "median": 80.0, "min": -50.0, "percentile_00_5": -10.0,
                  "percentile_99_5": 400.0, "std": 60.0}},
    }


def whole_cases(rng, preprocessor_mod, plans_handler):
    dataset = {"channel_names": {"0": "CT", "1": "MR"}, "labels": {"background": 0, "a": 1, "b": 2},
               "numTraining": 1, "file_ending": ".nii.gz"}
    x3 = volume(rng, (2, 14, 11, 6), [[2, 12], [1, 10], [1, 5]], scale=200.0, offset=300.0)
    x3[:, 6:8, 4:6, 2:4] = 0  # a hole: filled, so the masked ZScore counts it
    x2 = volume(rng, (2, 1, 17, 15), [[0, 1], [2, 15], [1, 13]], scale=200.0, offset=300.0)
    defs = [
        # name, configuration, plans spacing, transpose_forward, schemes, use_mask, dims, input, input spacing
        ("case_3d_fullres", "3d_fullres", [2.5, 1.0, 1.0], [2, 0, 1], ["CTNormalization", "ZScoreNormalization"],
         [False, True], 3, x3, [0.7, 0.8, 3.1]),
        ("case_2d", "2d", [0.9, 1.1], [0, 1, 2], ["ZScoreNormalization", "ZScoreNormalization"], [True, False], 2, x2,
         [4.0, 0.75, 0.8]),
    ]
    cases, tensors = [], {}
    for name, cfg, sp, tf, schemes, use_mask, dims, x, spacing in defs:
        plans = plans_for(cfg, sp, tf, schemes, use_mask, dims)
        pm = plans_handler.PlansManager(json.loads(json.dumps(plans)))
        cm = pm.get_configuration(cfg)
        pre = preprocessor_mod.DefaultPreprocessor(verbose=False)
        data, seg, props = pre.run_case_npy(x.copy(), None, {"spacing": list(spacing)}, pm, cm, dataset)
        tensors[f"{name}.input"] = x
        tensors[f"{name}.output"] = np.asarray(data, dtype=np.float32)
        tensors[f"{name}.seg"] = np.asarray(seg, dtype=np.float32)
        cases.append({
            "name": name, "fn": "run_case_npy", "configuration": cfg, "plans": plans, "dataset": dataset,
            "shape": list(x.shape), "spacing": spacing, "output_shape": list(data.shape),
            "shape_before_cropping": [int(i) for i in props["shape_before_cropping"]],
            "bbox_used_for_cropping": [[int(i), int(j)] for i, j in props["bbox_used_for_cropping"]],
            "shape_after_cropping_and_before_resampling": [int(i) for i in props["shape_after_cropping_and_before_resampling"]],
        })
    return cases, tensors


def build():
    import scipy
    import skimage

    cropping = importlib.import_module("nnunetv2.preprocessing.cropping.cropping")
    schemes = importlib.import_module("nnunetv2.preprocessing.normalization.default_normalization_schemes")
    resampling = importlib.import_module("nnunetv2.preprocessing.resampling.default_resampling")
    preprocessor = importlib.import_module("nnunetv2.preprocessing.preprocessors.default_preprocessor")
    plans_handler = importlib.import_module("nnunetv2.utilities.plans_handling.plans_handler")
    rng = np.random.default_rng(20)
    cases, tensors = [], {}
    for c, t in (crop_cases(rng, cropping.crop_to_nonzero), norm_cases(rng, cropping.crop_to_nonzero, schemes),
                 resample_cases(rng, resampling), whole_cases(rng, preprocessor, plans_handler)):
        cases += c
        tensors.update(t)
    meta = {"cases": json.dumps(cases), "scipy_version": scipy.__version__, "skimage_version": skimage.__version__,
            "numpy_version": np.__version__, "torch_version": torch.__version__, "script": SCRIPT}
    return tensors, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    nnunet_env.add_arguments(ap)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--check", action="store_true", help="regenerate in memory and compare with --out")
    args = ap.parse_args()
    nnunet_env.setup(**nnunet_env.paths(args))
    tensors, meta = build()
    if args.check:
        errs = compare(args.out, tensors, meta)
        print("\n".join(errs) if errs else f"{args.out}: up to date")
        sys.exit(1 if errs else 0)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "wb") as f:
        f.write(safetensors_bytes(tensors, meta))
    print(f"wrote {args.out}: {len(tensors)} tensors, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
