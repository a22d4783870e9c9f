"""Checkpoints of the peers' networks in gcvideo's parameter names (pytorchvideo's).

Formats, found from the file's content:

* ``pytorchvideo`` / ``gcvideo``: a state_dict with pytorchvideo's names (``blocks.0.conv.weight``),
  plain or inside a Lightning checkpoint (see :func:`gcvideo.models.weights.read_state_dict`);
* ``pyslowfast``: PySlowFast's ``.pyth`` checkpoints, ``{"model_state": ...}`` with its names
  (``s1.pathway0_stem.conv.weight``, ``s2.pathway0_res0.branch2.a.weight``, ``head.projection.weight``);
* ``pyslowfast-caffe2``: PySlowFast's Caffe2 model-zoo ``.pkl`` files, a pickled ``{"blobs": {name:
  numpy array}}`` (``conv1_w``, ``res_conv1_bn_s``, ``res2_0_branch2a_w``, ``pred_w``). A pickle can
  run code when it is read: it is read by :func:`read_caffe2_pickle`, whose unpickler admits only
  what numpy arrays are made of and refuses any other global in one line naming it.

The single-pathway ResNets are covered (PySlowFast's ``slowonly`` and ``i3d`` R50: gcvideo's
``slow_r50``, ``i3d_r50`` and their GC/SE variants, whose blocks only add keys). A key
of another part (a second pathway, non-local blocks, X3D) is not guessed: it is listed as unmapped
and the load refuses it. ``tests/test_models_peers.py`` builds PySlowFast's own network with its own
code, saves it in both formats (the Caffe2 names checked against PySlowFast's own name converter)
and compares the converted network's outputs with PySlowFast's.
"""
import pickle
import re
from typing import Mapping

import numpy as np
import torch

from .serialization import UnsafeFile

# (module, name) of every global a numpy array's pickle needs, in Python 2's and 3's numpy
_ARRAY_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                  ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
                  ("collections", "OrderedDict")}
_BN = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}   # Caffe2's BN blobs


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ARRAY_GLOBALS:
            raise pickle.UnpicklingError(f"GLOBAL {module}.{name}")
        return super().find_class(module, name)


def read_caffe2_pickle(path: str) -> dict[str, torch.Tensor]:
    """The parameters of a PySlowFast Caffe2 model-zoo ``.pkl`` (its ``blobs``, without the
    optimiser's ``*_momentum`` and counters), read without running code: a global outside
    numpy's array types is refused in one line naming it."""
    try:
        with open(path, "rb") as f:
            obj = _ArraysOnly(f, encoding="latin1").load()
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found:
            raise UnsafeFile(f"{path} holds a {found.group(1)} object, which a Caffe2 weights file never needs: "
                             "refused, because loading it could run code") from None
        raise ValueError(f"{path} is not a readable pickle: {err}") from None
    except (EOFError, ValueError, TypeError, AttributeError, ImportError) as err:
        raise ValueError(f"{path} is not a readable pickle (truncated?): {type(err).__name__}: {err}") from None
    blobs = obj.get("blobs", obj) if isinstance(obj, dict) else None
    if not isinstance(blobs, dict):
        raise ValueError(f"{path} is a pickle but not a Caffe2 checkpoint (no dict of blobs)")
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in blobs.items()
            if isinstance(v, np.ndarray) and not k.endswith("_momentum") and v.dtype != object}


def _rename(name: str, rules) -> str:
    """``name`` renamed by the first of ``rules`` (regular expression, function of the match) that
    matches it, or as it is."""
    for pattern, rename in rules:
        match = re.match(pattern, name)
        if match:
            return rename(match)
    return name


def caffe2_to_pyslowfast(name: str) -> str:
    """A Caffe2 blob's name as PySlowFast names the parameter (single pathway and head)."""
    rules = ((r"^conv1_(w|b)$", lambda m: f"s1.pathway0_stem.conv.{'weight' if m[1] == 'w' else 'bias'}"),
             (r"^res_conv1_bn_(s|b|rm|riv)$", lambda m: f"s1.pathway0_stem.bn.{_BN[m[1]]}"),
             (r"^res(\d+)_(\d+)_branch1_(w|b)$",
              lambda m: f"s{m[1]}.pathway0_res{m[2]}.branch1.{'weight' if m[3] == 'w' else 'bias'}"),
             (r"^res(\d+)_(\d+)_branch1_bn_(s|b|rm|riv)$", lambda m: f"s{m[1]}.pathway0_res{m[2]}.branch1_bn.{_BN[m[3]]}"),
             (r"^res(\d+)_(\d+)_branch2([abc])_(w|b)$",
              lambda m: f"s{m[1]}.pathway0_res{m[2]}.branch2.{m[3]}.{'weight' if m[4] == 'w' else 'bias'}"),
             (r"^res(\d+)_(\d+)_branch2([abc])_bn_(s|b|rm|riv)$",
              lambda m: f"s{m[1]}.pathway0_res{m[2]}.branch2.{m[3]}_bn.{_BN[m[4]]}"),
             (r"^pred_(w|b)$", lambda m: f"head.projection.{'weight' if m[1] == 'w' else 'bias'}"))
    return _rename(name, rules)


