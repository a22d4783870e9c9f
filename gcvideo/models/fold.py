"""``fold_context_blocks``: the explicit inference form of a network with GC blocks.

Like timm's ``reparameterize_model``: a function converts a trained network for
inference and returns it; modules never switch paths on their own. Each GC block that
follows a 1x1x1 conv + BatchNorm (the paper's position in a bottleneck: after ``conv_c``
+ ``norm_c`` of a pytorchvideo bottleneck, or the last conv + BN of a ``Sequential``)
becomes a ``FoldedGlobalContext3d`` holding that conv, norm and block: same weights,
same outputs (up to float rounding), the block adds no write of its own. GC blocks
elsewhere (``after_add``) and other blocks stay as they are.
"""
import copy


from torch import nn

from ..layers.folded import FoldedGlobalContext3d, can_fold
from .bottleneck import ContextBottleneckBlock


def fold_context_blocks(model: nn.Module, inplace: bool = False) -> nn.Module:
    """The eval-mode, folded form of ``model`` (a copy unless ``inplace``).

    The result is for inference only (a folded block refuses ``.train()``); its
    state_dict keys differ from the unfolded network's, so save and load the unfolded one.

    >>> fast = fold_context_blocks(model)        # model itself is untouched
    >>> logits = fast(clip)                       # == model.eval()(clip)
    """
    model = model if inplace else copy.deepcopy(model)
    model.eval()
    folded_blocks(model)
    return model


def folded_blocks(model: nn.Module) -> list[str]:
    """Fold in place (``model`` in eval mode); the names of the folded hosts."""
    done = []
    for name, host in list(model.named_modules()):
        if isinstance(host, ContextBottleneckBlock) and can_fold(host.context, host.conv_c, host.norm_c):
            host.context = FoldedGlobalContext3d(host.conv_c, host.norm_c, host.context)
            host.conv_c, host.norm_c = nn.Identity(), None
            done.append(name)
        elif isinstance(host, nn.Sequential) and len(host) >= 3 and hasattr(host, "context"):
            keys = [key for key, _ in host.named_children()]
            if keys[-1] == "context" and can_fold(host.context, host[-3], host[-2]):
                conv, norm, block = host[-3], host[-2], host.context
                host.set_submodule(keys[-3], nn.Identity())
                host.set_submodule(keys[-2], nn.Identity())
                host.set_submodule("context", FoldedGlobalContext3d(conv, norm, block))
                done.append(name)
    return done
