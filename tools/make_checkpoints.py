#!/usr/bin/python3
"""PyTorch checkpoints for `unet convert`'s tests, written by torch.save itself (Debian's torch 1.13),
in both of its formats, under test/fixtures/checkpoints/:

  unet_zip.pt            zip format (torch >= 1.6), a bare state_dict (U-Net 3 -> 1, init_features 2)
  unet_legacy.pt         legacy format (torch < 1.6, _use_new_zipfile_serialization=False), bare
                         state_dict: the layout of the published brain-MRI weights (unet-e012d006.pt)
  unet_wrapped_views.pt  zip, {"state_dict": sd, "epoch": 3, "best_dice": 0.91} where every tensor is
                         a non-contiguous view (permuted weights; vectors at storage offset 3, stride 2)
  unet_f16_legacy.pt     legacy, {"model": sd with floating tensors in float16}
  unet.expected.safetensors  the state_dict's tensors as convert must write them (F32, I64)
  unet.io.safetensors    `input` [1, 3, 32, 32] and PyTorch's `output` (float64 forward, cast to f32)
  zoo.pt / zoo_legacy.pt {"model": {...}, "epoch": 3, ...}: one tensor of each kind convert meets
                         (F64, BF16, F16, bool, 0-dim I64, transposed, offset slice, expanded (stride 0),
                         two views of one storage, an nn.Parameter) and non-tensor entries to skip
  zoo.expected.safetensors   what convert must write for zoo's "model" (F64 becomes F32)
  evil_reduce.pt         zip; an object whose __reduce__ calls os.system (must be refused, not run)
  evil_module.pt         zip; a whole pickled nn.Module (a U-Net object, not its state_dict)
  nnunet_checkpoint_final.pth  zip; a checkpoint written as nnUNetTrainer.save_checkpoint writes it:
                         network_weights (a tiny 3D PlainConvUNet-named state_dict), SGD optimizer_state,
                         grad_scaler_state, logging (numpy float32 / float64 scalars), _best_ema (float64),
                         current_epoch, init_args (plans, configuration, fold, dataset_json, torch.device),
                         trainer_name, inference_allowed_mirroring_axes
  nnunet_checkpoint.expected.safetensors  its network_weights, as extractStateDict must read them
  nnunet_evil_init_args.pth  the same, with an object whose __reduce__ calls os.system inside init_args
  numpy_scalars.pt       zip; {name: numpy scalar} of each kind the reader turns into a value

Usage: /usr/bin/python3 tools/make_checkpoints.py [nnunet]
  (nnunet: only the nnU-Net and numpy files; the legacy-format files hold storage keys that change each run)
"""

import os
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import build, safetensors_bytes  # noqa: E402
from unet_model import UNet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "checkpoints")

def save(obj, name, legacy=False):
    path = os.path.join(OUT, name)
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    print(f"{name}: {os.path.getsize(path)} bytes ({'legacy' if legacy else 'zip'})")
    return path


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    print(f"{name}: {len(data)} bytes")


def views_of(sd):
    """The same values, each as a non-contiguous view: 4-D weights permuted back from a contiguous
    permuted copy, everything else every other element of a larger storage from offset 3."""
    out = OrderedDict()
    for k, v in sd.items():
        if v.dim() == 4:
            out[k] = v.permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3)
            assert min(v.shape[:2]) == 1 or not out[k].is_contiguous()
        elif v.dim() >= 1:
            big = torch.zeros(3 + 2 * v.numel(), dtype=v.dtype)
            big[3::2] = v.flatten()
            out[k] = big[3::2].view(v.shape) if v.dim() == 1 else big[3::2].reshape(v.shape)
            assert out[k].storage_offset() == 3 and out[k].stride(-1) == 2
        else:
            out[k] = v
        assert torch.equal(out[k], v)
    return out


