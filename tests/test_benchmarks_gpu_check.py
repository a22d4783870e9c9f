"""benchmarks/gpu_check.py: its CPU version runs every step of the GPU check (CI executes
the same code as a CUDA machine, at toy sizes) and records what the GPU run will report."""
import csv
import importlib.util
import json
import os

import pytest
import torch

from gcvideo.models import fold_context_blocks
from gcvideo.models import create_model

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "gpu_check.py")


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_randomize_makes_folding_and_every_branch_count(gpu_check):
    torch.manual_seed(0)
    net = create_model("slow_r50_gc", depths=(1, 1, 1, 1), width=8, num_classes=5).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        plain = net(x)
        assert torch.equal(fold_context_blocks(net)(x), plain)   # at init GC blocks are identities: exact
        gpu_check.randomize(net)
        folded = fold_context_blocks(net)(x)
        reference = net(x)
    assert not torch.allclose(folded, plain, atol=1e-3)            # the blocks act now
    torch.testing.assert_close(folded, reference, rtol=1e-5, atol=1e-5)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert all(m.weight.abs().min() > 0 for m in norms)             # no zero BN scale left


def test_cpu_version_runs_every_step(gpu_check, tmp_path):
    out = tmp_path / "gpu_check.json"
    code = gpu_check.main(["--tiny", "--out", str(out), "--work", str(tmp_path / "work")])
    results = json.loads(out.read_text())
    errors = {k: s["error"] for k, s in results["steps"].items() if "error" in s}
    assert code == 0 and not errors, errors
    steps = results["steps"]
    assert list(steps) == list(gpu_check.STEPS)

    train = steps["train"]["models"]
    assert list(train) == list(gpu_check.TRAIN_MODELS)
    assert train["slow_r50"]["vs_slow_r50"] == 1.0
    assert all(row["clips_per_s"] > 0 for row in train.values())

    compiled = steps["compile"]
    # the tiny budget compiles the first models and skips the rest with a reason
    assert "slow_r50" in compiled["models"] and compiled["models"]["slow_r50"]["compile_s"] > 0
    assert set(compiled["models"]) | set(compiled["skipped"]) == set(gpu_check.TRAIN_MODELS)
    assert all("budget" in why for why in compiled["skipped"].values())

    infer = steps["infer"]
    assert set(infer["timing"]) == {"folded", "unfolded", "bypassed"}
    assert infer["timing"]["bypassed"]["vs_bypassed"] == 1.0
    diffs = infer["numerics_vs_fp32_unfolded"]
    assert diffs["fp32 folded"]["relative"] < 1e-5                   # folding: same function
    assert 0 < diffs["bf16 autocast folded"]["relative"] < 0.05     # low precision: close, not equal

    fit = steps["fit"]
    run = tmp_path / "work" / "fit"
    assert fit["epochs_after_resume"] == 3                           # 2 epochs, then resumed to 3
    with open(run / "test_10x3" / "predictions.csv") as f:
        assert len(list(csv.DictReader(f))) == fit["test_videos"] > 0
    steps_per_epoch = fit["global_step"] // 3
    assert steps_per_epoch > 0 and fit["global_step"] == 3 * steps_per_epoch

    data = steps["data"]
    assert data["clips_per_s"] > 0 and data["workers"] == os.cpu_count()
    assert data["data_over_training"] == pytest.approx(data["clips_per_s"] / train["slow_r50_gc"]["clips_per_s"])
    assert {"pyav", "decord", "pyav, 2 clips per video"} <= set(data["backends"])
    assert data["backends"]["pyav"]["clips_per_s"] == data["clips_per_s"]
    assert "torchcodec-cuda" in data["left_out"] or "torchcodec-cuda" in data["backends"]

    memory = steps["memory"]["models"]                               # activation checkpointing: same step, timed
    assert set(memory) == {"without", "activation checkpointing"} and all(r["step_ms"] > 0 for r in memory.values())
    profiled = steps["profile"]["models"]
    assert set(profiled) == {"slow_r50", "slow_r50_gc"}
    assert profiled["slow_r50_gc"]["ops_per_step"] > profiled["slow_r50"]["ops_per_step"] > 0   # GC adds ops
    assert "aten::" in steps["profile"]["top_ops_slow_r50_gc"]
    decoded = steps["decode"]["backends"]
    assert decoded["pyav"]["vs_pyav"] == 1.0 and decoded["decord"]["clips_per_s"] > 0
    table = gpu_check.table(results)
    assert "slow_r50_gc" in table and "FAILED" not in table
