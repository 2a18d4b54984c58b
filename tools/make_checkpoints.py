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

Usage: /usr/bin/python3 tools/make_checkpoints.py
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


def main():
    os.makedirs(OUT, exist_ok=True)
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

    # Sanity: what was written loads back in PyTorch (except the malicious ones).
    for name in ("unet_zip.pt", "unet_legacy.pt"):
        back = torch.load(os.path.join(OUT, name))
        assert all(torch.equal(back[k], sd[k]) for k in sd), name
    with zipfile.ZipFile(os.path.join(OUT, "unet_zip.pt")) as z:
        print("unet_zip.pt entries:", ", ".join(z.namelist()[:4]), "...")


if __name__ == "__main__":
    main()
