"""Run nnU-Net v2's inference code from its source under Debian's torch 1.13 (the judge for src/nnunet/).

nnU-Net, acvl_utils and batchgenerators are not installed: they are checkouts given on the command line. Importing
nnunetv2.inference.predict_from_raw_data pulls in modules that inference never calls: training augmentation
(batchgeneratorsv2), dataset storage (blosc2), SimpleITK readers, torch._dynamo (torch >= 2), plotting and a few model
zoos. setup() installs stand-ins for those in sys.modules, so `import nnunetv2` works without them. A stand-in's
attributes are classes that do nothing when called (training modules call matplotlib.use('agg') at import); inference
never touches them, and if it ever did, the None it got back would fail loudly at once.

    import nnunet_env
    nnunet_env.add_arguments(parser)                 # --sources DIR or --nnunet/--acvl/--batchgenerators/--dna
    nnunet_env.setup(**nnunet_env.paths(args))       # then: import nnunetv2...

Checkouts (the mirrors work too: `git -C MIRROR archive HEAD | tar -x -C DIR`):

    git clone https://github.com/MIC-DKFZ/nnUNet /tmp/nnunet/nnUNet
    git clone https://github.com/MIC-DKFZ/acvl_utils /tmp/nnunet/acvl_utils
    git clone https://github.com/MIC-DKFZ/batchgenerators /tmp/nnunet/batchgenerators
    git clone https://github.com/MIC-DKFZ/dynamic-network-architectures /tmp/nnunet/dna
"""

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types

# Top-level modules that importing nnunetv2's inference reaches but inference never uses. Each gets a stand-in whose
# submodules and attributes are created on demand (`from batchgeneratorsv2.transforms.x import Y` works).
ALWAYS_STAND_IN = [
    "batchgeneratorsv2",  # training augmentation (nnUNetTrainer imports it at module level)
    "blosc2",  # preprocessed-dataset storage (nnunet_dataset.py, acvl_utils)
    "SimpleITK",  # SimpleITKIO; the judges read NIfTI with NibabelIO
    "graphviz", "imagecodecs", "tifffile", "yacs", "einops", "timm", "seaborn", "matplotlib", "mpl_toolkits",
    "cc3d",  # acvl_utils' connected components (postprocessing only)
    "threadpoolctl", "sklearn", "wandb",
]
# Modules used only for progress bars or optional paths: a stand-in only when the machine lacks them.
STAND_IN_IF_MISSING = ["tqdm"]

# setup()'s keyword -> the package directory each checkout must hold
PACKAGES = {"nnunet": "nnunetv2", "acvl": "acvl_utils", "batchgenerators": "batchgenerators", "dna": "dynamic_network_architectures"}
# --sources DIR: the checkouts' folder names inside DIR
SOURCE_DIRS = {"nnunet": "nnUNet", "acvl": "acvl_utils", "batchgenerators": "batchgenerators", "dna": "dna"}


class _StandIn(types.ModuleType):
    """A module whose every attribute is a further stand-in: classes can be subclassed and decorators applied, but
    calling one (or instantiating it) raises, naming the module inference was not supposed to use."""

    def __init__(self, name):
        super().__init__(name)
        self.__path__ = []  # a package, so submodule imports resolve through the finder
        self.__file__ = f"<stand-in {name}>"

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        value = _stand_in_class(f"{self.__name__}.{attr}")
        setattr(self, attr, value)
        return value


class _StandInType(type):
    """Attributes of a stand-in class are further stand-in classes (`blosc2.ndarray.NDArray` in a type hint)."""

    def __getattr__(cls, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        value = _stand_in_class(f"{cls.__module__}.{cls.__name__}.{attr}")
        setattr(cls, attr, value)
        return value


def _stand_in_class(qualname):
    # a class, so `class X(stand_in.Base)`, type hints and isinstance checks work; calling it (module-level calls
    # such as matplotlib.use('agg') in training modules) does nothing and returns None
    module, name = qualname.rsplit(".", 1)
    return _StandInType(name, (), {"__new__": lambda cls, *a, **k: None, "__module__": module,
                                   "__class_getitem__": classmethod(lambda cls, item: cls)})


class _StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots):
        self.roots = set(roots)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StandIn(spec.name)

    def exec_module(self, module):
        pass


class _Tqdm:
    """tqdm's surface that nnU-Net inference uses: a context manager and iterable with update()."""

    def __init__(self, iterable=None, *args, **kwargs):
        self.iterable = iterable

    def __iter__(self):
        return iter(self.iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass

    def close(self):
        pass


def _install_dynamo():
    """torch._dynamo exists from torch 2.0; predict_from_raw_data imports OptimizedModule from it for isinstance."""
    import torch

    try:
        import torch._dynamo  # noqa: F401
        return
    except ImportError:
        pass
    mod = types.ModuleType("torch._dynamo")
    mod.OptimizedModule = type("OptimizedModule", (torch.nn.Module,), {})
    sys.modules["torch._dynamo"] = mod
    torch._dynamo = mod


_finder = None


def setup(nnunet, acvl, batchgenerators, dna):
    """Put the four checkouts (each the folder holding its package) first on sys.path and install the stand-ins.
    Idempotent. Raises SystemExit with one line when a checkout lacks its package."""
    global _finder
    given = {"nnunet": nnunet, "acvl": acvl, "batchgenerators": batchgenerators, "dna": dna}
    for key, path in given.items():
        if not path or not os.path.isdir(os.path.join(path, PACKAGES[key])):
            raise SystemExit(f"error: --{key} {path}: no {PACKAGES[key]}/ package there")
    for path in reversed(list(given.values())):
        path = os.path.abspath(path)
        if path not in sys.path:
            sys.path.insert(0, path)
    roots = list(ALWAYS_STAND_IN)
    for name in STAND_IN_IF_MISSING:
        if importlib.util.find_spec(name) is None:
            roots.append(name)
    if _finder is None:
        _finder = _StandInFinder(roots)
        sys.meta_path.insert(0, _finder)
    if "tqdm" in roots:
        importlib.import_module("tqdm").tqdm = _Tqdm
    _install_dynamo()
    # nnunetv2.paths reads these at import and warns when they are unset; inference from a folder never uses them
    for var in ("nnUNet_raw", "nnUNet_preprocessed", "nnUNet_results"):
        os.environ.setdefault(var, os.path.join("/tmp", "nnunet_env_unused", var))
    import nnunetv2  # noqa: F401  (fails here, not later, when something is still missing)


def add_arguments(parser):
    """The judges' command-line convention: --sources DIR (holding nnUNet/, acvl_utils/, batchgenerators/, dna/) or
    the four checkouts one by one."""
    parser.add_argument("--sources", help="a folder holding the checkouts nnUNet/, acvl_utils/, batchgenerators/ and dna/")
    parser.add_argument("--nnunet", help="an nnU-Net checkout (the folder holding nnunetv2/)")
    parser.add_argument("--acvl", help="an acvl_utils checkout")
    parser.add_argument("--batchgenerators", help="a batchgenerators checkout")
    parser.add_argument("--dna", help="a dynamic_network_architectures checkout")


def paths(args):
    """setup()'s keywords from parsed arguments: a checkout given alone wins over --sources."""
    out = {}
    for key, folder in SOURCE_DIRS.items():
        path = getattr(args, key, None)
        if path is None and getattr(args, "sources", None):
            path = os.path.join(args.sources, folder)
        if path is None:
            raise SystemExit(f"error: give --{key} (or --sources DIR holding {folder}/)")
        out[key] = path
    return out
