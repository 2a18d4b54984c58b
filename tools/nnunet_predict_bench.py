#!/usr/bin/python3
"""nnU-Net v2's own predictor timed per stage, for bench/nnunetPredict.ts (the speed part of issue 20), and the
bench's larger case written from a spec.

--serve: tools/nnunet_predict.py's predictor (nnUNetPredictor from nnU-Net's source, CPU,
perform_everything_on_device=False, NibabelIO) loaded once, as nnUNetv2_predict loads it once for a folder of cases;
then one case per request line on stdin, as nnUNetv2_predict predicts a case (predict_single_npy_array with an output
file: the <case>.nii.gz it writes, no probabilities unless asked). Each answer is one JSON line of milliseconds, the
stages measured by wrapping nnU-Net's own functions for the duration of the call (nothing else changes):

  read_ms        NibabelIO().read_images (the channel files)
  preprocess_ms  the preprocessor's run_case_npy (transpose, crop, normalize, resample)
  windows_ms     predict_logits_from_preprocessed_data (folds' weights loaded, sliding windows, mirroring)
  export_ms      export_prediction_from_logits (resample back, softmax, argmax, uncrop, write <case>.nii.gz)
  total_ms       read + predict_single_npy_array (the stages plus the little between them)

Stdout carries only the JSON lines (a first {"ready": true, ...} once the predictor is loaded); nnU-Net's own
prints go to stderr. An empty line or end of input ends the process.

    /usr/bin/python3 tools/nnunet_predict_bench.py --sources DIR --serve --results RESULTS [--folds 0 1] \\
        [--no-mirroring] [--step 0.5] [--f32acc] [--probabilities]
    stdin:  {"images": ["/x/CASE_0000.nii.gz"], "out_dir": "/tmp/out"}    ("f32acc": true|false overrides --f32acc)
    stdout: {"case": "CASE", "total_ms": ..., "read_ms": ..., "preprocess_ms": ..., "windows_ms": ..., "export_ms": ...,
             "n_windows": 48, "segmentation": "/tmp/out/CASE.nii.gz"}

--time: the same without a parent, --runs times in a row (the first one included), one JSON line each.

--make-case DIR: a results folder (DIR/results, written by tools/nnunet_networks.py's build_case: random weights
after one optimizer step, as the committed fixtures) and a synthetic CT case DIR/<name>_0000.nii.gz (NIfTI x, y, z;
tools/nnunet_predict.py's synthetic_channel), for a case too large to commit: by default a 3d_fullres PlainConvUNet
with features 16..128 and a 32^3 patch on a 1.25 x 0.8 x 0.8 mm volume that resamples to 1 mm and needs 48 windows.

--sources DIR holds the checkouts nnUNet/, acvl_utils/, batchgenerators/ and dna/ (see tools/nnunet_env.py).
"""

import argparse
import contextlib
import json
import os
import sys
import time

import nibabel
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nnunet_env  # noqa: E402

# --make-case defaults: what a small 3d dataset's plans might look like with the features capped at 128
DEFAULT_CASE = dict(name="bench3d", features=[16, 32, 64, 128, 128], patch=[32, 32, 32], spacing=[1.0, 1.0, 1.0],
                    input_shape=[56, 88, 70], input_spacing=[1.25, 0.8, 0.8], seed=2100)