class Evil:
    """Unpickling this runs os.system: a reader that executes pickles would create the marker file."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/unet-convert-was-exploited",))


NNUNET_PLANS = {
    "dataset_name": "Dataset999_Tiny",
    "plans_name": "nnUNetPlans",
    "original_median_spacing_after_transp": [2.0, 0.8, 0.8],
    "original_median_shape_after_transp": [40, 96, 96],
    "image_reader_writer": "SimpleITKIO",
    "transpose_forward": [0, 1, 2],
    "transpose_backward": [0, 1, 2],
    "configurations": {
        "3d_fullres": {
            "data_identifier": "nnUNetPlans_3d_fullres",
            "preprocessor_name": "DefaultPreprocessor",
            "batch_size": 2,
            "patch_size": [8, 16, 16],
            "median_image_size_in_voxels": [40.0, 96.0, 96.0],
            "spacing": [2.0, 0.8, 0.8],
            "normalization_schemes": ["ZScoreNormalization"],
            "use_mask_for_norm": [False],
            "resampling_fn_data": "resample_data_or_seg_to_shape",
            "resampling_fn_seg": "resample_data_or_seg_to_shape",
            "resampling_fn_data_kwargs": {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None},
            "resampling_fn_seg_kwargs": {"is_seg": True, "order": 1, "order_z": 0, "force_separate_z": None},
            "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
            "resampling_fn_probabilities_kwargs": {"is_seg": False, "order": 1, "order_z": 0, "force_separate_z": None},
            "architecture": {
                "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
                "arch_kwargs": {
                    "n_stages": 2,
                    "features_per_stage": [2, 4],
                    "conv_op": "torch.nn.modules.conv.Conv3d",
                    "kernel_sizes": [[1, 3, 3], [3, 3, 3]],
                    "strides": [[1, 1, 1], [1, 2, 2]],
                    "n_conv_per_stage": [1, 1],
                    "n_conv_per_stage_decoder": [1],
                    "conv_bias": True,
                    "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
                    "norm_op_kwargs": {"eps": 1e-05, "affine": True},
                    "dropout_op": None,
                    "dropout_op_kwargs": None,
                    "nonlin": "torch.nn.LeakyReLU",
                    "nonlin_kwargs": {"inplace": True},
                },
                "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
            },
            "batch_dice": False,
        }
    },
    "experiment_planner_used": "ExperimentPlanner",
    "label_manager": "LabelManager",
    "foreground_intensity_properties_per_channel": {
        "0": {"max": 1000.0, "mean": 120.5, "median": 110.0, "min": -50.0,
              "percentile_00_5": -20.0, "percentile_99_5": 800.0, "std": 60.25}
    },
}
NNUNET_DATASET = {
    "channel_names": {"0": "CT"},
    "labels": {"background": 0, "organ": 1},
    "numTraining": 4,
    "file_ending": ".nii.gz",
}


def nnunet_network_weights(g):
    """A tiny PlainConvUNet's state_dict keys and shapes (1 -> 2 classes, features 2, 4; 3D), random values."""
    sd = OrderedDict()

    def block(prefix, cin, cout, k):
        sd[prefix + ".conv.weight"] = torch.randn(cout, cin, *k, generator=g)
        sd[prefix + ".conv.bias"] = torch.randn(cout, generator=g)
        sd[prefix + ".norm.weight"] = torch.randn(cout, generator=g)
        sd[prefix + ".norm.bias"] = torch.randn(cout, generator=g)
        # all_modules holds the same modules: state_dict() lists their tensors again, as nnU-Net's files do
        sd[prefix + ".all_modules.0.weight"] = sd[prefix + ".conv.weight"]
        sd[prefix + ".all_modules.0.bias"] = sd[prefix + ".conv.bias"]
        sd[prefix + ".all_modules.1.weight"] = sd[prefix + ".norm.weight"]
        sd[prefix + ".all_modules.1.bias"] = sd[prefix + ".norm.bias"]

    block("encoder.stages.0.0.convs.0", 1, 2, (1, 3, 3))
    block("encoder.stages.1.0.convs.0", 2, 4, (3, 3, 3))
    sd["decoder.transpconvs.0.weight"] = torch.randn(4, 2, 1, 2, 2, generator=g)
    sd["decoder.transpconvs.0.bias"] = torch.randn(2, generator=g)
    block("decoder.stages.0.convs.0", 4, 2, (1, 3, 3))  # the kernel of the encoder stage it mirrors
    sd["decoder.seg_layers.0.weight"] = torch.randn(2, 2, 1, 1, 1, generator=g)
    sd["decoder.seg_layers.0.bias"] = torch.randn(2, generator=g)
    return sd


