"""Loading weights from local files: pytorchvideo/Lightning checkpoints and inflated 2D ResNet-50.

Nothing here downloads anything; every path is a local file.
"""
import logging
import os
from typing import Callable, Mapping, Optional, Union

import torch
from torch import nn

StateDict = dict[str, torch.Tensor]
log = logging.getLogger("gcvideo")


def read_state_dict(path: Union[str, os.PathLike]) -> StateDict:
    """Tensors of a local checkpoint under gcvideo's names: a plain state_dict, a Lightning
    checkpoint (``state_dict`` with the LightningModule's ``model.`` prefix), a DDP-wrapped
    (``module.``) state_dict, a PySlowFast ``.pyth`` (``model_state``) or Caffe2 model-zoo ``.pkl``,
    an mmaction2 ``.pth`` (:mod:`gcvideo.models.peers`)."""
    return read_weights(path)[1]


def read_weights(path: Union[str, os.PathLike]) -> tuple[str, StateDict]:
    """(the format found, the tensors under gcvideo's names) of a weights file; see
    :func:`read_state_dict`. Nothing in the file runs: torch files are read with
    ``weights_only=True``, pickles with an unpickler that admits only numpy arrays."""
    from .peers import detect_format, read_caffe2_pickle, to_gcvideo_names
    from .serialization import describe_format, load_torch_file

    path = os.fspath(path)
    if os.path.isfile(path) and describe_format(path) == "a plain pickle":
        return "pyslowfast-caffe2", to_gcvideo_names(read_caffe2_pickle(path), "pyslowfast-caffe2", path)
    obj = load_torch_file(path, "weights file")
    fmt = detect_format(obj)
    for key in ("state_dict", "model_state", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} does not hold a state_dict of tensors")
    state = dict(obj)
    for prefix in ("model.", "module."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return fmt, to_gcvideo_names(state, fmt, path)


def head_keys(model: nn.Module) -> list[str]:
    """The classifier's weight and bias keys (the last linear layer)."""
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    return [f"{linears[-1]}.weight", f"{linears[-1]}.bias"] if linears else []


def load_pretrained(model: nn.Module, source: Union[str, os.PathLike, StateDict],
                    name: Optional[str] = None, say: Optional[Callable[[str], None]] = None) -> list[str]:
    """Load a plain network's weights into ``model`` (which may have inserted blocks).

    Allowed differences: keys of inserted context blocks (``.context.``) may be
    missing, and a classifier head of another class count is left at its
    initialisation (fine-tuning). Anything else (unexpected keys, other shape
    mismatches, other missing keys) is an error naming the keys. Returns the keys
    left at their initialisation; one line saying what was loaded goes to ``say`` (default: the
    ``gcvideo`` logger).
    """
    fmt = "state_dict"
    if isinstance(source, Mapping):
        state = dict(source)
    else:
        from .peers import align_to_model, needs_pooled_input

        fmt, state = read_weights(source)
        state = align_to_model(state, model, fmt)
        check_non_local_pooling(model, needs_pooled_input(state, fmt), f"{source} ({fmt})")
    where = name or (source if not isinstance(source, Mapping) else "state_dict")
    own = model.state_dict()
    head = set(head_keys(model))
    unexpected = sorted(set(state) - set(own))
    if unexpected:
        raise ValueError(f"{where}: {len(unexpected)} key(s) not in the model, e.g. {unexpected[:5]}")
    kept = []
    for key, value in list(state.items()):
        if value.shape != own[key].shape:
            if key in head:
                del state[key]
                continue
            raise ValueError(f"{where}: shape mismatch for {key}: file {tuple(value.shape)}, "
                             f"model {tuple(own[key].shape)}")
    missing = sorted(set(own) - set(state))
    bad = [k for k in missing if ".context." not in k and k not in head]
    if bad:
        raise ValueError(f"{where}: {len(bad)} model key(s) missing from the file, e.g. {bad[:5]}")
    model.load_state_dict(state, strict=False)
    kept.extend(missing)
    (say or log.info)(f"{where}: a {fmt} checkpoint, {len(state)} tensors mapped; {describe_kept(kept)}")
    return kept


def describe_kept(kept: list[str]) -> str:
    """What a load left at its initialisation, in a few words: the inserted blocks (counted) and
    the first few other keys (a head of another class count)."""
    if not kept:
        return "nothing left at its initialisation"
    blocks = sorted({k.split(".context.")[0] for k in kept if ".context." in k})
    others = [k for k in kept if ".context." not in k]
    if not blocks:
        return f"{len(kept)} at their initialisation ({', '.join(others[:4])})"
    return (f"{len(kept)} at their initialisation ({len(blocks)} inserted .context. blocks"
            + (f", and {', '.join(others[:4])}" if others else "") + ")")


def check_non_local_pooling(model: nn.Module, pooled_input: bool, where: str) -> None:
    """Weights of non-local blocks trained pooling x before their phi/g convs (PySlowFast's)
    compute another function in blocks that pool after them (gcvideo's default, mmcv's): refused
    in one line saying the option that builds the matching blocks."""
    from ..layers.non_local import NonLocal3d

    blocks = [m for m in model.modules() if isinstance(m, NonLocal3d)]
    if pooled_input and any(not m.pool_input for m in blocks):
        raise ValueError(f"{where}: its non-local blocks pool x before their phi/g convs (PySlowFast's "
                         "convention); this model's pool after them: build it with pool_input=True "
                         "(--model.blocks.pool_input true), and instantiation as the file's config says "
                         "(PySlowFast's default is dot_product: --model.blocks.instantiation dot_product)")


# torchvision 2D ResNet names -> pytorchvideo (gcvideo slow_resnet) names.
_STEM = {"conv1": "blocks.0.conv", "bn1": "blocks.0.norm"}
_BRANCH = {"conv1": "branch2.conv_a", "bn1": "branch2.norm_a", "conv2": "branch2.conv_b",
           "bn2": "branch2.norm_b", "conv3": "branch2.conv_c", "bn3": "branch2.norm_c",
           "downsample.0": "branch1_conv", "downsample.1": "branch1_norm"}


def _rename_2d(key: str) -> str:
    """``layer2.0.bn1.weight`` -> ``blocks.2.res_blocks.0.branch2.norm_a.weight``."""
    module, _, param = key.rpartition(".")
    if module in _STEM:
        return f"{_STEM[module]}.{param}"
    parts = module.split(".")
    if parts[0].startswith("layer") and len(parts) >= 3:
        sub = ".".join(parts[2:])
        if sub in _BRANCH:
            return f"blocks.{parts[0][5:]}.res_blocks.{parts[1]}.{_BRANCH[sub]}.{param}"
    raise KeyError(key)


def inflate_weight(weight_2d: torch.Tensor, time: int, mode: str = "center") -> torch.Tensor:
    """(O, I, kh, kw) -> (O, I, time, kh, kw).

    ``center``: the 2D kernel in the centre frame, zeros elsewhere (a 3D conv then
    sees exactly the centre frame). ``mean``: the kernel copied to every frame and
    divided by ``time`` (on a clip of identical frames, outputs equal the 2D conv's).
    """
    if mode == "center":
        out = weight_2d.new_zeros(*weight_2d.shape[:2], time, *weight_2d.shape[2:])
        out[:, :, time // 2] = weight_2d
        return out
    if mode == "mean":
        return weight_2d.unsqueeze(2).repeat(1, 1, time, 1, 1) / time
    raise ValueError(f"inflation mode must be 'center' or 'mean', got {mode!r}")


def inflate_resnet2d(state_2d: Mapping[str, torch.Tensor], model: nn.Module,
                     mode: str = "center") -> StateDict:
    """Map a torchvision 2D ResNet-50 state_dict onto ``model``'s 3D backbone.

    The 2D classifier (``fc``) is dropped: the video head keeps its initialisation.
    BN statistics and affine parameters are copied as they are.
    """
    own = model.state_dict()
    out = {}
    for key, value in state_2d.items():
        if key.startswith("fc.") or key.endswith("num_batches_tracked"):
            continue
        try:
            name = _rename_2d(key)
        except KeyError:
            raise ValueError(f"unexpected key {key!r} for a torchvision ResNet state_dict") from None
        if name not in own:
            raise ValueError(f"2D key {key!r} maps to {name!r}, which the model does not have "
                             "(is it a ResNet-50 of the same depth and width?)")
        target = own[name].shape
        if value.dim() == 4:
            value = inflate_weight(value, target[2], mode)
        if value.shape != target:
            raise ValueError(f"2D key {key!r} -> {name!r}: shape {tuple(value.shape)} does not fit "
                             f"the model's {tuple(target)}")
        out[name] = value
    return out


def load_inflated(model: nn.Module, path: Union[str, os.PathLike], mode: str = "center") -> list[str]:
    """Initialise ``model``'s backbone from a local torchvision ResNet-50 2D checkpoint.

    Returns the keys left at their initialisation (head, inserted blocks, BN counters).
    """
    state = inflate_resnet2d(read_state_dict(path), model, mode)
    missing, _ = model.load_state_dict(state, strict=False)
    return list(missing)
