"""Old flat module paths (gcvideo <= 0.1) keep importing, with a DeprecationWarning.

``import gcvideo.insert`` gives a module with the names of ``gcvideo.models.insert``;
these aliases go away in the next release.
"""
import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "gcvideo.blocks": "gcvideo.layers.factory",
    "gcvideo.pointwise": "gcvideo.layers.pointwise",
    "gcvideo.global_context": "gcvideo.layers.global_context",
    "gcvideo.non_local": "gcvideo.layers.non_local",
    "gcvideo.simplified_non_local": "gcvideo.layers.simplified_non_local",
    "gcvideo.squeeze_excite": "gcvideo.layers.squeeze_excite",
    "gcvideo.bottleneck": "gcvideo.models.bottleneck",
    "gcvideo.insert": "gcvideo.models.insert",
    "gcvideo.weights": "gcvideo.models.weights",
    "gcvideo.cost": "gcvideo.models.cost",
    "gcvideo.classifier": "gcvideo.engine.module",
    "gcvideo.schedule": "gcvideo.engine.schedule",
    "gcvideo.callbacks": "gcvideo.engine.callbacks",
    "gcvideo.report": "gcvideo.engine.report",
    "gcvideo.train": "gcvideo.engine.cli",
    "gcvideo.predict": "gcvideo.tools.predict",
    "gcvideo.export": "gcvideo.tools.export",
    "gcvideo.demo": "gcvideo.tools.demo",
    "gcvideo.ablate": "gcvideo.tools.ablate",
    "gcvideo.analysis": "gcvideo.tools.analysis",
    "gcvideo.costs_report": "gcvideo.tools.costs",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec):
        return None                                   # a fresh module object, filled below

    def exec_module(self, module) -> None:
        new = MOVED[module.__name__]
        warnings.warn(f"{module.__name__} moved to {new}; the old path goes away in the next release",
                      DeprecationWarning, stacklevel=2)
        target = importlib.import_module(new)
        module.__dict__.update({k: v for k, v in vars(target).items()
                                if not k.startswith("__") or k in ("__doc__", "__all__")})


def install() -> None:
    if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
        sys.meta_path.append(_MovedModules())
