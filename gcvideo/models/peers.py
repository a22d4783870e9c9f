"""Checkpoints of the peers' networks in gcvideo's parameter names (pytorchvideo's).

Formats, found from the file's content:

* ``pytorchvideo`` / ``gcvideo``: a state_dict with pytorchvideo's names (``blocks.0.conv.weight``),
  plain or inside a Lightning checkpoint (see :func:`gcvideo.models.weights.read_state_dict`);
* ``pyslowfast``: PySlowFast's ``.pyth`` checkpoints, ``{"model_state": ...}`` with its names
  (``s1.pathway0_stem.conv.weight``, ``s2.pathway0_res0.branch2.a.weight``, ``s2_fuse.conv_f2s.weight``,
  ``s3.pathway0_nonlocal1.conv_theta.weight``, ``head.projection.weight``);
* ``pyslowfast-caffe2``: PySlowFast's Caffe2 model-zoo ``.pkl`` files, a pickled ``{"blobs": {name:
  numpy array}}`` (``conv1_w``, ``res_conv1_bn_s``, ``res2_0_branch2a_w``, ``pred_w``). A pickle can
  run code when it is read: it is read by :func:`read_caffe2_pickle`, whose unpickler admits only
  what numpy arrays are made of and refuses any other global in one line naming it.

* ``torchvision``: torchvision's video weights (``R3D_18_Weights.KINETICS400_V1`` and the others'
  state_dicts, ``stem.``/``layer1.``/``fc.`` or ``features.``/``classifier.``), for gcvideo's
  ``r3d_18``, ``mc3_18``, ``r2plus1d_18`` and ``s3d``, which keep torchvision's names;
* ``mmaction2``: mmaction2's ``.pth`` checkpoints, ``{"state_dict": ...}`` with its recognizer's
  names (``backbone.conv1.conv.weight``, ``backbone.layer3.0.conv2.bn.weight``,
  ``cls_head.fc_cls.weight``).

Covered: PySlowFast's ``slowonly``, ``i3d`` and ``slowfast`` R50 (with their non-local blocks) and
mmaction2's ``ResNet3dSlowOnly`` and ``ResNet3d`` (I3D) R50: gcvideo's ``slow_r50``, ``i3d_r50``,
``slowfast_r50``, ``slow_r50_nl5`` and their GC/SE variants, whose blocks only add keys. X3D (both
peers) and mmaction2's SlowFast are networks gcvideo's models of those names do not compute
(:func:`refuse_other_layouts` says what differs): refused, never loaded in part. A key no rule
knows stays as it is and the load refuses it, naming it. ``tests/test_models_peers.py`` builds each
peer's own network with its own code, saves it in the peer's format (the Caffe2 names checked
against PySlowFast's own name converter), converts it and compares the outputs.
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


def _param(kind: str) -> str:
    return {"w": "weight", "b": "bias"}[kind]


def _pathway(fast: str) -> int:
    return 1 if fast else 0


# Caffe2 model-zoo blob -> PySlowFast parameter; ``t_`` marks the fast pathway of a SlowFast
# network, ``..._subsample`` its fast-to-slow fusion convs, ``nonlocal_convK_I`` the NL block
# after residual block I of stage K
_CAFFE2 = (
    (r"^(t_)?conv1_(w|b)$", lambda m: f"s1.pathway{_pathway(m[1])}_stem.conv.{_param(m[2])}"),
    (r"^(t_)?res_conv1_bn_(s|b|rm|riv)$", lambda m: f"s1.pathway{_pathway(m[1])}_stem.bn.{_BN[m[2]]}"),
    (r"^(t_)?res(\d+)_(\d+)_branch1_(w|b)$",
     lambda m: f"s{m[2]}.pathway{_pathway(m[1])}_res{m[3]}.branch1.{_param(m[4])}"),
    (r"^(t_)?res(\d+)_(\d+)_branch1_bn_(s|b|rm|riv)$",
     lambda m: f"s{m[2]}.pathway{_pathway(m[1])}_res{m[3]}.branch1_bn.{_BN[m[4]]}"),
    (r"^(t_)?res(\d+)_(\d+)_branch2([abc])_(w|b)$",
     lambda m: f"s{m[2]}.pathway{_pathway(m[1])}_res{m[3]}.branch2.{m[4]}.{_param(m[5])}"),
    (r"^(t_)?res(\d+)_(\d+)_branch2([abc])_bn_(s|b|rm|riv)$",
     lambda m: f"s{m[2]}.pathway{_pathway(m[1])}_res{m[3]}.branch2.{m[4]}_bn.{_BN[m[5]]}"),
    (r"^t_pool1_subsample_(w|b)$", lambda m: f"s1_fuse.conv_f2s.{_param(m[1])}"),
    (r"^t_pool1_subsample_bn_(s|b|rm|riv)$", lambda m: f"s1_fuse.bn.{_BN[m[1]]}"),
    (r"^t_res(\d+)_\d+_branch2c_bn_subsample_(w|b)$", lambda m: f"s{m[1]}_fuse.conv_f2s.{_param(m[2])}"),
    (r"^t_res(\d+)_\d+_branch2c_bn_subsample_bn_(s|b|rm|riv)$", lambda m: f"s{m[1]}_fuse.bn.{_BN[m[2]]}"),
    (r"^nonlocal_conv(\d+)_(\d+)_(theta|phi|g|out)_(w|b)$",
     lambda m: f"s{m[1]}.pathway0_nonlocal{m[2]}.conv_{m[3]}.{_param(m[4])}"),
    (r"^nonlocal_conv(\d+)_(\d+)_bn_(s|b|rm|riv)$", lambda m: f"s{m[1]}.pathway0_nonlocal{m[2]}.bn.{_BN[m[3]]}"),
    (r"^pred_(w|b)$", lambda m: f"head.projection.{_param(m[1])}"),
)


def caffe2_to_pyslowfast(name: str) -> str:
    """A Caffe2 blob's name as PySlowFast names the parameter."""
    return _rename(name, _CAFFE2)