class StageTimer:
    """Wraps the functions predict_single_npy_array calls, for the duration of one case, and sums their wall time."""

    def __init__(self):
        self.ms = {}
        self.n_windows = None

    def timed(self, key, f):
        def g(*a, **k):
            t0 = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                self.ms[key] = self.ms.get(key, 0.0) + (time.perf_counter() - t0) * 1000

        return g

    @contextlib.contextmanager
    def attach(self, predictor):
        import nnunetv2.inference.predict_from_raw_data as pfrd

        pre_cls = predictor.configuration_manager.preprocessor_class
        orig_run, orig_export = pre_cls.run_case_npy, pfrd.export_prediction_from_logits
        orig_slicers = predictor._internal_get_sliding_window_slicers

        def slicers(image_size):
            out = orig_slicers(image_size)
            self.n_windows = len(out)
            return out

        pre_cls.run_case_npy = self.timed("preprocess_ms", orig_run)
        pfrd.export_prediction_from_logits = self.timed("export_ms", orig_export)
        predictor.predict_logits_from_preprocessed_data = self.timed("windows_ms", predictor.predict_logits_from_preprocessed_data)
        predictor._internal_get_sliding_window_slicers = slicers
        try:
            yield self
        finally:
            pre_cls.run_case_npy, pfrd.export_prediction_from_logits = orig_run, orig_export
            del predictor.predict_logits_from_preprocessed_data, predictor._internal_get_sliding_window_slicers


def case_id_of(path):
    """CASE of CASE_XXXX.nii.gz, as nnUNetv2_predict names its output."""
    return os.path.basename(path).split(".")[0].rsplit("_", 1)[0]


def predict_case(predictor, images, out_dir, probabilities=False, f32acc=False):
    """One case as nnUNetv2_predict predicts it; returns the JSON answer (milliseconds per stage)."""
    import nnunet_predict
    from nnunetv2.imageio.nibabel_reader_writer import NibabelIO

    os.makedirs(out_dir, exist_ok=True)
    case_id = case_id_of(images[0])
    timer = StageTimer()
    acc = nnunet_predict.float32_accumulation() if f32acc else contextlib.nullcontext()
    with timer.attach(predictor), acc, contextlib.redirect_stdout(sys.stderr):
        t0 = time.perf_counter()
        data, props = NibabelIO().read_images(images)
        t1 = time.perf_counter()
        predictor.predict_single_npy_array(data, props, None, os.path.join(out_dir, case_id), probabilities)
        t2 = time.perf_counter()
    out = {"case": case_id, "total_ms": (t2 - t0) * 1000, "read_ms": (t1 - t0) * 1000}
    for k in ("preprocess_ms", "windows_ms", "export_ms"):
        out[k] = timer.ms.get(k, 0.0)
    out["n_windows"] = timer.n_windows
    out["segmentation"] = os.path.join(out_dir, case_id + ".nii.gz")
    return out


def serve(args):
    import nnunet_predict

    t0 = time.perf_counter()
    predictor = nnunet_predict.make_predictor(args.results, args.folds, not args.no_mirroring, args.step)
    print(json.dumps({"ready": True, "load_ms": (time.perf_counter() - t0) * 1000, "torch_version": torch.__version__,
                      "threads": torch.get_num_threads(), "nnunet_version": nnunet_predict.sources_version(nnunet_env.paths(args)["nnunet"])}),
          flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        req = json.loads(line)
        try:
            ans = predict_case(predictor, req["images"], req["out_dir"], args.probabilities, req.get("f32acc", args.f32acc))
        except Exception as e:  # one line back, so the bench names it instead of waiting
            ans = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(ans), flush=True)
    return 0


def time_runs(args):
    import nnunet_predict

    if not args.images or not args.out_dir:
        print("error: --time needs --images and --out-dir", file=sys.stderr)
        return 2
    predictor = nnunet_predict.make_predictor(args.results, args.folds, not args.no_mirroring, args.step)
    for _ in range(args.runs):
        print(json.dumps(predict_case(predictor, args.images, args.out_dir, args.probabilities, args.f32acc)), flush=True)
    return 0