def pyslowfast_to_gcvideo(name: str) -> str:
    """A PySlowFast parameter's name in gcvideo's network (pytorchvideo's ResNet names)."""
    rules = ((r"^s1\.pathway0_stem\.conv\.(.+)$", lambda m: f"blocks.0.conv.{m[1]}"),
             (r"^s1\.pathway0_stem\.bn\.(.+)$", lambda m: f"blocks.0.norm.{m[1]}"),
             (r"^s(\d)\.pathway0_res(\d+)\.branch1\.(.+)$",
              lambda m: f"blocks.{int(m[1]) - 1}.res_blocks.{m[2]}.branch1_conv.{m[3]}"),
             (r"^s(\d)\.pathway0_res(\d+)\.branch1_bn\.(.+)$",
              lambda m: f"blocks.{int(m[1]) - 1}.res_blocks.{m[2]}.branch1_norm.{m[3]}"),
             (r"^s(\d)\.pathway0_res(\d+)\.branch2\.([abc])\.(.+)$",
              lambda m: f"blocks.{int(m[1]) - 1}.res_blocks.{m[2]}.branch2.conv_{m[3]}.{m[4]}"),
             (r"^s(\d)\.pathway0_res(\d+)\.branch2\.([abc])_bn\.(.+)$",
              lambda m: f"blocks.{int(m[1]) - 1}.res_blocks.{m[2]}.branch2.norm_{m[3]}.{m[4]}"),
             (r"^head\.projection\.(.+)$", lambda m: f"blocks.5.proj.{m[1]}"))
    return _rename(name, rules)


def detect_format(obj) -> str:
    """``pyslowfast-caffe2``, ``pyslowfast`` or ``pytorchvideo`` (anything else: gcvideo's own reader decides)."""
    if isinstance(obj, Mapping) and isinstance(obj.get("blobs"), Mapping):
        return "pyslowfast-caffe2"
    if isinstance(obj, Mapping) and isinstance(obj.get("model_state"), Mapping) and \
            any(str(k).startswith(("s1.pathway", "module.s1.pathway")) for k in obj["model_state"]):
        return "pyslowfast"
    return "pytorchvideo"


def to_gcvideo_names(state: Mapping[str, torch.Tensor], fmt: str) -> dict[str, torch.Tensor]:
    """A peer's parameters under gcvideo's names; BatchNorm layers get the ``num_batches_tracked``
    counter Caffe2 does not store (PyTorch's BatchNorm does not use it in evaluation)."""
    if fmt == "pytorchvideo":
        return dict(state)
    if fmt == "pyslowfast-caffe2":
        state = {caffe2_to_pyslowfast(k): v for k, v in state.items()}
    out = {pyslowfast_to_gcvideo(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    for key in [k for k in out if k.endswith(".running_mean")]:
        out.setdefault(key[:-len("running_mean")] + "num_batches_tracked", torch.tensor(0))
    return out


def align_to_model(state: Mapping[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Converted names (``blocks.0`` stem, ``blocks.1``-``blocks.4`` the residual stages,
    ``blocks.5`` the head) moved to where ``model`` keeps those parts: pytorchvideo's I3D has a
    pooling layer between its first two stages, so its stages are ``blocks.1, 3, 4, 5`` and its head
    ``blocks.6``."""
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        return dict(state)
    stages = [i for i, block in enumerate(blocks) if hasattr(block, "res_blocks")]
    where = {0: 0, **{k + 1: index for k, index in enumerate(stages)}, len(stages) + 1: len(blocks) - 1}

    def move(key: str) -> str:
        match = re.match(r"^blocks\.(\d+)\.(.*)$", key)
        return f"blocks.{where.get(int(match[1]), int(match[1]))}.{match[2]}" if match else key
    return {move(k): v for k, v in state.items()}
