"""Networks: the model registry, Slow-only ResNets with context blocks built in, block
insertion into other networks, the folded inference form, weights and costs.

Builds on ``gcvideo.layers`` and pytorchvideo; never imports the engine or tools. Names load on
first use (PEP 562): the registered models' table (:mod:`.catalog`) needs neither torch nor
pytorchvideo, so listing it (``gcvideo models``) starts at once.
"""
import importlib
import warnings

_EXPORTS = {"fold_context_blocks": "fold", "insert_blocks": "insert", "bypass_blocks": "insert",
            "BackboneOptions": "options", "BlockOptions": "options",
            "ALL_C3_C5": "catalog", "MODELS": "catalog", "NL5_POSITIONS": "catalog", "list_models": "catalog",
            "register_model": "catalog", "create_model": "registry", "model_spec": "registry",
            "slow_resnet": "slow", "channels_last_3d": "slow",
            "forward_features": "features", "feature_layers": "features", "FEATURE_LAYERS": "features"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _EXPORTS[name] != "catalog":
        quiet_fvcore()
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def quiet_fvcore() -> None:
    """Import fvcore (pytorchvideo imports it, and FLOP counts use it) with its import-time
    ``torch.jit.script`` FutureWarning silenced: torch 2.14's deprecation, not the user's to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated", category=FutureWarning)
        import fvcore.nn  # noqa: F401
