#!/usr/bin/python3
"""nnU-Net v2's own predictor as the judge for src/nnunet/: nnUNetPredictor run from nnU-Net's source on the CPU
(perform_everything_on_device=False), on NIfTI cases read and written with NibabelIO as nnUNetv2_predict does, with
every intermediate step it computes recorded so the engine's pieces can be checked alone.

Cases (CASES below) live in test/fixtures/nnunet_predict/<case>/:

  <case>_0000.nii.gz (, _0001)  the input channels: small synthetic volumes (smooth fields, CT in int16 HU, MR in
                                float32, with a zero frame so the nonzero crop has work to do)
  case.json                     results folder (relative to the case folder), folds, use_mirroring, tile_step_size,
                                channel files, doc
  results/                      only for cases whose network is not one of test/fixtures/nnunet's: a results folder
                                written by tools/nnunet_networks.py's build_case (its own writer, our case spec)
  reference.safetensors         what nnU-Net computed (tensor list in the README there)

Float16 accumulation: nnU-Net accumulates window logits and Gaussian weights in torch.half. The reference holds that
run (`logits`, `probabilities`, `segmentation`) and a second one with float32 accumulation (`*_f32acc`): torch.half
pointed at torch.float32 for the duration of one predict call, nothing else changed. The Gaussian stays nnU-Net's
float16 map (compute_gaussian's dtype default was bound at definition) in both runs.

  /usr/bin/python3 tools/nnunet_predict.py --sources DIR                 # (re)write every case
  /usr/bin/python3 tools/nnunet_predict.py --sources DIR --check         # regenerate in memory and compare
  /usr/bin/python3 tools/nnunet_predict.py --sources DIR --cases a,b     # some cases
  /usr/bin/python3 tools/nnunet_predict.py --sources DIR --results FOLDER --images X_0000.nii.gz [...] \\
      --out-dir OUT [--folds 0 1] [--no-mirroring] [--step 0.5] [--reference OUT/X.safetensors]
                                                                         # any case, as nnUNetv2_predict (bench)

--sources DIR holds the checkouts nnUNet/, acvl_utils/, batchgenerators/ and dna/ (or give --nnunet, --acvl,
--batchgenerators, --dna one by one); see tools/nnunet_env.py.
"""

import argparse
import contextlib
import copy
import json
import os
import struct
import sys
import tempfile
import time

import nibabel
import numpy as np
import torch
from scipy.ndimage import gaussian_filter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nnunet_env  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "nnunet_predict")
SCRIPT = "tools/nnunet_predict.py"
FORMAT_VERSION = "1"
# The Gaussian map is stored when the patch has at most this many voxels (the big 3d patches would be megabytes).
GAUSSIAN_MAX_VOXELS = 1 << 16

# --check: a rerun on another machine may sum convolutions in another order
CHECK_TOL = {"F32": 1e-4, "F16": 4e-3}
CHECK_LABEL_FRACTION = 1e-3  # of voxels whose label may differ

# ---------------------------------------------------------------------------------------------
# cases
#
# Each input: shape [Z, Y, X] and spacing [Z, Y, X] as nnU-Net sees them after NibabelIO (the NIfTI holds X, Y, Z),
# one entry per channel: "ct" (int16 HU) or "mr" (float32); `frame` zero voxels [[z0, z1], [y0, y1], [x0, x1]].


def own_network_3d():
    """A 3d PlainConvUNet with a small patch [8, 8, 8] so that a small volume needs dozens of windows (none of
    test/fixtures/nnunet's 3d networks has a patch smaller than 20x320x256 or 64x128x128). Written by
    tools/nnunet_networks.py's build_case with this spec; that script has no command line for a new case."""
    import nnunet_networks as nn_

    return dict(
        doc="3d PlainConvUNet, 1 channel CT, 3 labels, patch 8x8x8, 3 stages (stride 1, 2, 2), spacing 1x1x1, NibabelIO plans",
        dim=3, configuration="3d_fullres", channels={"0": "CT"}, labels={"background": 0, "organ": 1, "lesion": 2},
        reader="NibabelIO", spacing=[1.0, 1.0, 1.0], patch=[8, 8, 8], input=[1, 1, 8, 8, 8],
        architecture=nn_.arch(nn_.PLAIN, 3, [4, 8, 8], nn_.iso(3, 3), nn_.pools(3, 3), [2] * 3, [2] * 2),
    )