def make_case(args, sources):
    """DIR/results (a results folder) and DIR/<name>_0000.nii.gz."""
    import nnunet_networks as nn_
    import nnunet_predict

    c = dict(DEFAULT_CASE)
    for k in ("features", "patch", "input_shape"):
        v = getattr(args, k)
        if v:
            c[k] = [int(x) for x in v.split(",")]
    n = len(c["features"])
    spec = dict(
        doc=f"bench: 3d PlainConvUNet, features {c['features']}, patch {c['patch']}, 1 channel CT, 3 labels, spacing {c['spacing']}",
        dim=3, configuration="3d_fullres", channels={"0": "CT"}, labels={"background": 0, "organ": 1, "lesion": 2},
        reader="NibabelIO", spacing=c["spacing"], patch=c["patch"], input=[1, 1, *c["patch"]],
        architecture=nn_.arch(nn_.PLAIN, 3, c["features"], nn_.iso(3, n), nn_.pools(3, n), [2] * n, [2] * (n - 1)),
    )
    stride = 2 ** (n - 1)
    bad = [p for p in c["patch"] if p % stride]
    if bad:
        print(f"error: --patch {c['patch']}: each size must be a multiple of the total stride {stride}", file=sys.stderr)
        return 2
    files, _, _ = nn_.build_case("results", spec, c["seed"], sources["dna"])
    out = args.make_case
    for rel, v in files.items():
        path = os.path.join(out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(v.encode("utf-8") if isinstance(v, str) else nn_.checkpoint_bytes(v))
    rng = np.random.default_rng(c["seed"])
    shape = c["input_shape"]
    frame = [[2, 1], [3, 2], [1, 4]]  # zero faces, so the nonzero crop has work to do
    arr = nnunet_predict.synthetic_channel("ct", shape, frame, rng)
    z, y, x = c["input_spacing"]
    affine = np.array([[x, 0, 0, -40.0], [0, y, 0, 25.0], [0, 0, z, 10.0], [0, 0, 0, 1]], dtype=np.float64)
    img = nibabel.Nifti1Image(np.ascontiguousarray(arr.transpose(2, 1, 0)), affine)
    img.header.set_xyzt_units("mm", "sec")
    image = os.path.join(out, f"{c['name']}_0000.nii.gz")
    nibabel.save(img, image)
    print(json.dumps({"results": os.path.join(out, "results"), "images": [image], "case": c}))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    nnunet_env.add_arguments(ap)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--serve", action="store_true", help="one case per stdin line (JSON), one JSON line of timings back")
    mode.add_argument("--time", action="store_true", help="--runs predictions of --images, one JSON line each")
    mode.add_argument("--make-case", metavar="DIR", help="write DIR/results and DIR/<name>_0000.nii.gz (the bench's large case)")
    ap.add_argument("--results", help="--serve / --time: the results folder")
    ap.add_argument("--folds", nargs="+", default=["0"], help="--serve / --time: folds (default 0)")
    ap.add_argument("--no-mirroring", action="store_true", help="--serve / --time: nnUNetv2_predict --disable_tta")
    ap.add_argument("--step", type=float, default=0.5, help="--serve / --time: tile_step_size (default 0.5)")
    ap.add_argument("--f32acc", action="store_true", help="--serve / --time: accumulate windows in float32 instead of nnU-Net's float16")
    ap.add_argument("--probabilities", action="store_true", help="--serve / --time: also write <case>.npz (--save_probabilities)")
    ap.add_argument("--images", nargs="+", help="--time: the case's channel files")
    ap.add_argument("--out-dir", help="--time: where <case>.nii.gz goes")
    ap.add_argument("--runs", type=int, default=3, help="--time: predictions (default 3)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: every core)")
    ap.add_argument("--features", help="--make-case: features per stage, e.g. 16,32,64,128,128 (default)")
    ap.add_argument("--patch", help="--make-case: patch Z,Y,X (default 32,32,32)")
    ap.add_argument("--input-shape", help="--make-case: the case's Z,Y,X before resampling (default 56,88,70)")
    args = ap.parse_args()
    sources = nnunet_env.paths(args)
    nnunet_env.setup(**sources)
    torch.set_num_threads(args.threads or max(1, os.cpu_count() or 1))
    if args.make_case:
        return make_case(args, sources)
    if not args.results:
        print("error: --serve and --time need --results", file=sys.stderr)
        return 2
    args.folds = [f if f == "all" else int(f) for f in args.folds]
    return serve(args) if args.serve else time_runs(args)


if __name__ == "__main__":
    sys.exit(main())