def nnunet_checkpoint(sd, init_args_extra=None):
    """The dict nnUNetTrainer.save_checkpoint hands torch.save, after two epochs of made-up training."""
    params = [v for k, v in sd.items() if "all_modules" not in k]
    optimizer = torch.optim.SGD([p.clone().requires_grad_() for p in params], 0.01, weight_decay=3e-5,
                                momentum=0.99, nesterov=True)
    for p in optimizer.param_groups[0]["params"]:
        p.grad = torch.full_like(p, 0.5)
    optimizer.step()
    logging = {
        "mean_fg_dice": [np.float64(0.25), np.float64(0.5)],
        "ema_fg_dice": [np.float64(0.25), np.float64(0.275)],
        "dice_per_class_or_region": [[np.float64(0.25)], [np.float64(0.5)]],
        "train_losses": [np.float32(-0.125), np.float32(-0.375)],
        "val_losses": [np.float32(-0.0625), np.float32(-0.3)],
        "lrs": [0.01, 0.00991],
        "epoch_start_timestamps": [1700000000.5, 1700000100.25],
        "epoch_end_timestamps": [1700000099.75, 1700000199.0],
    }
    init_args = {
        "plans": NNUNET_PLANS,
        "configuration": "3d_fullres",
        "fold": 0,
        "dataset_json": NNUNET_DATASET,
        "device": torch.device("cuda", 0),
    }
    if init_args_extra:
        init_args.update(init_args_extra)
    return {
        "network_weights": sd,
        "optimizer_state": optimizer.state_dict(),
        "grad_scaler_state": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                              "growth_interval": 2000, "_growth_tracker": 1},
        "logging": logging,
        "_best_ema": np.float64(0.275),
        "current_epoch": 2,
        "init_args": init_args,
        "trainer_name": "nnUNetTrainer",
        "inference_allowed_mirroring_axes": (0, 1, 2),
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    meta = {"script": "tools/make_checkpoints.py", "torch_version": torch.__version__}
    if sys.argv[1:] == ["nnunet"]:
        return make_nnunet(meta)
    if sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]} [nnunet]")
    weights, io_t, meta, _, _ = build("ckpt", (3, 1, 2, 1, 32, 32, 4001))
    sd = OrderedDict((k, torch.from_numpy(np.ascontiguousarray(v))) for k, v in weights.items())
    model = UNet(3, 1, 2)
    model.load_state_dict(sd)
    sd = model.state_dict()  # the real thing, with its _metadata attribute

    save(sd, "unet_zip.pt")
    save(sd, "unet_legacy.pt", legacy=True)
    save({"state_dict": views_of(sd), "epoch": 3, "best_dice": 0.91}, "unet_wrapped_views.pt")
    half = OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in sd.items())
    save({"model": half}, "unet_f16_legacy.pt", legacy=True)
    meta = {"script": "tools/make_checkpoints.py", "torch_version": torch.__version__}
    write("unet.expected.safetensors", safetensors_bytes(sd, meta))
    io_tensors = {k: torch.from_numpy(v) for k, v in io_t.items()}
    write("unet.io.safetensors", safetensors_bytes(io_tensors, meta))

    g = torch.Generator().manual_seed(5)
    shared = torch.randn(12, generator=g)
    zoo = OrderedDict()
    zoo["a.f32"] = torch.randn(2, 3, generator=g)
    zoo["b.transposed"] = torch.randn(3, 4, generator=g).t()
    zoo["c.slice"] = torch.randn(10, generator=g)[3:7]
    zoo["d.f64"] = torch.randn(5, generator=g, dtype=torch.float64)
    zoo["e.bf16"] = torch.randn(4, generator=g).bfloat16()
    zoo["f.f16"] = torch.randn(2, 2, generator=g).half()
    zoo["g.i64_scalar"] = torch.tensor(7)
    zoo["h.python_int"] = 5
    zoo["i.bool"] = torch.tensor([True, False, True])
    zoo["j.expanded"] = torch.randn(3, generator=g).expand(2, 3)
    zoo["k.shared_a"] = shared[:6].view(2, 3)
    zoo["k.shared_b"] = shared[4:].view(2, 4)
    zoo["l.param"] = nn.Parameter(torch.randn(2, generator=g))
    zoo["m.string"] = "not a tensor"
    wrapped = {"model": zoo, "epoch": 3, "lr": 1e-3, "nested": {"list": [1, 2.5, None, True], "t": (1, "x")}}
    save(wrapped, "zoo.pt")
    save(wrapped, "zoo_legacy.pt", legacy=True)
    expected = OrderedDict(
        (k, v.float() if v.dtype == torch.float64 else v) for k, v in zoo.items() if isinstance(v, torch.Tensor)
    )
    write("zoo.expected.safetensors", safetensors_bytes(expected, meta))

    save({"state_dict": OrderedDict(w=torch.ones(2)), "hook": Evil()}, "evil_reduce.pt")
    save(UNet(1, 1, 1), "evil_module.pt")

    make_nnunet(meta)

    # Sanity: what was written loads back in PyTorch (except the malicious ones).
    for name in ("unet_zip.pt", "unet_legacy.pt"):
        back = torch.load(os.path.join(OUT, name))
        assert all(torch.equal(back[k], sd[k]) for k in sd), name
    with zipfile.ZipFile(os.path.join(OUT, "unet_zip.pt")) as z:
        print("unet_zip.pt entries:", ", ".join(z.namelist()[:4]), "...")


def make_nnunet(meta):
    g = torch.Generator().manual_seed(7)
    nnunet_sd = nnunet_network_weights(g)
    save(nnunet_checkpoint(nnunet_sd), "nnunet_checkpoint_final.pth")
    write("nnunet_checkpoint.expected.safetensors", safetensors_bytes(nnunet_sd, meta))
    save(nnunet_checkpoint(nnunet_sd, {"plans": {"configurations": Evil()}}), "nnunet_evil_init_args.pth")
    save(
        {
            "f16": np.float16(-1.5),
            "f32": np.float32(0.1),
            "f64": np.float64(1e300),
            "i8": np.int8(-7),
            "u8": np.uint8(200),
            "i16": np.int16(-300),
            "i32": np.int32(-70000),
            "i64": np.int64(-3),
            "i64_big": np.int64(2**60 + 1),
            "u64": np.uint64(2**64 - 1),
            "bool": np.bool_(True),
            "complex": np.complex64(1 + 2j),
        },
        "numpy_scalars.pt",
    )
    back = torch.load(os.path.join(OUT, "nnunet_checkpoint_final.pth"))
    assert back["init_args"]["device"] == torch.device("cuda", 0) and back["inference_allowed_mirroring_axes"] == (0, 1, 2)
    assert all(torch.equal(back["network_weights"][k], nnunet_sd[k]) for k in nnunet_sd)

if __name__ == "__main__":
    main()