CASES = {
    "aniso3d_sepz": dict(
        doc="3d PlainConvUNet (test/fixtures/nnunet/plain3d_aniso), 2 MR channels (ZScore), 3 labels, spacing 4.0x0.75x0.75 -> "
            "3.6x0.62x0.62: anisotropic, separate-z resampling (order 3 in-plane, order 0 along z); one padded window, mirroring",
        results="../../nnunet/plain3d_aniso", folds=[0], mirroring=True, step=0.5,
        shape=[8, 20, 24], spacing=[4.0, 0.75, 0.75], channels=["mr", "mr"], frame=[[1, 0], [2, 1], [0, 3]],
    ),
    "resenc3d_ct_2folds": dict(
        doc="3d ResidualEncoderUNet (test/fixtures/nnunet/resenc3d_2folds), 1 CT channel, folds 0 and 1, no mirroring, spacing "
            "1.2x0.9x0.9 -> 1.0x0.78x0.78: isotropic resampling (order 3, no separate z); one padded window",
        results="../../nnunet/resenc3d_2folds", folds=[0, 1], mirroring=False, step=0.5,
        shape=[12, 24, 20], spacing=[1.2, 0.9, 0.9], channels=["ct"], frame=[[0, 1], [1, 2], [2, 0]],
    ),
    "regions2d": dict(
        doc="2d ResidualEncoderUNet (test/fixtures/nnunet/resenc2d_regions), 2 MR channels (ZScore), region-based (sigmoid, "
            "regions_class_order), in-plane spacing 1x1 = the plans': no resampling; 5 slices, one padded window each, mirroring",
        results="../../nnunet/resenc2d_regions", folds=[0], mirroring=True, step=0.5,
        shape=[5, 32, 28], spacing=[3.0, 1.0, 1.0], channels=["mr", "mr"], frame=[[0, 0], [3, 1], [2, 2]],
    ),
    "ct2d_windows": dict(
        doc="2d PlainConvUNet (test/fixtures/nnunet/plain2d_n2_offpatch), 1 CT channel, patch 32x32, in-plane spacing 0.8 -> 0.7 "
            "(2d: each slice resized, order 3), 4 slices x 2x3 windows = 24 windows, mirroring",
        results="../../nnunet/plain2d_n2_offpatch", folds=[0], mirroring=True, step=0.5,
        shape=[4, 40, 48], spacing=[2.5, 0.8, 0.8], channels=["ct"], frame=[[0, 0], [0, 2], [1, 0]],
    ),
    "windows3d": dict(
        doc="3d PlainConvUNet (own, patch 8x8x8, in results/), 1 CT channel, 3 labels, spacing 1x1x1 = the plans': no resampling; "
            "cropped to 15x19x20 it needs 3x4x4 = 48 windows, mirroring (8 flips each)",
        # network_seed: of 16 seeds tried, one whose random weights give all three labels on this input
        results="results", network=own_network_3d, network_seed=2010, folds=[0], mirroring=True, step=0.5,
        shape=[16, 20, 20], spacing=[1.0, 1.0, 1.0], channels=["ct"], frame=[[1, 0], [0, 1], [0, 0]],
    ),
}


def case_seed(name):
    return 2000 + sorted(CASES).index(name)


def synthetic_channel(kind, shape, frame, rng):
    """A smooth random field with some texture. CT: int16 HU around the plans' foreground intensities (mean 97, std
    77), with air pockets (-1000) and bone (1200) past the 0.5 / 99.5 percentiles that CT normalization clips to.
    MR: positive float32."""
    field = gaussian_filter(rng.standard_normal(shape), sigma=2.0, mode="reflect")
    field /= field.std()
    noise = rng.standard_normal(shape)
    if kind == "ct":
        v = 97.0 + 110.0 * field + 25.0 * noise
        v[field < -1.8] = -1000.0
        v[field > 2.0] = 1200.0
        v = np.round(v).astype(np.int16)
    else:
        v = np.maximum(300.0 + 150.0 * field + 20.0 * noise, 1.0).astype(np.float32)
    out = np.zeros(shape, dtype=v.dtype)
    sl = tuple(slice(a, n - b) for (a, b), n in zip(frame, shape))
    out[sl] = v[sl]
    return out


