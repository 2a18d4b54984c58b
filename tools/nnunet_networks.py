#!/usr/bin/python3
"""nnU-Net v2 networks built by dynamic_network_architectures' own source (the judge: never our code), written as
results folders the way nnUNetv2_train leaves them, with PyTorch's outputs as references.

For each case NAME, under --out DIR (default test/fixtures/nnunet):

  NAME/dataset.json                 as nnU-Net's dataset.json (channel_names, labels, numTraining, file_ending, ...)
  NAME/plans.json                   as the planners write it (default_experiment_planner.py, residual_unets/), or
                                    an old v2 plans file (UNet_class_name, ... before the `architecture` field)
  NAME/fold_K/checkpoint_final.pth  torch.save of the dict nnUNetTrainer.save_checkpoint writes: network_weights (the
                                    state_dict, duplicate keys included), optimizer_state (SGD, momentum 0.99,
                                    nesterov, after a real step), grad_scaler_state, logging, _best_ema,
                                    current_epoch, init_args, trainer_name, inference_allowed_mirroring_axes
  NAME.io.safetensors               `input` [N, C, (Z,) Y, X] f32 and `output` (fold 0's network, eval mode, run in
                                    float64 on the input cast to double, then cast to f32); `output.fold_K` for
                                    further folds. __metadata__: case (JSON), torch_version, dna_version, script.

The network is built from the written plans by the steps of nnunetv2/utilities/get_network_from_plans.py (classes
located by their dotted names with pydoc.locate, old plans converted as plans_handler.py's ConfigurationManager does),
with deep_supervision True for the training step and False for the reference. After writing (and with --check)
every case is verified: the checkpoint is loaded back with torch.load, the network rebuilt from the files on disk,
network_weights loaded with strict=True, and the forward compared with `output`.

  git clone https://github.com/MIC-DKFZ/dynamic-network-architectures /tmp/dna
  /usr/bin/python3 tools/nnunet_networks.py --dna /tmp/dna                  # (re)write the committed cases
  /usr/bin/python3 tools/nnunet_networks.py --dna /tmp/dna --check          # verify they are current
  /usr/bin/python3 tools/nnunet_networks.py --dna /tmp/dna --big --out DIR  # the full-size networks (not committed)
"""

import argparse
import copy
import io
import json
import math
import os
import pydoc
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import CHECK_OUTPUT_TOL, compare, read_safetensors, safetensors_bytes  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "nnunet")
SCRIPT = "tools/nnunet_networks.py"

CONV = {2: "torch.nn.modules.conv.Conv2d", 3: "torch.nn.modules.conv.Conv3d"}
INORM = {2: "torch.nn.modules.instancenorm.InstanceNorm2d", 3: "torch.nn.modules.instancenorm.InstanceNorm3d"}
PLAIN = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
RESENC = "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"
REQUIRES_IMPORT = ["conv_op", "norm_op", "dropout_op", "nonlin"]

# nnUNetTrainer's hyperparameters (nnUNetTrainer.__init__, configure_optimizers, PolyLRScheduler)
INITIAL_LR = 1e-2
WEIGHT_DECAY = 3e-5
NUM_EPOCHS = 1000


# ---------------------------------------------------------------------------------------------
# cases


def arch(cls, dim, features, kernels, strides, blocks, decoder, conv_bias=True, norm=None, norm_kwargs=None,
         nonlin="torch.nn.LeakyReLU", nonlin_kwargs=None, **extra):
    """plans['configurations'][c]['architecture'] as the planners write it (tuples become lists in JSON)."""
    n = len(features)
    kw = {
        "n_stages": n,
        "features_per_stage": list(features),
        "conv_op": CONV[dim],
        "kernel_sizes": [list(k) for k in kernels],
        "strides": [list(s) for s in strides],
        ("n_conv_per_stage" if cls == PLAIN else "n_blocks_per_stage"): list(blocks),
        "n_conv_per_stage_decoder": list(decoder),
        "conv_bias": conv_bias,
        "norm_op": norm or INORM[dim],
        "norm_op_kwargs": norm_kwargs if norm_kwargs is not None else {"eps": 1e-05, "affine": True},
        "dropout_op": None,
        "dropout_op_kwargs": None,
        "nonlin": nonlin,
        "nonlin_kwargs": nonlin_kwargs if nonlin_kwargs is not None else {"inplace": True},
    }
    kw.update(extra)
    requires = list(REQUIRES_IMPORT) + (["block"] if "block" in extra else [])
    return {"network_class_name": cls, "arch_kwargs": kw, "_kw_requires_import": requires}


def iso(dim, n, k=3):
    return [[k] * dim for _ in range(n)]


def pools(dim, n):
    return [[1] * dim] + [[2] * dim for _ in range(n - 1)]


CT = {"0": "CT"}
MR2 = {"0": "T2", "1": "ADC"}


