"""gcvideo: Global Context (GCNet) blocks for video action recognition.

The package has five levels, each importing only the ones before it:

* ``gcvideo.layers``  the blocks (GC, SNL, NL, SE) and their pieces; pure PyTorch
* ``gcvideo.data``    Kinetics-format lists, decoding, clip sampling, transforms
* ``gcvideo.models``  registry, Slow-only ResNets with blocks built in, insertion into
                      other networks, the folded inference form, weights, costs
* ``gcvideo.engine``  Lightning: the training module, schedule, callbacks, reports, CLI
* ``gcvideo.tools``   one module per command (predict, export, demo, ...); ``gcvideo.cli``
"""
import importlib


class GcvideoDeprecationWarning(DeprecationWarning):
    """The category of every deprecation gcvideo itself announces (the tests turn it into an
    error, so nothing in gcvideo uses a deprecated gcvideo path)."""


_FROM_LAYERS = ("GlobalContext3d", "NonLocal3d", "SimplifiedNonLocal3d", "SqueezeExcite3d", "make_block")
_FROM_MODELS = ("create_model", "fold_context_blocks", "insert_blocks", "list_models")


def __getattr__(name: str):
    # loaded on first use: the command line starts without torch (``gcvideo --help``), and the
    # layers work with torch alone (models need pytorchvideo)
    if name in _FROM_LAYERS:
        return getattr(importlib.import_module(".layers", __name__), name)
    if name in _FROM_MODELS:
        return getattr(importlib.import_module(".models", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

__all__ = ["GcvideoDeprecationWarning", "GlobalContext3d", "SimplifiedNonLocal3d", "NonLocal3d", "SqueezeExcite3d",
           "make_block", "insert_blocks", "create_model", "list_models", "fold_context_blocks"]
__version__ = "0.3.0"
