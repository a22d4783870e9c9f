import pytest
import torch
from torch import nn

from gcvideo import create_model
from gcvideo.models.catalog import MODELS
from gcvideo.models.cost import count_flops, count_params
from gcvideo.tools.timing import interleaved_latency, latency_ratio

from helpers import TINY


@pytest.fixture(scope="module")
def costs():
    """The catalog's figures at 8x224^2: test_models_registry counts every network again and compares."""
    names = ["slow_r50", "slow_r50_gc", "slow_r50_gc5", "slow_r50_snl5", "slow_r50_nl5", "slow_r50_se"]
    return {n: {"params": MODELS[n].params, "flops": MODELS[n].flops, "gflops": MODELS[n].flops / 1e9} for n in names}


def test_baseline_matches_the_paper(costs):
    assert costs["slow_r50"]["params"] == 32_454_096          # 32.45 M
    assert round(costs["slow_r50"]["gflops"], 1) == 41.9       # 41.9 GFLOPs at 8x224^2


def test_gc_is_cheap_and_nl_is_not(costs):
    base = costs["slow_r50"]["flops"]
    extra = {n: c["flops"] / base - 1 for n, c in costs.items()}
    assert 0 < extra["slow_r50_gc"] < 0.0026                   # paper: < 0.26 % extra FLOPs
    assert 0 < extra["slow_r50_gc5"] < extra["slow_r50_gc"]
    assert extra["slow_r50_snl5"] < 0.001
    assert extra["slow_r50_nl5"] > 0.5                         # NL's Np x Np affinity


def test_gc_parameter_count_is_the_formula():
    # Per block: Wk (C, no bias) + conv C->C/r (+bias) + LN (2 C/r) + conv C/r->C (+bias).
    model = create_model("slow_r50_gc")
    per_stage = {512: 4, 1024: 6, 2048: 3}
    expected = sum(n * (c + (c * (c // 16) + c // 16) + 2 * (c // 16) + (c // 16 * c + c))
                   for c, n in per_stage.items())
    assert count_params(model) - count_params(create_model("slow_r50")) == expected


def test_flops_scale_with_clip_size():
    m = create_model("slow_r50", **TINY)
    assert count_flops(m, frames=8, size=64) == pytest.approx(2 * count_flops(m, frames=4, size=64), rel=0.01)


def test_gc_flops_are_the_blocks_as_defined_not_as_folded(costs):
    # Per block on a C-channel, P-position input: key C*P + weighted sum C*P + transform 2*C*C/r
    # + LayerNorm 5*C/r (fvcore's norm rule); bias adds, softmax and the fusion add are not counted.
    # In eval mode the blocks are folded into conv + BN (fewer multiply-adds); the paper's
    # cost is the block's, which count_flops must report.
    stages = {512: (4, 8 * 28 * 28), 1024: (6, 8 * 14 * 14), 2048: (3, 8 * 7 * 7)}
    expected = sum(n * (2 * c * p + 2 * c * (c // 16) + 5 * (c // 16)) for c, (n, p) in stages.items())
    assert costs["slow_r50_gc"]["flops"] - costs["slow_r50"]["flops"] == expected


def test_interleaved_latency_shuffles_rounds_and_ratios_are_paired():
    calls = []

    class Probe(nn.Module):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def forward(self, x):
            calls.append(self.name)
            return x

    models = {n: Probe(n) for n in "abcd"}
    times = interleaved_latency(models, torch.zeros(1), rounds=8, groups=[["a", "b"]])
    assert all(len(t) == 8 for t in times.values())
    rounds = [calls[i:i + 4] for i in range(4, len(calls), 4)]           # after the warm-up
    assert all(sorted(r) == ["a", "b", "c", "d"] for r in rounds) and len(set(map(tuple, rounds))) > 1
    assert all(abs(r.index("a") - r.index("b")) == 1 for r in rounds)    # a group runs back to back
    # a machine slow in rounds 3-4 slows both models: the paired ratio ignores it, medians do not
    base, variant = [1.0, 1.0, 3.0, 3.0, 1.0], [1.1, 1.1, 3.3, 3.3, 3.3]
    assert latency_ratio(variant, base) == pytest.approx(1.1)
