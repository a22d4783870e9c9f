"""The package's levels: layers <- models <- engine <- tools <- cli, data beside layers, and
under them all the base modules (``gcvideo.files``, ``gcvideo.configs``, ``gcvideo.progress``) that
import nothing of gcvideo.

Walks every module's imports (top-level and inside functions) with ``ast``."""
import ast
import os
import subprocess
import sys

import pytest

import gcvideo

PACKAGE = os.path.dirname(gcvideo.__file__)
# what each level may import from gcvideo (itself included)
BASE = {"files", "configs", "progress"}
ALLOWED = {
    "layers": {"layers"},
    "data": BASE | {"data"},
    "models": {"layers", "models"},
    "engine": BASE | {"layers", "data", "models", "engine"},
    "tools": BASE | {"layers", "data", "models", "engine", "tools"},
}
LIGHTNING = {"pytorch_lightning", "lightning"}
THIRD_PARTY_BANNED = {"layers": {"pytorchvideo", "fvcore"} | LIGHTNING, "models": LIGHTNING, "data": LIGHTNING}


def module_imports(path: str, package: str):
    """(gcvideo subpackage or None, top-level module name) of every import in ``path``."""
    tree = ast.parse(open(path).read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:    # relative: resolve against the module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names = [".".join(base + ([node.module] if node.module else []))]
                if not node.module:
                    names = [f"{names[0]}.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            yield (parts[1] if parts[0] == "gcvideo" and len(parts) > 1 else None), parts[0], node.lineno


def test_resolving_relative_imports():
    # a sanity check of the walker itself: it must see this module-level relative import
    found = list(module_imports(os.path.join(PACKAGE, "models", "fold.py"), "gcvideo.models"))
    assert ("layers", "gcvideo", found[[f[0] for f in found].index("layers")][2]) in found
    assert any(level == "models" for level, _, _ in found)


@pytest.mark.parametrize("level", sorted(ALLOWED))
def test_no_module_imports_from_a_higher_level(level):
    folder = os.path.join(PACKAGE, level)
    files = [f for f in sorted(os.listdir(folder)) if f.endswith(".py")]
    assert files, folder
    wrong = []
    for name in files:
        for target, top, line in module_imports(os.path.join(folder, name), f"gcvideo.{level}"):
            if target is not None and target not in ALLOWED[level]:
                wrong.append(f"gcvideo/{level}/{name}:{line} imports gcvideo.{target}")
            if top in THIRD_PARTY_BANNED.get(level, ()):
                wrong.append(f"gcvideo/{level}/{name}:{line} imports {top}")
    assert not wrong, "\n".join(wrong)


def test_base_modules_import_nothing_of_gcvideo():
    wrong = []
    for name in sorted(BASE):
        path = os.path.join(PACKAGE, name + ".py")
        if not os.path.exists(path):
            path = os.path.join(PACKAGE, name, "__init__.py")
        wrong += [f"{path}:{line} imports gcvideo.{target}"
                  for target, top, line in module_imports(path, f"gcvideo.{name}") if target is not None]
    assert not wrong, "\n".join(wrong)


def test_data_works_without_lightning():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('pytorch_lightning', 'lightning'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import gcvideo.data
from gcvideo.data import check, prepare, synth, multiview, transforms
print('ok')
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_layers_work_without_pytorchvideo_or_lightning():
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('pytorchvideo', 'pytorch_lightning', 'lightning', 'fvcore'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import torch
from gcvideo.layers import GlobalContext3d, make_block
block = GlobalContext3d(32)
x = torch.randn(2, 32, 4, 5, 5)
assert torch.equal(block(x), x)
assert type(make_block('nl', 32)).__name__ == 'NonLocal3d'
assert not any(m.split('.')[0] in ('pytorchvideo', 'pytorch_lightning') for m in sys.modules)
print('ok')
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


def test_import_installs_nothing_and_old_module_paths_are_gone():
    """0.2.0 removed the 0.1 flat module paths (and the import hook that served them)."""
    import importlib

    before = list(sys.meta_path)
    importlib.reload(gcvideo)
    assert sys.meta_path == before
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("gcvideo.insert")


def test_using_the_package_raises_no_third_party_deprecation_warning():
    code = ("import gcvideo; from gcvideo import create_model; from gcvideo.models.cost import count_flops; "
            "m = create_model('slow_r50_gc', num_classes=3, depths=(1, 1, 1, 1), width=4); "
            "print(count_flops(m, 2, 32) > 0)")
    result = subprocess.run([sys.executable, "-W", "error::FutureWarning", "-W", "error::DeprecationWarning",
                             "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr[-2000:]


def test_a_deprecation_warned_from_gcvideo_code_fails_the_tests():
    """pytest.ini: a DeprecationWarning or FutureWarning attributed to a gcvideo module (its own, or a
    deprecated torch/Lightning call made there) is an error in the tests; other libraries' are not."""
    import warnings

    def warn_from(module: str, category) -> None:
        exec(compile("import warnings\nwarnings.warn('old', CATEGORY)", f"{module}.py", "exec"),
             {"__name__": module, "CATEGORY": category})

    for category in (DeprecationWarning, FutureWarning):
        with pytest.raises(category):
            warn_from("gcvideo.engine.fake", category)
    with warnings.catch_warnings(record=True):
        warn_from("somelib.fake", DeprecationWarning)                 # ignored, as before


# private names gcvideo reads from objects other than itself: its own modules' helpers, and
# torch's documented-by-use base classes and state-dict hook; nothing of Lightning's
KNOWN_PRIVATE = {"decode._open", "decode._shown", "decode._info", "decode._Scale", "decode._EPS",
                 "nn.modules.batchnorm._BatchNorm", "torch.nn.modules.batchnorm._NormBase",
                 "nn.modules.batchnorm._NormBase", "super()._load_from_state_dict", "MODELS[_name]._replace"}
LIGHTNING_LOOPS = {"fit_loop", "epoch_loop", "batch_progress", "validate_loop", "test_loop", "predict_loop"}


def test_lightning_is_used_through_its_public_api_only():
    found = set()
    for folder, _, files in os.walk(PACKAGE):
        for name in (f for f in files if f.endswith(".py")):
            path = os.path.join(folder, name)
            for node in ast.walk(ast.parse(open(path).read(), path)):
                if not isinstance(node, ast.Attribute):
                    continue
                private = node.attr.startswith("_") and not node.attr.startswith("__") \
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                if (private and ast.unparse(node) not in KNOWN_PRIVATE) or node.attr in LIGHTNING_LOOPS:
                    found.add(f"{os.path.relpath(path, PACKAGE)}:{node.lineno}: {ast.unparse(node)}")
    assert not found, sorted(found)


def test_no_subclass_calls_a_private_lightning_member():
    """``self._x`` inside a subclass of a Lightning class, where a Lightning base defines ``_x``
    (as ``LightningCLI._get`` or ``ModelCheckpoint._save_checkpoint`` once were)."""
    import importlib
    import inspect

    found = []
    for folder, _, files in os.walk(PACKAGE):
        for name in (f for f in files if f.endswith(".py") and f != "__main__.py"):
            path = os.path.join(folder, name)
            module = importlib.import_module("gcvideo." + os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")
                                             .removesuffix(".__init__"))
            for node in ast.walk(ast.parse(open(path).read(), path)):
                cls = getattr(module, node.name, None) if isinstance(node, ast.ClassDef) else None
                if not inspect.isclass(cls):
                    continue
                bases = [b for b in cls.__mro__[1:] if b.__module__.split(".")[0] in LIGHTNING]
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "self" \
                            and sub.attr.startswith("_") and not sub.attr.startswith("__") \
                            and any(sub.attr in vars(b) for b in bases):
                        found.append(f"{name}:{sub.lineno}: {cls.__name__} uses {sub.attr}")
    assert not found, found
