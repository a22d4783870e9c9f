"""``make_block``: build a context block by name, so networks take a block *type*."""
import inspect
from typing import Literal, get_args

from torch import nn

from .global_context import GlobalContext3d
from .non_local import NonLocal3d
from .simplified_non_local import SimplifiedNonLocal3d
from .squeeze_excite import SqueezeExcite3d

BlockKind = Literal["gc", "snl", "nl", "se"]
BLOCKS: dict[str, type[nn.Module]] = dict(zip(get_args(BlockKind), (
    GlobalContext3d, SimplifiedNonLocal3d, NonLocal3d, SqueezeExcite3d)))


def block_options(kind: str) -> dict[str, object]:
    """The keyword options of block ``kind`` with their defaults."""
    params = inspect.signature(_block_class(kind)).parameters
    return {k: p.default for k, p in params.items() if k != "channels"}


def _block_class(kind: str) -> type[nn.Module]:
    try:
        return BLOCKS[kind]
    except KeyError:
        raise ValueError(f"unknown block kind {kind!r}; choose one of {sorted(BLOCKS)}") from None


def make_block(kind: str, channels: int, **options) -> nn.Module:
    """``make_block("gc", 256, reduction=8)`` -> ``GlobalContext3d(256, reduction=8)``.

    Options a block does not take are an error naming the option and the valid ones.
    """
    cls = _block_class(kind)
    unknown = set(options) - set(block_options(kind))
    if unknown:
        raise ValueError(f"option(s) {sorted(unknown)} do not apply to block {kind!r} "
                         f"({cls.__name__}); its options are {sorted(block_options(kind))}")
    return cls(channels, **options)