_NL = {"conv_theta": "theta", "conv_phi": "phi", "conv_g": "g", "conv_out": "out", "bn": "norm"}


def _residual_rules(place) -> tuple:
    """PySlowFast's stem, residual-block and non-local names, with ``place(stage, pathway)`` the
    gcvideo prefix of a stage (``0`` the stem) of a pathway."""
    return (
        (r"^s1\.pathway(\d)_stem\.conv\.(.+)$", lambda m: f"{place(0, m[1])}.conv.{m[2]}"),
        (r"^s1\.pathway(\d)_stem\.bn\.(.+)$", lambda m: f"{place(0, m[1])}.norm.{m[2]}"),
        (r"^s(\d)\.pathway(\d)_res(\d+)\.branch1\.(.+)$",
         lambda m: f"{place(int(m[1]) - 1, m[2])}.res_blocks.{m[3]}.branch1_conv.{m[4]}"),
        (r"^s(\d)\.pathway(\d)_res(\d+)\.branch1_bn\.(.+)$",
         lambda m: f"{place(int(m[1]) - 1, m[2])}.res_blocks.{m[3]}.branch1_norm.{m[4]}"),
        (r"^s(\d)\.pathway(\d)_res(\d+)\.branch2\.([abc])\.(.+)$",
         lambda m: f"{place(int(m[1]) - 1, m[2])}.res_blocks.{m[3]}.branch2.conv_{m[4]}.{m[5]}"),
        (r"^s(\d)\.pathway(\d)_res(\d+)\.branch2\.([abc])_bn\.(.+)$",
         lambda m: f"{place(int(m[1]) - 1, m[2])}.res_blocks.{m[3]}.branch2.norm_{m[4]}.{m[5]}"),
        (r"^s(\d)\.pathway(\d)_nonlocal(\d+)\.(conv_theta|conv_phi|conv_g|conv_out|bn)\.(.+)$",
         lambda m: f"{place(int(m[1]) - 1, m[2])}.res_blocks.{m[3]}.context.{_NL[m[4]]}.{m[5]}"),
    )


_PYSLOWFAST = _residual_rules(lambda stage, pathway: f"blocks.{stage}") + (
    (r"^head\.projection\.(.+)$", lambda m: f"blocks.5.proj.{m[1]}"),)