def input_images(name, case):
    """[(file name, nibabel image)] for the case's channels: the NIfTI holds X, Y, Z (NibabelIO transposes back)."""
    rng = np.random.default_rng(case_seed(name))
    z, y, x = case["spacing"]
    affine = np.array([[x, 0, 0, -12.5], [0, y, 0, 20.0], [0, 0, z, 7.5], [0, 0, 0, 1]], dtype=np.float64)
    out = []
    for i, kind in enumerate(case["channels"]):
        arr = synthetic_channel(kind, case["shape"], case["frame"], rng)
        img = nibabel.Nifti1Image(np.ascontiguousarray(arr.transpose(2, 1, 0)), affine)
        img.header.set_xyzt_units("mm", "sec")
        out.append((f"{name}_{i:04d}.nii.gz", img))
    return out


# ---------------------------------------------------------------------------------------------
# safetensors (F32, F16, I32)

ST_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "I32": np.dtype("<i4")}
NP_TO_ST = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int32"): "I32"}


def safetensors_bytes(tensors, metadata):
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        b = arr.astype(ST_DTYPES[NP_TO_ST[arr.dtype]], copy=False).tobytes()
        header[name] = {"dtype": NP_TO_ST[arr.dtype], "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(body[b:e], dtype=ST_DTYPES[info["dtype"]]).reshape(info["shape"]).astype(ST_DTYPES[info["dtype"]].newbyteorder("="))
    return out, meta


# ---------------------------------------------------------------------------------------------
# running nnU-Net, recording its steps


class Recorder:
    """Wraps the nnU-Net functions whose results the reference keeps, for the duration of one prediction."""

    def __init__(self):
        self.steps = {}

    @contextlib.contextmanager
    def attach(self, predictor):
        cm = predictor.configuration_manager
        pre_cls = cm.preprocessor_class
        orig_norm, orig_run = pre_cls._normalize, pre_cls.run_case_npy
        orig_logits = predictor.predict_logits_from_preprocessed_data
        orig_slicers = predictor._internal_get_sliding_window_slicers
        rec = self.steps

        def normalize(this, data, *a, **k):
            rec["cropped"] = np.array(data, copy=True)
            out = orig_norm(this, data, *a, **k)
            rec["normalized"] = np.array(out, dtype=np.float32, copy=True)
            return out

        def run_case_npy(this, *a, **k):
            data, seg, props = orig_run(this, *a, **k)
            rec["preprocessed"] = np.array(data, dtype=np.float32, copy=True)
            rec["properties"] = copy.deepcopy(props)
            return data, seg, props

        def logits(data):
            out = orig_logits(data)
            rec["logits"] = out.detach().cpu().numpy().copy()
            return out

        def slicers(image_size):
            out = orig_slicers(image_size)
            rec["padded_shape"] = [int(s) for s in image_size]
            rec["n_windows"] = len(out)
            return out

        pre_cls._normalize, pre_cls.run_case_npy = normalize, run_case_npy
        predictor.predict_logits_from_preprocessed_data = logits
        predictor._internal_get_sliding_window_slicers = slicers
        try:
            yield rec
        finally:
            pre_cls._normalize, pre_cls.run_case_npy = orig_norm, orig_run
            del predictor.predict_logits_from_preprocessed_data, predictor._internal_get_sliding_window_slicers


@contextlib.contextmanager
def float32_accumulation():
    """nnU-Net's sliding window with float32 accumulators: torch.half -> torch.float32 while it runs
    (predicted_logits and n_predictions are allocated with dtype=torch.half). The Gaussian is untouched: its float16
    dtype is compute_gaussian's default, bound when the function was defined, so both runs weight windows with the
    same float16 map (zeros replaced by its smallest nonzero value), as an engine that computes nnU-Net's map and
    accumulates in float32 does."""
    orig_half = torch.half
    torch.half = torch.float32
    try:
        yield
    finally:
        torch.half = orig_half


def make_predictor(results, folds, mirroring, step):
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

    with contextlib.redirect_stdout(sys.stderr):
        p = nnUNetPredictor(tile_step_size=step, use_gaussian=True, use_mirroring=mirroring, perform_everything_on_device=False,
                            device=torch.device("cpu"), verbose=False, verbose_preprocessing=False, allow_tqdm=False)
        p.initialize_from_trained_model_folder(results, tuple(folds), "checkpoint_final.pth")
    # nnUNetv2_predict reads and writes with the plans' image_reader_writer; the fixtures' plans name SimpleITKIO, which
    # reads the same Z, Y, X array and spacing from these axis-aligned NIfTIs. NibabelIO is what runs here (no SimpleITK).
    p.plans_manager.plans["image_reader_writer"] = "NibabelIO"
    return p


def predict_recorded(predictor, data, props, out_dir, case_id, f32acc=False):
    """predict_single_npy_array on what the reader gave, as nnUNetv2_predict calls it (`<out_dir>/<case_id>` through the
    plans' writer, plus `.npz`), under the Recorder and, with f32acc, float32 accumulation; returns the recorded steps
    plus (wall, CPU) seconds and the written probabilities."""
    rec = Recorder()
    t0, c0 = time.time(), time.process_time()
    with rec.attach(predictor), (float32_accumulation() if f32acc else contextlib.nullcontext()), contextlib.redirect_stdout(sys.stderr):
        predictor.predict_single_npy_array(data, props, None, os.path.join(out_dir, case_id), True)
    steps = rec.steps
    steps["seconds"] = (time.time() - t0, time.process_time() - c0)
    steps["probabilities"] = np.load(os.path.join(out_dir, case_id + ".npz"))["probabilities"].astype(np.float32)
    return steps


def predict_both(predict, out_dir=None):
    """(half, full): `predict(out_dir, f32acc)` with nnU-Net's float16 accumulation, then with float32 accumulation,
    each writing into a fresh temporary folder (the float16 run into `out_dir` when one is given)."""
    runs = {}
    for f32acc in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            runs[f32acc] = predict(out_dir if (out_dir and not f32acc) else tmp, f32acc)
    return runs[False], runs[True]


def accumulation_differences(half, full):
    """How far the float16 accumulation run is from the float32 one (reported, and left out of --check's comparison)."""
    return {
        "labels_f16_vs_f32acc_differ": int(np.sum(half["segmentation"] != full["segmentation"])),
        "probabilities_f16_vs_f32acc_max_abs": float(np.max(np.abs(half["probabilities"] - full["probabilities"]))),
    }


def predict_files(predictor, files, out_dir, case_id, f32acc=False):
    """One case through predict_single_npy_array with the files nnUNetv2_predict writes (`<case>.nii.gz`, `<case>.npz`,
    `<case>.pkl`); returns the recorded steps plus the written segmentation (Z, Y, X) and probabilities."""
    from nnunetv2.imageio.nibabel_reader_writer import NibabelIO

    data, props = NibabelIO().read_images(files)
    steps = predict_recorded(predictor, data, props, out_dir, case_id, f32acc)
    seg = np.asarray(nibabel.load(os.path.join(out_dir, case_id + ".nii.gz")).dataobj)
    steps["segmentation"] = seg.transpose(2, 1, 0).astype(np.int32)
    steps["input_shape"] = list(data.shape)
    steps["input_spacing"] = [float(s) for s in props["spacing"]]
    return steps


def reference(predictor, files, case_id, out_dir=None):
    """(tensors, info, seconds per run) for one case: both accumulations, the steps of the float16 run."""
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian, compute_steps_for_sliding_window

    half, full = predict_both(lambda d, f32acc: predict_files(predictor, files, d, case_id, f32acc), out_dir)
    cm = predictor.configuration_manager
    props = half["properties"]
    patch = [int(p) for p in cm.patch_size]
    steps = compute_steps_for_sliding_window(half["padded_shape"][-len(patch):], patch, predictor.tile_step_size)
    t = {"bbox": np.array(props["bbox_used_for_cropping"], dtype=np.int32), "normalized": half["normalized"]}
    resampled = half["preprocessed"].shape != half["normalized"].shape or not np.array_equal(half["preprocessed"], half["normalized"])
    if resampled:  # absent: resampling returned its input (the spacing is the plans')
        t["preprocessed"] = half["preprocessed"]
    if int(np.prod(patch)) <= GAUSSIAN_MAX_VOXELS:
        # the map both runs weight windows with (float16 values)
        t["gaussian"] = compute_gaussian(tuple(patch), sigma_scale=1.0 / 8, value_scaling_factor=10, device=torch.device("cpu")).float().numpy()
        compute_gaussian.cache_clear()
    for i, s in enumerate(steps):
        t[f"steps.{i}"] = np.array(s, dtype=np.int32)
    t["logits"] = half["logits"].astype(np.float16)
    t["logits_f32acc"] = full["logits"].astype(np.float32)
    # float16 (|rounding| <= 2.5e-4, well inside the 2e-3) to keep the committed files small
    t["probabilities"] = half["probabilities"].astype(np.float16)
    t["probabilities_f32acc"] = full["probabilities"].astype(np.float16)
    t["segmentation"] = half["segmentation"]
    t["segmentation_f32acc"] = full["segmentation"]
    lm = predictor.label_manager
    info = {
        "input_shape": half["input_shape"], "input_spacing": half["input_spacing"],
        "transpose_forward": predictor.plans_manager.transpose_forward, "resampled": bool(resampled),
        "patch_size": patch, "target_spacing": [float(s) for s in cm.spacing],
        "shape_before_cropping": [int(s) for s in props["shape_before_cropping"]],
        "shape_after_cropping_and_before_resampling": [int(s) for s in props["shape_after_cropping_and_before_resampling"]],
        "preprocessed_shape": list(half["preprocessed"].shape), "padded_shape": half["padded_shape"], "n_windows": half["n_windows"],
        "normalization_schemes": list(cm.normalization_schemes), "use_mask_for_norm": list(cm.use_mask_for_norm),
        "allowed_mirroring_axes": list(predictor.allowed_mirroring_axes) if predictor.use_mirroring and predictor.allowed_mirroring_axes else None,
        "has_regions": bool(lm.has_regions), "num_segmentation_heads": int(lm.num_segmentation_heads),
        **accumulation_differences(half, full),
    }
    return t, info, (half["seconds"], full["seconds"])


def sources_version(nnunet):
    """nnU-Net's version from its pyproject.toml, and the commit when the checkout is a git work tree."""
    v = "unknown"
    try:
        with open(os.path.join(nnunet, "pyproject.toml"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("version"):
                    v = line.split("=", 1)[1].strip().strip('"')
                    break
    except OSError:
        pass
    return v


# ---------------------------------------------------------------------------------------------
# committed cases


def case_spec(case, channels, files):
    """case.json's contents for a committed case (also added to `files`)."""
    spec = {"doc": case["doc"], "results": case["results"], "folds": case["folds"], "use_mirroring": case["mirroring"],
            "tile_step_size": case["step"], "channels": channels, "checkpoint": "checkpoint_final.pth"}
    files["case.json"] = json.dumps(spec, indent=2) + "\n"
    return spec


def case_predictor(case, sources, case_dir, tmp, files):
    """(predictor, results folder) for a committed case: its own network (case["network"]) written under `tmp` and
    added to `files`, or the results folder named relative to the case folder."""
    import nnunet_networks as nn_

    if "network" in case:
        net_files, _, _ = nn_.build_case(case["results"], case["network"](), case["network_seed"], sources["dna"])
        for rel, v in net_files.items():
            files[rel] = v
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(v.encode("utf-8") if isinstance(v, str) else nn_.checkpoint_bytes(v))
        results = os.path.join(tmp, case["results"])
    else:
        results = os.path.normpath(os.path.join(case_dir, case["results"]))
    return make_predictor(results, case["folds"], case["mirroring"], case["step"]), results


def case_meta(spec, info, sources, script, format_version):
    """reference.safetensors' metadata for a committed case."""
    return {"case": json.dumps(dict(spec, **info), sort_keys=True), "nnunet_version": sources_version(sources["nnunet"]),
            "torch_version": torch.__version__, "script": script, "format_version": format_version}


def build_case(name, case, sources, case_dir):
    """Writes nothing; returns ({relative path: bytes | str | checkpoint dict}, tensors, metadata, timing) for one
    case. The prediction runs on a temporary copy of the inputs (and own network)."""
    files = {}
    for fname, img in input_images(name, case):
        files[fname] = img
    spec = case_spec(case, [f for f, _ in input_images(name, case)], files)
    with tempfile.TemporaryDirectory() as tmp:
        for fname, img in input_images(name, case):
            nibabel.save(img, os.path.join(tmp, fname))
        predictor, _ = case_predictor(case, sources, case_dir, tmp, files)
        tensors, info, secs = reference(predictor, [os.path.join(tmp, f) for f in spec["channels"]], name)
    return files, tensors, case_meta(spec, info, sources, SCRIPT, FORMAT_VERSION), secs


def nifti_same(path, img):
    got = nibabel.load(path)
    return (np.array_equal(np.asarray(got.dataobj), np.asarray(img.dataobj)) and got.get_data_dtype() == img.get_data_dtype()
            and np.allclose(got.affine, img.affine) and got.header.get_zooms() == img.header.get_zooms())


def compare_reference(path, want, want_meta):
    errs = []
    if not os.path.exists(path):
        return [f"{path}: missing"]
    got, meta = read_safetensors(path)
    if list(got) != list(want):
        return [f"{path}: tensor names differ: {list(got)} vs {list(want)}"]
    for k, w in want.items():
        g = got[k]
        if g.dtype != w.dtype or g.shape != w.shape:
            errs.append(f"{path}: {k}: {g.dtype}{list(g.shape)} vs {w.dtype}{list(w.shape)}")
        elif k.startswith("segmentation"):
            n = int(np.sum(g != w))
            if n > CHECK_LABEL_FRACTION * g.size:
                errs.append(f"{path}: {k}: {n} of {g.size} labels differ")
        elif g.dtype == np.int32:
            if not np.array_equal(g, w):
                errs.append(f"{path}: {k}: values differ")
        else:
            d = float(np.max(np.abs(g.astype(np.float64) - w.astype(np.float64)) / np.maximum(1.0, np.abs(w.astype(np.float64))))) if g.size else 0.0
            if d > CHECK_TOL[NP_TO_ST[g.dtype]]:
                errs.append(f"{path}: {k}: max relative |diff| {d:.3g}")
    a, b = json.loads(meta.get("case", "{}")), json.loads(want_meta["case"])
    for key in ("labels_f16_vs_f32acc_differ", "probabilities_f16_vs_f32acc_max_abs"):  # depend on float rounding
        a.pop(key, None), b.pop(key, None)
    if a != b:
        errs.append(f"{path}: metadata case differs: {a} vs {b}")
    for k in ("nnunet_version", "format_version", "script"):
        if meta.get(k) != want_meta.get(k):
            errs.append(f"{path}: metadata {k}: {meta.get(k)!r} vs {want_meta.get(k)!r}")
    if meta.get("torch_version") != want_meta["torch_version"]:
        print(f"warning: {path}: written with torch {meta.get('torch_version')}, checked with {want_meta['torch_version']}")
    return errs


def check_files(case_dir, files):
    """What differs between the committed files and `files` ({relative path: NIfTI image | str | bytes | checkpoint
    dict})."""
    import nnunet_networks as nn_

    errs = []
    for rel, want in files.items():
        path = os.path.join(case_dir, rel)
        if not os.path.exists(path):
            errs.append(f"{path}: missing")
        elif isinstance(want, nibabel.Nifti1Image):
            if not nifti_same(path, want):
                errs.append(f"{path}: differs from what the script writes")
        elif isinstance(want, str):
            with open(path, encoding="utf-8") as f:
                if f.read() != want:
                    errs.append(f"{path}: differs from what the script writes")
        elif isinstance(want, bytes):
            with open(path, "rb") as f:
                if f.read() != want:
                    errs.append(f"{path}: differs from what the script writes")
        else:
            nn_.same(nn_.load_checkpoint(path), want, rel, errs)
    return errs


def write_files(case_dir, files, tensors, meta):
    """Writes `files` (as check_files takes them) and reference.safetensors under `case_dir`."""
    import nnunet_networks as nn_

    for rel, v in files.items():
        path = os.path.join(case_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(v, nibabel.Nifti1Image):
            nibabel.save(v, path)
        else:
            with open(path, "wb") as f:
                f.write(v if isinstance(v, bytes) else v.encode("utf-8") if isinstance(v, str) else nn_.checkpoint_bytes(v))
    with open(os.path.join(case_dir, "reference.safetensors"), "wb") as f:
        f.write(safetensors_bytes(tensors, meta))


def run_cases(args, sources):
    names = args.cases.split(",") if args.cases else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"error: unknown cases {unknown}; known: {list(CASES)}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        t0 = time.time()
        case_dir = os.path.join(args.out, name)
        files, tensors, meta, (s16, s32) = build_case(name, CASES[name], sources, case_dir)
        if args.check:
            errs = check_files(case_dir, files) + compare_reference(os.path.join(case_dir, "reference.safetensors"), tensors, meta)
        else:
            write_files(case_dir, files, tensors, meta)
            errs = []
        info = json.loads(meta["case"])
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(case_dir) for f in fs) if os.path.isdir(case_dir) else 0
        ref = os.path.join(case_dir, "reference.safetensors")
        print(f"{name}: input {info['input_shape']} -> preprocessed {info['preprocessed_shape']}, {info['n_windows']} windows"
              f"{' x ' + str(2 ** len(info['allowed_mirroring_axes'])) + ' flips' if info['allowed_mirroring_axes'] else ''}, folds {info['folds']}; "
              f"f16 vs f32 accumulation: {info['labels_f16_vs_f32acc_differ']} labels differ, probabilities max |diff| "
              f"{info['probabilities_f16_vs_f32acc_max_abs']:.3g}; predictor {s16[0]:.1f} s wall / {s16[1]:.1f} s CPU (f16 acc.), "
              f"{s32[0]:.1f} / {s32[1]:.1f} s (f32 acc.); "
              f"{size} bytes ({os.path.getsize(ref) if os.path.exists(ref) else 0} reference); {time.time() - t0:.1f} s"
              + ("" if not errs else " STALE" if args.check else " FAILED"))
        for e in errs:
            print("error: " + e, file=sys.stderr)
        failed += bool(errs)
    if args.check:
        print("nnU-Net predictor references match" if not failed else f"nnU-Net predictor references: {failed} case(s) stale or wrong")
    return 1 if failed else 0


def run_one(args):
    """--results/--images: one case as nnUNetv2_predict -f FOLDS [--disable_tta] --save_probabilities would, plus the
    reference safetensors when --reference is given."""
    os.makedirs(args.out_dir, exist_ok=True)
    case_id = os.path.basename(args.images[0]).split(".")[0].rsplit("_", 1)[0]
    predictor = make_predictor(args.results, args.folds, not args.no_mirroring, args.step)
    tensors, info, (s16, s32) = reference(predictor, args.images, case_id, out_dir=args.out_dir)
    print(f"{case_id}: {info['n_windows']} windows, predictor {s16[0]:.1f} s wall / {s16[1]:.1f} s CPU (float16 accumulation), "
          f"{s32[0]:.1f} / {s32[1]:.1f} s (float32); "
          f"{info['labels_f16_vs_f32acc_differ']} labels differ between them; wrote {args.out_dir}/{case_id}.nii.gz and .npz")
    if args.reference:
        meta = {"case": json.dumps(dict(info, results=os.path.abspath(args.results), folds=args.folds, use_mirroring=not args.no_mirroring,
                                        tile_step_size=args.step), sort_keys=True),
                "nnunet_version": sources_version(nnunet_env.paths(args)["nnunet"]), "torch_version": torch.__version__, "script": SCRIPT,
                "format_version": FORMAT_VERSION}
        with open(args.reference, "wb") as f:
            f.write(safetensors_bytes(tensors, meta))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    nnunet_env.add_arguments(ap)
    ap.add_argument("--out", default=OUT, help="the cases' folder (default test/fixtures/nnunet_predict)")
    ap.add_argument("--cases", help="comma-separated case names (default: all)")
    ap.add_argument("--check", action="store_true", help="regenerate in memory and compare with the files under --out")
    ap.add_argument("--results", help="predict one case with this results folder instead of the committed cases")
    ap.add_argument("--images", nargs="+", help="with --results: the case's channel files (CASE_0000.nii.gz ...)")
    ap.add_argument("--out-dir", help="with --results: where <case>.nii.gz and <case>.npz go")
    ap.add_argument("--folds", nargs="+", default=["0"], help="with --results (default 0)")
    ap.add_argument("--no-mirroring", action="store_true", help="with --results: nnUNetv2_predict --disable_tta")
    ap.add_argument("--step", type=float, default=0.5, help="with --results: tile_step_size (default 0.5)")
    ap.add_argument("--reference", help="with --results: also write the reference safetensors here")
    args = ap.parse_args()
    sources = nnunet_env.paths(args)
    nnunet_env.setup(**sources)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.results:
        if not args.images or not args.out_dir:
            print("error: --results needs --images and --out-dir", file=sys.stderr)
            return 2
        args.folds = [f if f == "all" else int(f) for f in args.folds]
        return run_one(args)
    return run_cases(args, sources)


if __name__ == "__main__":
    sys.exit(main())
