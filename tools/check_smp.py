#!/usr/bin/python3
"""Checks tools/smp_unet.py against the real segmentation_models.pytorch (smp) Unet and UnetPlusPlus.

  mkdir -p /tmp/smp && git -C <smp git dir> archive HEAD | tar -x -C /tmp/smp
  /usr/bin/python3 tools/check_smp.py /tmp/smp [--threads 1]

PATH is a checked-out copy of smp's source (the folder holding `segmentation_models_pytorch/`),
outside this repository; smp is not vendored here. Debian lacks smp's dependencies timm,
huggingface_hub, safetensors and tqdm: importing them yields stub modules (installed as an import hook
before smp is imported), which is enough because ResNet, EfficientNet and MobileNetV2 encoders with
encoder_weights=None never call them (smp's mobilenet_v2 is Debian's torchvision MobileNetV2).

For each config: our model gets random weights (tools/make_smp_fixtures.py's randomize: kaiming convs,
calibrated BatchNorm stats), smp.Unet(**config) (or the config's _model_class, e.g. smp.UnetPlusPlus) is
built from the config.json text we would write
(so our config keys are smp's init arguments), OUR state_dict is loaded into smp's with strict=True
(same key names and shapes; the key order is compared too), and both forwards are run in float64
and float32 on the same input. Fails if any float64 max |diff| exceeds 1e-12 or float32 exceeds 1e-5,
or if a 1% change to smp's first conv does not show (negative control). Then the generated fixtures
(test/fixtures/smp, or --fixtures DIR, e.g. .cache/smp-big) whose weights exist are run through smp
from their config.json / bare state_dict and compared with their committed float64 outputs.
"""

import argparse
import importlib.abc
import importlib.util
import inspect
import json
import os
import sys
import types
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import make_input  # noqa: E402
from make_smp_fixtures import forward64, randomize, scale_head  # noqa: E402
from smp_unet import CONFIG_KEYS, MODELS, config_json, infer_config, padded_forward  # noqa: E402

STUBBED = ("timm", "huggingface_hub", "safetensors", "tqdm")


def _stub_class(qualname):
    def _init(self, *args, **kwargs):
        pass

    def _unavailable(*args, **kwargs):
        raise RuntimeError(f"{qualname} is a stub (not installed here)")

    return type(qualname.rsplit(".", 1)[-1], (), {"__init__": _init, "__call__": _unavailable, "__module__": qualname})


class _StubModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = _stub_class(f"{self.__name__}.{name}")
        setattr(self, name, value)
        return value