# pytorchvideo's SlowFast: blocks.0 the stem, blocks.1-4 the stages, each a MultiPathWayWithFuse
# whose fusion (PySlowFast's ``sK_fuse``, after stage K) is ``blocks.K-1.multipathway_fusion``;
# blocks.5 pools and concatenates the pathways, blocks.6 is the head
_PYSLOWFAST_TWO_PATHWAYS = _residual_rules(lambda stage, pathway: f"blocks.{stage}.multipathway_blocks.{pathway}") + (
    (r"^s(\d)_fuse\.conv_f2s\.(.+)$", lambda m: f"blocks.{int(m[1]) - 1}.multipathway_fusion.conv_fast_to_slow.{m[2]}"),
    (r"^s(\d)_fuse\.bn\.(.+)$", lambda m: f"blocks.{int(m[1]) - 1}.multipathway_fusion.norm.{m[2]}"),
    (r"^head\.projection\.(.+)$", lambda m: f"blocks.6.proj.{m[1]}"),
)


def pyslowfast_to_gcvideo(name: str, two_pathways: bool = False) -> str:
    """A PySlowFast parameter's name in gcvideo's network (pytorchvideo's ResNet names; with
    ``two_pathways``, pytorchvideo's SlowFast names). A non-local block ``sK.pathway0_nonlocalI``
    (after residual block I) is the block's ``context`` there, as in ``slow_r50_nl5``."""
    return _rename(name, _PYSLOWFAST_TWO_PATHWAYS if two_pathways else _PYSLOWFAST)


# mmaction2's ResNet3d family (ResNet3dSlowOnly, ResNet3d = I3D, C2D) under its recognizer's
# ``backbone.`` and ``cls_head.``: ConvModules ``convK`` (conv + bn) and ``downsample``
_MMACTION2 = (
    (r"^backbone\.conv1\.conv\.(.+)$", lambda m: f"blocks.0.conv.{m[1]}"),
    (r"^backbone\.conv1\.bn\.(.+)$", lambda m: f"blocks.0.norm.{m[1]}"),
    (r"^backbone\.layer(\d)\.(\d+)\.conv([123])\.conv\.(.+)$",
     lambda m: f"blocks.{m[1]}.res_blocks.{m[2]}.branch2.conv_{'abc'[int(m[3]) - 1]}.{m[4]}"),
    (r"^backbone\.layer(\d)\.(\d+)\.conv([123])\.bn\.(.+)$",
     lambda m: f"blocks.{m[1]}.res_blocks.{m[2]}.branch2.norm_{'abc'[int(m[3]) - 1]}.{m[4]}"),
    (r"^backbone\.layer(\d)\.(\d+)\.downsample\.conv\.(.+)$", lambda m: f"blocks.{m[1]}.res_blocks.{m[2]}.branch1_conv.{m[3]}"),
    (r"^backbone\.layer(\d)\.(\d+)\.downsample\.bn\.(.+)$", lambda m: f"blocks.{m[1]}.res_blocks.{m[2]}.branch1_norm.{m[3]}"),
    (r"^cls_head\.fc_cls\.(.+)$", lambda m: f"blocks.5.proj.{m[1]}"),
)


def mmaction2_to_gcvideo(name: str) -> str:
    """An mmaction2 recognizer's parameter name (ResNet3d family) in gcvideo's network."""
    return _rename(name, _MMACTION2)


def refuse_other_layouts(state: Mapping[str, torch.Tensor], fmt: str, where: str) -> None:
    """Networks whose peers' layout is not the function gcvideo's network of that name computes
    are refused in one line saying what differs (a renaming cannot bridge it)."""
    keys = list(state)
    x3d = [k for k in keys if k.startswith(("s1.pathway0_stem.conv_xy", "backbone.conv1_t."))]
    if x3d:
        raise ValueError(f"{where}: a {fmt} X3D ({x3d[0]}): not convertible to gcvideo's x3d_m, whose "
                         "network (pytorchvideo's) has no BatchNorm on the first stage's shortcut where "
                         f"{fmt}'s has one; train x3d_m from scratch or use {fmt}'s own network with "
                         "insert_blocks")
    lateral = [k for k in keys if re.match(r"^backbone\.slow_path\.(conv1|layer\d)_lateral\.", k)]
    if lateral:
        normed = any(".bn." in k for k in lateral)
        raise ValueError(f"{where}: an mmaction2 ResNet3dSlowFast ({lateral[0]}): not convertible to "
                         "gcvideo's slowfast_r50 (pytorchvideo's/PySlowFast's), whose fast-to-slow "
                         "connections are conv + BN + ReLU and whose head concatenates slow before fast"
                         + ("" if normed else "; mmaction2's are a bare conv")
                         + "; insert GC into mmaction2's own network with insert_blocks instead")


