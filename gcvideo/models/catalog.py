"""The registered models as data: names, one-line descriptions, families, recipe clips and the
differences from each family's plain network. Importing it needs neither torch nor pytorchvideo, so
``gcvideo models`` lists them at once; :mod:`gcvideo.models.registry` builds them.
"""
from typing import Any, NamedTuple

# The 5 Non-local positions of the NL paper's video models (SlowFast SLOW_NLN_8x8_R50):
# after residual blocks 1, 3 of res3 and 1, 3, 5 of res4 (0-indexed).
NL5_POSITIONS = {"c3": (1, 3), "c4": (1, 3, 5)}
ALL_C3_C5 = ("c3", "c4", "c5")


class ModelEntry(NamedTuple):
    description: str
    spec: dict[str, Any]
    family: str = "slow"                  # "slow" (slow_resnet) or a key of families.BUILDERS
    clip: tuple[int, int] = (8, 224)      # frames x crop of its recipe's training clip
    baseline: str = "slow_r50"            # the plain network of its family, for cost deltas
    params: int = 0                       # parameters, and FLOPs (multiply-adds, fvcore) of one forward
    flops: int = 0                        # of its recipe clip: see RECIPE_COSTS


MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, description: str, family: str = "slow", clip: tuple[int, int] = (8, 224),
                   baseline: str = "slow_r50", **spec) -> None:
    """Add ``name`` to the registry: ``spec`` holds its differences from its family's plain network."""
    if name in MODELS:
        raise ValueError(f"model {name!r} is already registered")
    MODELS[name] = ModelEntry(description, spec, family, tuple(clip), baseline)


register_model("slow_r50", "Slow-only ResNet-50, 8x8 (SlowFast paper), the baseline")
register_model("slow_r50_gc", "+ GC in every bottleneck of c3-c5, after the last 1x1 conv+BN (+all GC)",
               block="gc", where=ALL_C3_C5, position="after_1x1")
register_model("slow_r50_gc5", "+ 5 GC blocks at the NL positions (res3 [1,3], res4 [1,3,5])",
               block="gc", where=NL5_POSITIONS, position="after_add")
register_model("slow_r50_snl5", "+ 5 simplified NL blocks at the NL positions",
               block="snl", where=NL5_POSITIONS, position="after_add")
register_model("slow_r50_nl5", "+ 5 non-local blocks (embedded Gaussian) at the NL positions; keys/values pooled "
               "after phi/g as mmcv's NL (pool_input=True: before them, PySlowFast's weights)",
               block="nl", where=NL5_POSITIONS, position="after_add")
register_model("slow_r50_se", "+ SE in every bottleneck of c3-c5",
               block="se", where=ALL_C3_C5, position="after_1x1")

# Other networks (SlowFast's configs/Kinetics recipes), GC by insert_blocks' rule for each family
_SLOWFAST = dict(family="slowfast", clip=(32, 224), baseline="slowfast_r50")
register_model("slowfast_r50", "SlowFast R50 8x8 (alpha 4, beta 1/8; 32 frames in, 8 in the slow pathway)",
               **_SLOWFAST)
register_model("slowfast_r50_gc", "+ GC in every bottleneck of c3-c5 of both pathways, after the last 1x1 conv+BN",
               block="gc", where=ALL_C3_C5, position="after_1x1", **_SLOWFAST)
_X3D = dict(family="x3d", clip=(16, 224), baseline="x3d_m")
register_model("x3d_m", "X3D-M (16x224, width x2, depth x2.2; SE in alternate blocks)", size="m", **_X3D)
register_model("x3d_m_gc", "+ GC in every bottleneck of c3-c5, after the last 1x1 conv+BN (behind X3D's SE)",
               size="m", block="gc", where=ALL_C3_C5, position="after_1x1", **_X3D)
_I3D = dict(family="i3d", clip=(8, 224), baseline="i3d_r50")
register_model("i3d_r50", "I3D R50 8x8 (5x7x7 stem, 3x1x1 convs in alternate blocks)", **_I3D)
register_model("i3d_r50_gc", "+ GC in every bottleneck of c3-c5, after the last 1x1 conv+BN",
               block="gc", where=ALL_C3_C5, position="after_1x1", **_I3D)

# torchvision's video networks (its KINETICS400_V1 weights load as they are), GC by insert_blocks' rule
_TORCHVISION = dict(family="torchvision", clip=(16, 112))
for _arch, _what in (("r3d_18", "R3D-18 (3D ResNet-18)"), ("mc3_18", "MC3-18 (mixed 3D/2D convolutions)"),
                     ("r2plus1d_18", "R(2+1)D-18 (factorised convolutions)")):
    register_model(_arch, f"torchvision's {_what}, 16x112; its Kinetics weights load as they are",
                   arch=_arch, baseline=_arch, **_TORCHVISION)
    register_model(f"{_arch}_gc", "+ GC in every residual block of c3-c5, after its last conv+BN",
                   arch=_arch, baseline=_arch, block="gc", where=ALL_C3_C5, **_TORCHVISION)
register_model("s3d", "torchvision's S3D (separable inception), 16x224; its Kinetics weights load as they are",
               family="torchvision", clip=(16, 224), baseline="s3d", arch="s3d")
register_model("s3d_gc", "+ GC on the output of every inception block of c3-c5",
               family="torchvision", clip=(16, 224), baseline="s3d", arch="s3d", block="gc", where=ALL_C3_C5)


# Parameters and FLOPs (multiply-adds, fvcore) of one forward of each model's recipe clip, as counted by
# gcvideo.models.cost (torchvision keeps such figures beside its weights, `_ops`). `gcvideo info MODEL`
# reads them without importing torch; tests/test_models_catalog.py counts every network again and
# compares, so a change of a network that moves its cost fails there until this table is updated.
RECIPE_COSTS: dict[str, tuple[int, int]] = {
    "slow_r50": (32_454_096, 41_918_652_416),
    "slow_r50_gc": (34_975_824, 41_970_921_856),
    "slow_r50_gc5": (32_921_808, 41_941_591_296),
    "slow_r50_snl5": (36_132_304, 41_944_801_280),
    "slow_r50_nl5": (39_812_560, 70_341_550_080),
    "slow_r50_se": (34_959_696, 41_921_142_784),
    "slowfast_r50": (34_566_488, 50_581_741_568),
    "slowfast_r50_gc": (37_131_048, 50_658_937_776),
    "x3d_m": (3_794_274, 4_896_243_200),
    "x3d_m_gc": (3_846_417, 4_911_042_137),
    "i3d_r50": (28_043_472, 28_538_318_848),
    "i3d_r50_gc": (30_565_200, 28_565_700_992),
    "r3d_18": (33_371_472, 40_739_203_072),
    "r3d_18_gc": (33_461_408, 40_743_504_432),
    "mc3_18": (11_695_440, 43_402_846_208),
    "mc3_18_gc": (11_785_376, 43_414_172_208),
    "r2plus1d_18": (31_505_325, 40_644_893_164),
    "r2plus1d_18_gc": (31_595_261, 40_649_194_524),
    "s3d": (8_320_048, 18_067_040_448),
    "s3d_gc": (8_806_325, 18_081_653_523),
}
for _name, (_params, _flops) in RECIPE_COSTS.items():
    MODELS[_name] = MODELS[_name]._replace(params=_params, flops=_flops)


def list_models() -> dict[str, str]:
    """Registered model names with a one-line description."""
    return {name: entry.description for name, entry in MODELS.items()}