class _HubMixinStub:
    """Stands in for huggingface_hub.PyTorchModelHubMixin: swallows the init args in __new__ (as the
    real one does) and accepts class keywords."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__()

    def save_pretrained(self, *args, **kwargs):
        raise RuntimeError("huggingface_hub is a stub here")

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        raise RuntimeError("huggingface_hub is a stub here")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in STUBBED:
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        if spec.name == "huggingface_hub":
            m.PyTorchModelHubMixin = _HubMixinStub
        return m

    def exec_module(self, module):
        pass


def import_smp(src):
    missing = []
    for name in STUBBED:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        sys.meta_path.insert(0, _StubFinder())
    sys.path.insert(0, os.path.abspath(src))
    import segmentation_models_pytorch as smp

    where = os.path.dirname(os.path.abspath(smp.__file__))
    if not where.startswith(os.path.abspath(src)):
        raise SystemExit(f"imported smp from {where}, not from {src}")
    print(f"smp {smp.__version__} from {where}; stubbed: {', '.join(missing) or 'nothing'}")
    return smp


# name: (kwargs, N, H, W, seed)
CASES = [
    ("efficientnet-b0 d5 sigmoid", dict(encoder_name="efficientnet-b0", decoder_channels=[16, 8, 8, 4, 4], activation="sigmoid"), 2, 64, 64),
    ("efficientnet-b3 d4 scse odd 50x70", dict(encoder_name="efficientnet-b3", encoder_depth=4, decoder_channels=[32, 16, 16, 16], decoder_attention_type="scse", classes=2), 1, 50, 70),
    ("efficientnet-b1 d3 in1 odd 37x53", dict(encoder_name="efficientnet-b1", encoder_depth=3, decoder_channels=[16, 8, 8], in_channels=1), 1, 37, 53),
    ("efficientnet-b5 d5 odd 100x76", dict(encoder_name="efficientnet-b5", decoder_channels=[16, 8, 8, 4, 4]), 1, 100, 76),
    ("efficientnet-b7 d5", dict(encoder_name="efficientnet-b7", decoder_channels=[16, 8, 8, 4, 4]), 1, 48, 48),
    ("resnet18 d5 nearest sigmoid", dict(encoder_name="resnet18", decoder_channels=[16, 8, 8, 4, 4], activation="sigmoid"), 2, 64, 64),
    ("resnet18 d5 odd 100x76", dict(encoder_name="resnet18", decoder_channels=[16, 8, 8, 4, 4]), 1, 100, 76),
    ("resnet18 d5 odd 50x70 tanh", dict(encoder_name="resnet18", decoder_channels=[16, 8, 8, 4, 4], activation="tanh"), 1, 50, 70),
    ("resnet34 d4 scse bilinear softmax in1", dict(encoder_name="resnet34", encoder_depth=4, decoder_channels=[32, 16, 16, 16], decoder_attention_type="scse", decoder_interpolation="bilinear", in_channels=1, classes=3, activation="softmax"), 1, 48, 80),
    ("resnet34 d5 scse bilinear odd 37x53", dict(encoder_name="resnet34", decoder_channels=[64, 32, 16, 16, 16], decoder_attention_type="scse", decoder_interpolation="bilinear", classes=2), 1, 37, 53),
    ("resnet50 d3 use_norm False logsoftmax", dict(encoder_name="resnet50", encoder_depth=3, decoder_channels=[16, 8, 8], decoder_use_norm=False, classes=2, activation="logsoftmax"), 1, 40, 40),
    ("resnet50 d4 odd 100x76 in4 softmax2d", dict(encoder_name="resnet50", encoder_depth=4, decoder_channels=[32, 16, 8, 8], in_channels=4, classes=3, activation="softmax2d"), 1, 100, 76),
    ("resnext50_32x4d d5 identity", dict(encoder_name="resnext50_32x4d", decoder_channels=[16, 8, 8, 4, 4], activation="identity"), 1, 64, 64),
    ("resnext50_32x4d d3 scse nonorm 33x47", dict(encoder_name="resnext50_32x4d", encoder_depth=3, decoder_channels=[32, 16, 16], decoder_attention_type="scse", decoder_use_norm=False), 1, 33, 47),
    ("resnet34 default decoder 64x64", dict(encoder_name="resnet34"), 1, 64, 64),
    ("resnet18 d5 aux_params", dict(encoder_name="resnet18", decoder_channels=[16, 8, 8, 4, 4], aux_params=dict(classes=4, dropout=0.5)), 2, 64, 64),
    ("mobilenet_v2 d5 sigmoid", dict(encoder_name="mobilenet_v2", decoder_channels=[16, 8, 8, 4, 4], activation="sigmoid"), 2, 64, 64),
    ("mobilenet_v2 d5 in1 odd 200x152", dict(encoder_name="mobilenet_v2", decoder_channels=[16, 8, 8, 4, 4], in_channels=1), 1, 200, 152),
    ("mobilenet_v2 d4 scse bilinear in4 odd 50x70", dict(encoder_name="mobilenet_v2", encoder_depth=4, decoder_channels=[32, 16, 16, 16], decoder_attention_type="scse", decoder_interpolation="bilinear", in_channels=4, classes=3, activation="softmax"), 1, 50, 70),
    ("mobilenet_v2 d3 nonorm in2", dict(encoder_name="mobilenet_v2", encoder_depth=3, decoder_channels=[16, 8, 8], decoder_use_norm=False, in_channels=2, classes=2), 1, 40, 56),
    ("mobilenet_v2 d2 tanh", dict(encoder_name="mobilenet_v2", encoder_depth=2, decoder_channels=[16, 8], activation="tanh"), 1, 36, 44),
    ("mobilenet_v2 d1 odd 33x47", dict(encoder_name="mobilenet_v2", encoder_depth=1, decoder_channels=[8]), 1, 33, 47),
    ("mobilenet_v2 default decoder 64x64", dict(encoder_name="mobilenet_v2"), 1, 64, 64),
    # UnetPlusPlus: sizes multiples of 2^depth (smp refuses others)
    ("UnetPlusPlus resnet18 d5 sigmoid", dict(_model_class="UnetPlusPlus", encoder_name="resnet18", decoder_channels=[16, 8, 8, 4, 4], activation="sigmoid"), 2, 64, 64),
    ("UnetPlusPlus resnet34 d4 scse bilinear in1", dict(_model_class="UnetPlusPlus", encoder_name="resnet34", encoder_depth=4, decoder_channels=[32, 16, 16, 16], decoder_attention_type="scse", decoder_interpolation="bilinear", in_channels=1, classes=3, activation="softmax"), 1, 48, 80),
    ("UnetPlusPlus resnet50 d3 nonorm 200x152", dict(_model_class="UnetPlusPlus", encoder_name="resnet50", encoder_depth=3, decoder_channels=[16, 8, 8], decoder_use_norm=False, classes=2, activation="logsoftmax"), 1, 200, 152),
    ("UnetPlusPlus efficientnet-b0 d3 scse 200x152", dict(_model_class="UnetPlusPlus", encoder_name="efficientnet-b0", encoder_depth=3, decoder_channels=[32, 16, 16], decoder_attention_type="scse", classes=2), 1, 200, 152),
    ("UnetPlusPlus efficientnet-b3 d5 identity", dict(_model_class="UnetPlusPlus", encoder_name="efficientnet-b3", decoder_channels=[16, 8, 8, 4, 4]), 1, 64, 96),
    ("UnetPlusPlus mobilenet_v2 d4 in2 tanh", dict(_model_class="UnetPlusPlus", encoder_name="mobilenet_v2", encoder_depth=4, decoder_channels=[16, 16, 8, 8], in_channels=2, activation="tanh"), 1, 48, 64),
    ("UnetPlusPlus resnext50_32x4d d2", dict(_model_class="UnetPlusPlus", encoder_name="resnext50_32x4d", encoder_depth=2, decoder_channels=[16, 8]), 1, 36, 44),
    ("UnetPlusPlus resnet34 default decoder 64x64", dict(_model_class="UnetPlusPlus", encoder_name="resnet34"), 1, 64, 64),
]
LEGACY_CASE = ("resnet18 d4 legacy config keys", dict(encoder_name="resnet18", encoder_depth=4, decoder_channels=[16, 16, 8, 8], decoder_use_batchnorm=True, decoder_interpolation_mode="bilinear", classes=2, activation="softmax2d"), 1, 64, 48)

TOL64, TOL32 = 1e-12, 1e-5


def max_diff(a, b):
    if isinstance(a, tuple):
        return max(max_diff(x, y) for x, y in zip(a, b))
    return float((a.double() - b.double()).abs().max())


def run_case(smp, label, kwargs, n, h, w, seed):
    torch.manual_seed(seed)
    cls = kwargs.get("_model_class", "Unet")
    ours = MODELS[cls](**kwargs)
    x = make_input(n, ours.config["in_channels"], h, w)
    randomize(ours, x)
    scale_head(ours, x)
    ours.eval()

    cfg = json.loads(config_json(ours))
    assert cfg.pop("_model_class") == cls
    if "decoder_use_batchnorm" in kwargs:  # hand smp the older keys, as an old config.json would
        cfg = {k: v for k, v in kwargs.items()}
        cfg.setdefault("encoder_weights", None)
        # current smp drops decoder_interpolation_mode into the encoder kwargs (ignored for ResNet):
        # pass the mode the older revision meant, under the current name
        cfg["decoder_interpolation"] = cfg["decoder_interpolation_mode"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(smp, cls)(**cfg)
    theirs.eval()

    sd = ours.state_dict()
    tsd = theirs.state_dict()
    if list(sd) != list(tsd):
        only_o, only_t = sorted(set(sd) - set(tsd)), sorted(set(tsd) - set(sd))
        raise AssertionError(f"{label}: key order/names differ; ours only {only_o[:5]}, smp only {only_t[:5]}")
    theirs.load_state_dict({k: v.clone() for k, v in sd.items()}, strict=True)
    inferred = infer_config(sd)
    assert (inferred["encoder_name"], inferred["_model_class"]) == (kwargs["encoder_name"], cls)

    with torch.no_grad():
        y64 = forward64(ours, x)
        t64 = forward64(theirs, x)
        d64 = max_diff(y64, t64)
        d32 = max_diff(ours(x), theirs(x))
        ref = y64[0] if isinstance(y64, tuple) else y64
    # negative control: a small change to smp's first conv must show up in the output
    with torch.no_grad():
        first = (theirs.encoder._conv_stem if hasattr(theirs.encoder, "_conv_stem")
                 else theirs.encoder.features[0][0] if hasattr(theirs.encoder, "features") else theirs.encoder.conv1)
        w0 = first.weight.clone()
        first.weight.mul_(1.01)
        dctrl = max_diff(ours(x), theirs(x))
        first.weight.copy_(w0)
    ok = d64 <= TOL64 and d32 <= TOL32 and dctrl > 0
    note = ""
    if "decoder_interpolation_mode" in kwargs:
        # what current smp does with the older config as it stands (decoder_interpolation_mode ignored)
        raw = {k: v for k, v in kwargs.items()}
        raw.setdefault("encoder_weights", None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            as_is = smp.Unet(**raw).eval()
        as_is.load_state_dict({k: v.clone() for k, v in sd.items()}, strict=True)
        with torch.no_grad():
            note = f"; smp given the old keys as-is differs by {max_diff(ours(x), as_is(x)):.3g} (uses {as_is.decoder.blocks[0].interpolation_mode})"
    shape = list(ref.shape)
    print(f"{'ok  ' if ok else 'FAIL'} {label:42s} x {[n, ours.config['in_channels'], h, w]} -> {shape}  "
          f"keys {len(sd):4d}  max|d| f64 {d64:.3g}  f32 {d32:.3g}  (|y| max {float(ref.abs().max()):.3g}; "
          f"control {dctrl:.2g}){note}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("smp_source", help="checked-out smp source (folder holding segmentation_models_pytorch/)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test", "fixtures", "smp"),
                    help="also run these fixtures (make_smp_fixtures.py output) through smp (default test/fixtures/smp)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    smp = import_smp(args.smp_source)

    # our config.json keys are exactly each smp class's init arguments (signature order)
    for cls in MODELS:
        params = [p for p in inspect.signature(getattr(smp, cls).__init__).parameters.values()
                  if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        names = [p.name for p in params]
        if names != CONFIG_KEYS:
            raise SystemExit(f"smp.{cls} arguments {names} != our CONFIG_KEYS {CONFIG_KEYS}")
        print(f"smp.{cls} init arguments match config keys: {', '.join(names)}")

    ok = True
    for i, (label, kw, n, h, w) in enumerate(CASES + [LEGACY_CASE]):
        ok &= run_case(smp, label, kw, n, h, w, 8000 + i)
    ok &= check_fixtures(smp, args.fixtures)
    if not ok:
        sys.exit(1)
    print("all configs match smp")


def check_fixtures(smp, folder):
    """The generated fixtures (when their weights exist) through the real smp: config.json -> smp.Unet (or
    its _model_class), model.safetensors -> strict load, float64 forward vs the committed `output`."""
    import glob

    import numpy as np

    from make_fixtures import read_safetensors

    ok = True
    for io_path in sorted(glob.glob(os.path.join(folder, "*.io.safetensors"))):
        name = os.path.basename(io_path)[: -len(".io.safetensors")]
        io, meta = read_safetensors(io_path)
        wpath = os.path.join(folder, meta["model"])
        if not os.path.exists(wpath):
            print(f"skip fixture {name}: {wpath} not generated")
            continue
        sd, _ = read_safetensors(wpath)
        sd = {k: torch.from_numpy(np.array(v)) for k, v in sd.items()}
        cfg_path = os.path.join(folder, name, "config.json")
        if os.path.exists(cfg_path):
            with open(cfg_path) as f:
                cfg = json.load(f)
            if "decoder_interpolation_mode" in cfg:  # see LEGACY_CASE
                cfg["decoder_interpolation"] = cfg.pop("decoder_interpolation_mode")
        else:
            cfg = dict(infer_config(sd), encoder_weights=None)
        cls = cfg.pop("_model_class", "Unet")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = getattr(smp, cls)(**cfg).eval()
        theirs.load_state_dict(sd, strict=True)
        d = 0.0
        for k in io:
            if k.startswith("input"):
                x = torch.from_numpy(np.array(io[k]))
                if k == "input_padded":  # smp refuses the size: its output on the padded input, cropped
                    y = padded_forward(lambda xp: forward64(theirs, xp), x, 2 ** cfg.get("encoder_depth", 5)).float()
                else:
                    y = forward64(theirs, x).float()
                d = max(d, float((y - torch.from_numpy(np.array(io["output" + k[5:]]))).abs().max()))
        good = d <= 1e-6
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} fixture {name:24s} smp.{cls} f64 forward vs committed output max|d| {d:.3g}")
    return ok


if __name__ == "__main__":
    main()