def detect_format(obj) -> str:
    """``pyslowfast-caffe2``, ``pyslowfast``, ``mmaction2`` or ``pytorchvideo`` (anything else:
    gcvideo's own reader decides)."""
    if isinstance(obj, Mapping) and isinstance(obj.get("blobs"), Mapping):
        return "pyslowfast-caffe2"
    if isinstance(obj, Mapping) and isinstance(obj.get("model_state"), Mapping) and \
            any(str(k).startswith(("s1.pathway", "module.s1.pathway")) for k in obj["model_state"]):
        return "pyslowfast"
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping) and \
            any(str(k).startswith("backbone.") for k in obj["state_dict"]):
        return "mmaction2"
    if isinstance(obj, Mapping) and obj.get(POOL_INPUT_MARK) is True:
        return "gcvideo-nl-pool-input"
    keys = [str(k) for k in obj] if isinstance(obj, Mapping) else []
    if any(k.startswith("stem.") for k in keys) and any(k.startswith("fc.") for k in keys) or \
            any(k.startswith("features.0.") for k in keys) and any(k.startswith("classifier.") for k in keys):
        return "torchvision"
    return "pytorchvideo"


def to_gcvideo_names(state: Mapping[str, torch.Tensor], fmt: str, where: str = "weights file") -> dict[str, torch.Tensor]:
    """A peer's parameters under gcvideo's names; BatchNorm layers get the ``num_batches_tracked``
    counter Caffe2 does not store (PyTorch's BatchNorm does not use it in evaluation). A layout
    gcvideo's networks do not compute (:func:`refuse_other_layouts`) is refused."""
    if fmt in GCVIDEO_NAMES:
        return dict(state)
    if fmt == "pyslowfast-caffe2":
        state = {caffe2_to_pyslowfast(k): v for k, v in state.items()}
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    refuse_other_layouts(state, fmt, where)
    if fmt == "mmaction2":
        out = {mmaction2_to_gcvideo(k): v for k, v in state.items()}
    else:
        two = any(".pathway1_" in k for k in state)
        out = {pyslowfast_to_gcvideo(k, two): v for k, v in state.items()}
    for key in [k for k in out if k.endswith(".running_mean")]:
        out.setdefault(key[:-len("running_mean")] + "num_batches_tracked", torch.tensor(0))
    return out


# ``gcvideo convert`` marks a file whose non-local blocks pool x before phi/g (format
# ``gcvideo-nl-pool-input``: gcvideo's names, PySlowFast's pooling)
POOL_INPUT_MARK = "gcvideo_non_local_pool_input"


def needs_pooled_input(state: Mapping[str, torch.Tensor], fmt: str) -> bool:
    """Whether ``state``'s non-local blocks were trained pooling x before their phi/g convs
    (PySlowFast's, the NL paper's code) rather than after them (mmcv's, gcvideo's default)."""
    return (fmt.startswith("pyslowfast") or fmt == "gcvideo-nl-pool-input") and \
        any(".context.theta." in k for k in state)


GCVIDEO_NAMES = ("pytorchvideo", "torchvision", "gcvideo-nl-pool-input")   # already gcvideo's names and places


def align_to_model(state: Mapping[str, torch.Tensor], model: torch.nn.Module, fmt: str) -> dict[str, torch.Tensor]:
    """For a peer's format ``fmt``: converted names (``blocks.0`` stem, ``blocks.1``-``blocks.4`` the residual stages,
    ``blocks.5`` the head) moved to where ``model`` keeps those parts: pytorchvideo's I3D has a
    pooling layer between its first two stages, so its stages are ``blocks.1, 3, 4, 5`` and its head
    ``blocks.6``."""
    blocks = getattr(model, "blocks", None)
    if blocks is None or fmt in GCVIDEO_NAMES:
        return dict(state)
    stages = [i for i, block in enumerate(blocks) if hasattr(block, "res_blocks")]
    if not stages:                                 # SlowFast: its stages are named as they are
        return dict(state)
    where = {0: 0, **{k + 1: index for k, index in enumerate(stages)}, len(stages) + 1: len(blocks) - 1}

    def move(key: str) -> str:
        match = re.match(r"^blocks\.(\d+)\.(.*)$", key)
        return f"blocks.{where.get(int(match[1]), int(match[1]))}.{match[2]}" if match else key
    return {move(k): v for k, v in state.items()}