def small_cases():
    """The committed cases: tiny features, small inputs; each case's files together well under 300 KB."""
    c = {}
    c["plain2d"] = dict(
        doc="2d PlainConvUNet, 1 channel (PNG dataset), 5 stages, InstanceNorm, LeakyReLU, conv_bias True",
        dim=2, configuration="2d", channels={"0": "R"}, labels={"background": 0, "cell": 1}, file_ending=".png",
        reader="NaturalImage2DIO", spacing=[1.0, 1.0], patch=[64, 96], input=[1, 1, 32, 48],
        architecture=arch(PLAIN, 2, [2, 4, 8, 8, 8], iso(2, 5), pools(2, 5), [2] * 5, [2] * 4),
    )
    c["plain3d_aniso"] = dict(
        doc="3d PlainConvUNet, 2 channels, anisotropic first stages (kernel 1x3x3, stride 1x2x2), 5 stages, 3 labels; plans also hold a 2d configuration",
        dim=3, configuration="3d_fullres", channels=MR2, labels={"background": 0, "peripheral zone": 1, "transition zone": 2},
        spacing=[3.6, 0.62, 0.62], patch=[20, 320, 256], input=[1, 2, 8, 16, 32],
        architecture=arch(PLAIN, 3, [2, 4, 6, 6, 6], [[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
                          [[1, 1, 1], [1, 2, 2], [1, 2, 2], [2, 2, 2], [2, 2, 2]], [2] * 5, [2] * 4),
        extra_2d=True,
    )
    c["resenc3d_2folds"] = dict(
        doc="3d ResidualEncoderUNet (BasicBlockD, n_blocks 1,2,2,2,2,2), 6 stages, 1 channel, folds 0 and 1",
        dim=3, configuration="3d_fullres", channels=CT, labels={"background": 0, "liver": 1},
        spacing=[1.0, 0.78, 0.78], patch=[64, 128, 128], input=[1, 1, 4, 32, 32], folds=[0, 1],
        planner="nnUNetPlannerResEncM", plans_name="nnUNetResEncUNetMPlans",
        architecture=arch(RESENC, 3, [2, 4, 4, 4, 6, 6], [[1, 3, 3], [1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
                          [[1, 1, 1], [1, 2, 2], [2, 2, 2], [1, 2, 2], [1, 2, 2], [1, 2, 2]], [1, 2, 2, 2, 2, 2], [1] * 5),
        extra_2d=True,
    )
    c["resenc2d_regions"] = dict(
        doc="2d ResidualEncoderUNet, 2 channels, region-based (labels with lists, regions_class_order): 3 sigmoid outputs",
        dim=2, configuration="2d", channels={"0": "FLAIR", "1": "T1w"},
        labels={"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3], "enhancing tumor": 3}, regions_class_order=[1, 2, 3],
        spacing=[1.0, 1.0], patch=[192, 160], input=[1, 2, 32, 32],
        planner="nnUNetPlannerResEncM", plans_name="nnUNetResEncUNetMPlans",
        architecture=arch(RESENC, 2, [2, 4, 6, 8, 8], iso(2, 5), pools(2, 5), [1, 2, 2, 2, 2], [1] * 4),
    )
    c["plain3d_bn_relu"] = dict(
        doc="3d PlainConvUNet with BatchNorm3d (eval: running stats), ReLU, nonlin_first True, conv_bias False, 4 stages",
        dim=3, configuration="3d_fullres", channels=CT, labels={"background": 0, "kidney": 1, "tumor": 2},
        spacing=[1.0, 1.0, 1.0], patch=[96, 96, 96], input=[1, 1, 8, 16, 16], batchnorm=True,
        architecture=arch(PLAIN, 3, [2, 4, 6, 6], iso(3, 4), pools(3, 4), [2] * 4, [2] * 3, conv_bias=False,
                          norm="torch.nn.modules.batchnorm.BatchNorm3d", norm_kwargs={"eps": 1e-05, "affine": True},
                          nonlin="torch.nn.ReLU", nonlin_kwargs={"inplace": True}, nonlin_first=True),
    )
    c["resenc3d_bottleneck"] = dict(
        doc="3d ResidualEncoderUNet with BottleneckD (bottleneck_channels), stem_channels 3 != features[0] 4, 4 stages",
        dim=3, configuration="3d_fullres", channels=CT, labels={"background": 0, "pancreas": 1},
        spacing=[2.5, 0.8, 0.8], patch=[40, 192, 160], input=[1, 1, 8, 8, 16],
        architecture=arch(RESENC, 3, [4, 8, 8, 8], iso(3, 4), [[1, 1, 1], [2, 2, 2], [2, 2, 2], [1, 2, 2]], [1, 2, 2, 2], [1] * 3,
                          block="dynamic_network_architectures.building_blocks.residual.BottleneckD",
                          bottleneck_channels=[2, 3, 4, 4], stem_channels=3),
    )
    c["old_plans3d"] = dict(
        doc="old v2 plans.json (UNet_class_name, conv_kernel_sizes, pool_op_kernel_sizes, ... no `architecture`), 3d PlainConvUNet, 4 stages",
        dim=3, configuration="3d_fullres", channels=CT, labels={"background": 0, "spleen": 1},
        spacing=[5.0, 0.79, 0.79], patch=[40, 192, 160], input=[1, 1, 4, 16, 16], old_style=True,
        architecture=arch(PLAIN, 3, [2, 4, 6, 6], [[1, 3, 3], [3, 3, 3], [3, 3, 3], [3, 3, 3]],
                          [[1, 1, 1], [1, 2, 2], [2, 2, 2], [2, 2, 2]], [2] * 4, [2] * 3),
        old=dict(base=2, max_features=6, num_pool_per_axis=[2, 3, 3]),
    )
    c["plain2d_n2_offpatch"] = dict(
        doc="2d PlainConvUNet, N = 2, input 48x80 (larger than the 32x32 patch, not a multiple of it; divisible by the total stride 16), LeakyReLU slope 0.02",
        dim=2, configuration="2d", channels=CT, labels={"background": 0, "lung": 1},
        spacing=[0.7, 0.7], patch=[32, 32], input=[2, 1, 48, 80],
        architecture=arch(PLAIN, 2, [2, 4, 8, 8, 8], iso(2, 5), pools(2, 5), [2] * 5, [2] * 4,
                          nonlin_kwargs={"inplace": True, "negative_slope": 0.02}),
    )
    return c


def big_cases():
    """Full-size networks (not committed): what the default planners give a 1-channel isotropic CT dataset.
    get_pool_and_conv_props on a 128^3 patch (spacing 1, min feature map edge 4) pools 5 times on every axis: 6
    stages, 3x3x3 kernels; features min(320, 32 * 2^i). In 2d, a 512x512 patch pools 7 times: 8 stages, features
    min(512, 32 * 2^i)."""
    c = {}
    plain3d = arch(PLAIN, 3, [32, 64, 128, 256, 320, 320], iso(3, 6), pools(3, 6), [2] * 6, [2] * 5)
    base = dict(dim=3, configuration="3d_fullres", channels=CT, labels={"background": 0, "organ": 1, "tumor": 2},
                spacing=[1.0, 1.0, 1.0], patch=[128, 128, 128], epochs=NUM_EPOCHS)
    c["default3d_64"] = dict(base, doc="default 3d_fullres PlainConvUNet (32 -> 320, 6 stages), input 1x1x64^3", input=[1, 1, 64, 64, 64], architecture=plain3d)
    c["default3d_128"] = dict(base, doc="default 3d_fullres PlainConvUNet, input 1x1x128^3 (the whole patch)", input=[1, 1, 128, 128, 128],
                              architecture=plain3d)
    c["default2d_512"] = dict(
        doc="default 2d PlainConvUNet (32 -> 512, 8 stages) at its 512x512 patch", dim=2, configuration="2d", channels=CT,
        labels={"background": 0, "organ": 1, "tumor": 2}, spacing=[0.78, 0.78], patch=[512, 512], input=[1, 1, 512, 512], epochs=NUM_EPOCHS,
        architecture=arch(PLAIN, 2, [32, 64, 128, 256, 512, 512, 512, 512], iso(2, 8), pools(2, 8), [2] * 8, [2] * 7),
    )
    c["resencm3d_128"] = dict(
        base, doc="ResEnc M default 3d_fullres ResidualEncoderUNet (n_blocks 1,3,4,6,6,6), input 1x1x128^3", input=[1, 1, 128, 128, 128],
        planner="nnUNetPlannerResEncM", plans_name="nnUNetResEncUNetMPlans",
        architecture=arch(RESENC, 3, [32, 64, 128, 256, 320, 320], iso(3, 6), pools(3, 6), [1, 3, 4, 6, 6, 6], [1] * 5),
    )
    return c


# ---------------------------------------------------------------------------------------------
# dataset.json and plans.json


def dataset_json(name, case):
    d = {"channel_names": case["channels"], "labels": case["labels"]}
    if "regions_class_order" in case:
        d["regions_class_order"] = case["regions_class_order"]
    d.update({"numTraining": 40, "file_ending": case.get("file_ending", ".nii.gz"), "name": name, "description": "random-weight fixture from " + SCRIPT})
    return d


def resampling():
    """default_experiment_planner.py determine_resampling / determine_segmentation_softmax_export_fn."""
    fn = "resample_data_or_seg_to_shape"
    kw = lambda is_seg, order: {"is_seg": is_seg, "order": order, "order_z": 0, "force_separate_z": None}  # noqa: E731
    return {
        "resampling_fn_data": fn, "resampling_fn_seg": fn, "resampling_fn_data_kwargs": kw(False, 3),
        "resampling_fn_seg_kwargs": kw(True, 1), "resampling_fn_probabilities": fn, "resampling_fn_probabilities_kwargs": kw(False, 1),
    }


def configuration(case, architecture, patch, spacing, data_identifier):
    """One entry of plans['configurations'] in the key order get_plans_for_configuration writes."""
    n_ch = len(case["channels"])
    scheme = "CTNormalization" if case["channels"].get("0") == "CT" else "ZScoreNormalization"
    plan = {
        "data_identifier": data_identifier,
        "preprocessor_name": "DefaultPreprocessor",
        "batch_size": 2,
        "patch_size": list(patch),
        "median_image_size_in_voxels": [float(p) * 1.5 for p in patch],
        "spacing": list(spacing),
        "normalization_schemes": [scheme] * n_ch,
        "use_mask_for_norm": [False] * n_ch,
    }
    if case.get("old_style"):
        old, kw = case["old"], architecture["arch_kwargs"]
        plan.update({
            "UNet_class_name": architecture["network_class_name"].split(".")[-1],
            "UNet_base_num_features": old["base"],
            "n_conv_per_stage_encoder": kw["n_conv_per_stage"],
            "n_conv_per_stage_decoder": kw["n_conv_per_stage_decoder"],
            "num_pool_per_axis": old["num_pool_per_axis"],
            "pool_op_kernel_sizes": kw["strides"],
            "conv_kernel_sizes": kw["kernel_sizes"],
            "unet_max_num_features": old["max_features"],
        })
        plan.update(resampling())
    else:
        plan.update(resampling())
        plan["architecture"] = architecture
    plan["batch_dice"] = case["dim"] == 2
    return plan


def plans_json(name, case, dataset_id):
    plans_name = case.get("plans_name", "nnUNetPlans")
    ident = lambda c: ("nnUNetPlans" if plans_name.startswith("nnUNetResEnc") else plans_name) + "_" + c  # noqa: E731
    dim, sp = case["dim"], case["spacing"]
    configs = {}
    if dim == 3 and case.get("extra_2d"):
        # a second configuration the checkpoint does not use: the reader must pick init_args' configuration
        a = case["architecture"]
        plain = a["network_class_name"] == PLAIN
        blocks, decoder = ([2] * 4, [2] * 3) if plain else ([1, 2, 2, 2], [1] * 3)
        extra = arch(a["network_class_name"], 2, a["arch_kwargs"]["features_per_stage"][:4], iso(2, 4), pools(2, 4), blocks, decoder)
        configs["2d"] = configuration(case, extra, case["patch"][1:], sp[1:], ident("2d"))
    configs[case["configuration"]] = configuration(case, case["architecture"], case["patch"], sp, ident(case["configuration"]))
    sp3 = [999.0] + sp if dim == 2 else sp
    props = {str(i): {"max": 3071.0, "mean": 97.3 + i, "median": 101.0, "min": -1024.0, "percentile_00_5": -958.0, "percentile_99_5": 276.0, "std": 77.2}
             for i in range(len(case["channels"]))}
    return {
        "dataset_name": "Dataset%03d_%s" % (dataset_id, name),
        "plans_name": plans_name,
        "original_median_spacing_after_transp": [float(s) for s in sp3],
        "original_median_shape_after_transp": [1 if dim == 2 else int(case["patch"][0] * 1.5)] + [int(p * 1.5) for p in case["patch"][-2:]],
        "image_reader_writer": case.get("reader", "SimpleITKIO"),
        "transpose_forward": [0, 1, 2],
        "transpose_backward": [0, 1, 2],
        "configurations": configs,
        "experiment_planner_used": case.get("planner", "ExperimentPlanner"),
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": props,
    }


def json_text(obj):
    """batchgenerators save_json: json.dump(obj, f, sort_keys=False, indent=4)."""
    return json.dumps(obj, sort_keys=False, indent=4)


# ---------------------------------------------------------------------------------------------
# the network, as nnU-Net builds it


def architecture_of(config):
    """plans_handler.py ConfigurationManager: plans without `architecture` are converted in place."""
    if "architecture" in config:
        return config["architecture"]
    name = config["UNet_class_name"]
    if name == "PlainConvUNet":
        cls = PLAIN
    elif name == "ResidualEncoderUNet":
        cls = "dynamic_network_architectures.architectures.residual_unet.ResidualEncoderUNet"
    else:
        raise RuntimeError(f"unknown architecture {name}")
    n = len(config["n_conv_per_stage_encoder"])
    dim = len(config["patch_size"])
    return {
        "network_class_name": cls,
        "arch_kwargs": {
            "n_stages": n,
            "features_per_stage": [min(config["UNet_base_num_features"] * 2**i, config["unet_max_num_features"]) for i in range(n)],
            "conv_op": CONV[dim],
            "kernel_sizes": copy.deepcopy(config["conv_kernel_sizes"]),
            "strides": copy.deepcopy(config["pool_op_kernel_sizes"]),
            ("n_conv_per_stage" if name == "PlainConvUNet" else "n_blocks_per_stage"): copy.deepcopy(config["n_conv_per_stage_encoder"]),
            "n_conv_per_stage_decoder": copy.deepcopy(config["n_conv_per_stage_decoder"]),
            "conv_bias": True,
            "norm_op": INORM[dim],
            "norm_op_kwargs": {"eps": 1e-05, "affine": True},
            "dropout_op": None,
            "dropout_op_kwargs": None,
            "nonlin": "torch.nn.LeakyReLU",
            "nonlin_kwargs": {"inplace": True},
        },
        "_kw_requires_import": list(REQUIRES_IMPORT),
    }


def num_outputs(ds):
    """label_handling.py LabelManager.num_segmentation_heads: with regions (a label value that is a list of several
    labels) one output per region that is not background (0), else one per label value; `ignore` never counts."""
    values = [v for k, v in ds["labels"].items() if k != "ignore"]
    if any(isinstance(v, list) and len(v) > 1 for v in values):
        return len([v for v in values if not (v == 0 or (isinstance(v, list) and set(v) == {0}))])
    return len({v[0] if isinstance(v, list) else v for v in values})


def build_network(plans, configuration_name, ds, deep_supervision):
    """get_network_from_plans.py, with the classes located by dotted name (pydoc.locate) in the --dna checkout."""
    a = architecture_of(copy.deepcopy(plans["configurations"][configuration_name]))
    kwargs = dict(**a["arch_kwargs"])
    for ri in a["_kw_requires_import"]:
        if kwargs[ri] is not None:
            kwargs[ri] = pydoc.locate(kwargs[ri])
            assert kwargs[ri] is not None, f"{ri}: cannot locate {a['arch_kwargs'][ri]}"
    cls = pydoc.locate(a["network_class_name"])
    if cls is None:  # get_network_from_plans falls back to the class's name under architectures/
        cls = pydoc.locate("dynamic_network_architectures.architectures.unet." + a["network_class_name"].split(".")[-1])
    kwargs["deep_supervision"] = deep_supervision
    net = cls(input_channels=len(ds["channel_names"]), num_classes=num_outputs(ds), **kwargs)
    net.apply(net.initialize)
    return net


def randomize(net):
    """Weights far from identity: conv biases nonzero, norm affines U(0.3, 2) with a quarter negated and biases
    U(-1, 1), BatchNorm running stats away from 0 / 1. Conv weights keep dna's He init. Uses the global RNG."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.conv._ConvNd) and m.bias is not None:
                m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, (nn.modules.instancenorm._InstanceNorm, nn.modules.batchnorm._BatchNorm)):
                sign = torch.where(torch.rand(m.num_features) < 0.25, -1.0, 1.0)
                m.weight.copy_((torch.rand(m.num_features) * 1.7 + 0.3) * sign)
                m.bias.uniform_(-1.0, 1.0)
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)


def train_step(net, n_in, stride, epochs):
    """One real step of nnUNetTrainer's optimizer (SGD, momentum 0.99, nesterov, the last epoch's poly LR) on a
    deep-supervision loss, with clip_grad_norm_ 12 as train_step does: the optimizer state then holds momentum
    buffers for every parameter. The step runs in float64 and its results are rounded to float32: a float32 step
    on the CPU differs in the last bits from run to run (BLAS kernels depend on buffer alignment), float64 does not
    by enough to move a float32 rounding."""
    net.double()
    opt = torch.optim.SGD(net.parameters(), INITIAL_LR, weight_decay=WEIGHT_DECAY, momentum=0.99, nesterov=True)
    for g in opt.param_groups:  # PolyLRScheduler (an _LRScheduler) records initial_lr, then sets the last epoch's lr
        g["initial_lr"] = INITIAL_LR
        g["lr"] = INITIAL_LR * (1 - (epochs - 1) / NUM_EPOCHS) ** 0.9
    net.train()
    # the total stride with the first axis doubled: instance norm refuses a 1-voxel bottleneck in training mode
    x = torch.randn(2, n_in, *[s * (2 if i == 0 else 1) for i, s in enumerate(stride)], dtype=torch.float64)
    outs = net(x)
    loss = sum(0.5**i * F.cross_entropy(o, torch.randint(0, o.shape[1], (o.shape[0], *o.shape[2:]))) for i, o in enumerate(outs))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 12)
    opt.step()
    opt.zero_grad(set_to_none=True)
    net.float()  # in place: the optimizer keeps the same Parameter objects
    for state in opt.state.values():
        state["momentum_buffer"] = state["momentum_buffer"].float()
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.num_batches_tracked.fill_(NUM_EPOCHS * 250)
    return opt


def logging_of(epochs, n_fg, rng):
    """LocalLogger.my_fantastic_logging as nnU-Net keeps it: numpy float64 dice (np.nanmean), float32 losses
    (np.mean of float32 arrays), python float lrs and timestamps (fixed here, so reruns are identical)."""
    keys = ("mean_fg_dice", "ema_fg_dice", "dice_per_class_or_region", "train_losses", "val_losses", "lrs", "epoch_start_timestamps", "epoch_end_timestamps")
    log = {k: [] for k in keys}
    t = 1.7e9
    for e in range(epochs):
        per_class = [np.float64(v) for v in rng.uniform(0.2, 0.9, n_fg)]
        mean = np.nanmean(per_class)
        log["mean_fg_dice"].append(mean)
        log["ema_fg_dice"].append(log["ema_fg_dice"][-1] * 0.9 + 0.1 * mean if log["ema_fg_dice"] else mean)
        log["dice_per_class_or_region"].append(per_class)
        log["train_losses"].append(np.mean(rng.uniform(-0.9, 0.1, 4).astype(np.float32)))
        log["val_losses"].append(np.mean(rng.uniform(-0.8, 0.1, 4).astype(np.float32)))
        log["lrs"].append(INITIAL_LR * (1 - e / NUM_EPOCHS) ** 0.9)
        log["epoch_start_timestamps"].append(t)
        t += 95.25
        log["epoch_end_timestamps"].append(t)
        t += 0.5
    return log


def checkpoint(net, opt, plans, configuration_name, fold, ds, epochs, rng):
    """nnUNetTrainer.save_checkpoint's dict. init_args are the trainer's __init__ arguments: plans and
    dataset_json as load_json gave them, device cuda:0 (training ran on a GPU, so the grad scaler is enabled)."""
    log = logging_of(epochs, num_outputs(ds) - (0 if "regions_class_order" in ds else 1), rng)  # dice of foreground labels / regions
    best = None
    for v in log["ema_fg_dice"]:
        best = v if best is None or v > best else best
    dim = len(plans["configurations"][configuration_name]["patch_size"])
    return {
        "network_weights": net.state_dict(),
        "optimizer_state": opt.state_dict(),
        "grad_scaler_state": {"scale": 32768.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000, "_growth_tracker": 1337},
        "logging": log,
        "_best_ema": best,
        "current_epoch": epochs,
        "init_args": {"plans": plans, "configuration": configuration_name, "fold": fold, "dataset_json": ds, "device": torch.device("cuda", 0)},
        "trainer_name": "nnUNetTrainer",
        "inference_allowed_mirroring_axes": (0, 1) if dim == 2 else (0, 1, 2),
    }


# torch's CPU float64 conv3d (slow_conv3d) unfolds a whole sample at once: C_in * kernel * output voxels doubles,
# 29 GB for a 64-channel 3x3x3 conv at 128^3. Past this many bytes the conv runs in slabs of output depth instead.
SLAB_BYTES = 1 << 30


def conv3d_in_slabs(x, weight, bias, stride, padding, dilation, groups):
    """F.conv3d on float64, split along the output depth: each output voxel is the same dot product over the same
    inputs as in one call, only the unfold is bounded."""
    n_out = [(x.shape[2 + i] + 2 * padding[i] - dilation[i] * (weight.shape[2 + i] - 1) - 1) // stride[i] + 1 for i in range(3)]
    per_plane = x.shape[0] * weight.shape[1] * groups * math.prod(weight.shape[2:]) * n_out[1] * n_out[2] * x.element_size()
    planes = max(1, SLAB_BYTES // per_plane)
    xp = F.pad(x, (padding[2], padding[2], padding[1], padding[1], padding[0], padding[0]))
    span = dilation[0] * (weight.shape[2] - 1) + 1
    out = []
    for z0 in range(0, n_out[0], planes):
        z1 = min(n_out[0], z0 + planes)
        slab = xp[:, :, z0 * stride[0] : (z1 - 1) * stride[0] + span]
        out.append(F.conv3d(slab, weight, bias, stride, 0, dilation, groups))
    return torch.cat(out, 2)


class SlabConv3d:
    """While active, nn.Conv3d runs float64 convs whose unfold would pass SLAB_BYTES with conv3d_in_slabs."""

    def __enter__(self):
        self.original = nn.Conv3d._conv_forward
        original = self.original

        def conv_forward(m, x, weight, bias):
            unfold = x.shape[0] * x.shape[1] * math.prod(m.kernel_size) * math.prod(x.shape[2:]) // math.prod(m.stride) * x.element_size()
            if x.dtype != torch.float64 or m.padding_mode != "zeros" or isinstance(m.padding, str) or unfold <= SLAB_BYTES:
                return original(m, x, weight, bias)
            return conv3d_in_slabs(x, weight, bias, m.stride, m.padding, m.dilation, m.groups)

        nn.Conv3d._conv_forward = conv_forward
        return self

    def __exit__(self, *exc):
        nn.Conv3d._conv_forward = self.original


def forward64(net, x):
    """The network's forward in eval mode and float64 (a copy), on the f32 input cast to double; cast to f32."""
    n = copy.deepcopy(net).double().eval()
    with torch.no_grad(), SlabConv3d():
        return n(x.double()).float()


# ---------------------------------------------------------------------------------------------
# a case: files in memory


def dna_version(dna):
    """The checkout's package version (pyproject.toml, or setup.py in older checkouts)."""
    for name, pattern in (("pyproject.toml", r'^version\s*=\s*"([^"]+)"'), ("setup.py", r"version=['\"]([^'\"]+)")):
        try:
            with open(os.path.join(dna, name), encoding="utf-8") as f:
                m = re.search(pattern, f.read(), re.M)
        except OSError:
            continue
        if m:
            return m.group(1)
    return "unknown"


def total_stride(a):
    s = np.prod(np.array(a["arch_kwargs"]["strides"]), axis=0)
    return [int(v) for v in s]


def build_case(name, case, seed, dna):
    """{relative path: bytes or object} for one case: json texts, checkpoint dicts, the io tensors and metadata."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    ds = dataset_json(name, case)
    plans = plans_json(name, case, 900 + seed % 100)
    ds_text, plans_text = json_text(ds), json_text(plans)
    # the trainer's init_args hold the files as load_json reads them
    ds_loaded, plans_loaded = json.loads(ds_text), json.loads(plans_text)
    cfg = case["configuration"]
    stride = total_stride(architecture_of(copy.deepcopy(plans_loaded["configurations"][cfg])))
    x = (torch.randn(*case["input"], dtype=torch.float64) * 1.5 + 0.2).float()
    files = {f"{name}/dataset.json": ds_text, f"{name}/plans.json": plans_text}
    tensors = {"input": x}
    for fold in case.get("folds", [0]):
        net = build_network(plans_loaded, cfg, ds_loaded, deep_supervision=True)
        randomize(net)
        epochs = case.get("epochs", 3)  # committed cases log 3 epochs (1000 would add ~350 KB of pickled numpy scalars per fold)
        opt = train_step(net, len(ds["channel_names"]), stride, epochs)
        ck = checkpoint(net, opt, plans_loaded, cfg, fold, ds_loaded, epochs, rng)
        files[f"{name}/fold_{fold}/checkpoint_final.pth"] = ck
        ref = build_network(plans_loaded, cfg, ds_loaded, deep_supervision=False)
        ref.load_state_dict(ck["network_weights"])
        tensors["output" if fold == 0 else f"output.fold_{fold}"] = forward64(ref, x)
    desc = {"doc": case["doc"], "configuration": cfg, "network_class_name": architecture_of(copy.deepcopy(plans["configurations"][cfg]))["network_class_name"],
            "dims": case["dim"], "patch_size": case["patch"], "input": case["input"], "folds": case.get("folds", [0]),
            "num_outputs": num_outputs(ds), "sigmoid": "regions_class_order" in ds, "old_plans": bool(case.get("old_style"))}
    meta = {"case": json.dumps(desc, sort_keys=True), "torch_version": torch.__version__, "dna_version": dna_version(dna), "script": SCRIPT,
            "format_version": "1"}
    return files, {k: v.contiguous().numpy() for k, v in tensors.items()}, meta


def checkpoint_bytes(ck):
    buf = io.BytesIO()
    torch.save(ck, buf)
    return buf.getvalue()


def load_checkpoint(path):
    return torch.load(path, map_location="cpu", weights_only=False)


# ---------------------------------------------------------------------------------------------
# verification: the files on disk, read back the way nnU-Net reads them


def same(a, b, where, errs):
    """Structural equality of two checkpoint objects; tensors to float32 rounding (a CPU step can differ by BLAS)."""
    if type(a) is not type(b):
        errs.append(f"{where}: {type(a).__name__} vs {type(b).__name__}")
    elif isinstance(a, torch.Tensor):
        if a.dtype != b.dtype or a.shape != b.shape:
            errs.append(f"{where}: {a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}")
        elif not torch.allclose(a.double(), b.double(), rtol=1e-5, atol=1e-6):
            errs.append(f"{where}: values differ (max |diff| {float((a.double() - b.double()).abs().max()):.3g})")
    elif isinstance(a, dict):
        if list(a) != list(b):
            errs.append(f"{where}: keys {list(a)[:6]}... vs {list(b)[:6]}...")
        else:
            for k in a:
                same(a[k], b[k], f"{where}.{k}", errs)
    elif isinstance(a, (list, tuple)):
        if len(a) != len(b):
            errs.append(f"{where}: length {len(a)} vs {len(b)}")
        else:
            for i, (u, v) in enumerate(zip(a, b)):
                same(u, v, f"{where}[{i}]", errs)
    elif isinstance(a, (float, np.floating)) and not (a == b or (math.isnan(a) and math.isnan(b))):
        errs.append(f"{where}: {a!r} vs {b!r}")
    elif not isinstance(a, (float, np.floating)) and a != b:
        errs.append(f"{where}: {a!r} vs {b!r}")


def verify(out, name):
    """Rebuild each fold's network from the written plans.json / dataset.json, load network_weights from the written
    checkpoint (strict), run it in float64 and compare with the written outputs. Returns (problems, max |diff|)."""
    d = os.path.join(out, name)
    with open(os.path.join(d, "plans.json"), encoding="utf-8") as f:
        plans = json.load(f)
    with open(os.path.join(d, "dataset.json"), encoding="utf-8") as f:
        ds = json.load(f)
    tensors, _ = read_safetensors(os.path.join(out, name + ".io.safetensors"))
    x = torch.from_numpy(tensors["input"].copy())
    errs, worst = [], 0.0
    folds = sorted(int(f[5:]) for f in os.listdir(d) if f.startswith("fold_"))
    for fold in folds:
        ck = load_checkpoint(os.path.join(d, f"fold_{fold}", "checkpoint_final.pth"))
        ia = ck["init_args"]
        if ia["plans"] != plans or ia["dataset_json"] != ds or ia["fold"] != fold:
            errs.append(f"{name} fold {fold}: init_args disagree with plans.json / dataset.json / the folder")
        net = build_network(plans, ia["configuration"], ds, deep_supervision=False)
        net.load_state_dict(ck["network_weights"], strict=True)
        y = forward64(net, x).numpy()
        want = tensors["output" if fold == 0 else f"output.fold_{fold}"]
        diff = float(np.max(np.abs(y.astype(np.float64) - want.astype(np.float64))))
        worst = max(worst, diff)
        if diff > CHECK_OUTPUT_TOL:
            errs.append(f"{name} fold {fold}: rebuilt network's output differs by {diff:.3g}")
        if "regions_class_order" in ds and y.shape[1] != len(ds["regions_class_order"]):
            errs.append(f"{name}: {y.shape[1]} outputs for {len(ds['regions_class_order'])} regions")
    return errs, worst


def check_case(out, name, files, tensors, meta):
    errs = []
    for rel, want in files.items():
        path = os.path.join(out, rel)
        if not os.path.exists(path):
            errs.append(f"{path}: missing")
        elif isinstance(want, str):
            with open(path, encoding="utf-8") as f:
                if f.read() != want:
                    errs.append(f"{path}: differs from what the script writes")
        else:
            same(load_checkpoint(path), want, rel, errs)
    errs += compare(os.path.join(out, name + ".io.safetensors"), tensors, meta)
    return errs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dna", required=True, help="a dynamic_network_architectures checkout (the directory holding the package)")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--cases", help="comma-separated case names (default: all)")
    ap.add_argument("--check", action="store_true", help="regenerate in memory and compare with the files under --out")
    ap.add_argument("--big", action="store_true", help="the full-size networks instead of the committed small cases")
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(args.dna, "dynamic_network_architectures")):
        print(f"error: --dna {args.dna}: no dynamic_network_architectures/ package there", file=sys.stderr)
        return 2
    sys.path.insert(0, os.path.abspath(args.dna))
    torch.set_num_threads(max(1, os.cpu_count() or 1) if args.big else 1)
    all_cases = big_cases() if args.big else small_cases()
    names = args.cases.split(",") if args.cases else list(all_cases)
    unknown = [n for n in names if n not in all_cases]
    if unknown:
        print(f"error: unknown cases {unknown}; known: {list(all_cases)}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        t0 = time.time()
        seed = 1000 + sorted(all_cases).index(name)
        files, tensors, meta = build_case(name, all_cases[name], seed, args.dna)
        if args.check:
            errs = check_case(args.out, name, files, tensors, meta)
        else:
            for rel, v in files.items():
                path = os.path.join(args.out, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(v.encode("utf-8") if isinstance(v, str) else checkpoint_bytes(v))
            with open(os.path.join(args.out, name + ".io.safetensors"), "wb") as f:
                f.write(safetensors_bytes(tensors, meta))
            errs = []
        v_errs, worst = verify(args.out, name) if not any("missing" in e for e in errs) else ([], float("nan"))
        errs += v_errs
        size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(os.path.join(args.out, name)) for f in fs)
        size += os.path.getsize(os.path.join(args.out, name + ".io.safetensors")) if os.path.exists(os.path.join(args.out, name + ".io.safetensors")) else 0
        out = tensors["output"]
        print(f"{name}: {size} bytes, output {list(out.shape)} in [{out.min():.3g}, {out.max():.3g}], rebuilt max |diff| {worst:.3g}, {time.time() - t0:.1f} s"
              + ("" if not errs else " STALE" if args.check else " FAILED"))
        for e in errs:
            print("error: " + e, file=sys.stderr)
        failed += bool(errs)
    if args.check:
        print("nnU-Net fixtures match" if not failed else f"nnU-Net fixtures: {failed} case(s) stale or wrong")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
