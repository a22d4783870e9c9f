"""``model.compile``: torch.compile inside the LightningModule, graph-break-free networks."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gcvideo.cli import main
from gcvideo.models import MODELS, create_model
from helpers import TINY, tiny_args

# every registered family with its blocks; small where the family allows it
FAMILIES = {"slow_r50": TINY, "slow_r50_gc": TINY, "slow_r50_nl5": TINY, "slow_r50_snl5": TINY, "slow_r50_se": TINY,
            "slowfast_r50_gc": {}, "x3d_m_gc": {}, "i3d_r50_gc": {}}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_training_step_traces_as_one_graph(name):
    """Forward + loss compile with ``fullgraph=True`` (a graph break is an error), and the
    backward runs through the compiled graph."""
    torch._dynamo.reset()
    model = create_model(name, num_classes=3, **FAMILIES[name])
    x = torch.randn(2, 3, 16 if name.startswith("slowfast") else 8, 32, 32)
    labels = torch.tensor([0, 2])
    step = torch.compile(lambda clip: F.cross_entropy(model(clip), labels), fullgraph=True, backend="eager")
    loss = step(x)
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_layer_hyperparameters_are_python_ints():
    """pytorchvideo computes some strides with numpy; torch.compile turns an np.int64 into a tensor
    that inductor reads back on the host (a graph break at every shortcut conv on the GPU)."""
    for name in MODELS:
        model = create_model(name, num_classes=3, **(TINY if name.startswith("slow_") else {}))
        for module_name, module in model.named_modules():
            for attr in ("kernel_size", "stride", "padding", "dilation"):
                value = getattr(module, attr, None)
                values = value if isinstance(value, tuple) else (value,)
                assert not any(isinstance(v, np.integer) for v in values), (name, module_name, attr, value)


def test_compiled_fit_keeps_plain_checkpoints_and_matches_eager(synth_root, tmp_path):
    """A demo-sized fit with ``--model.compile true`` (inductor on the CPU) saves the network's own
    keys; the 1x1 test of that checkpoint compiled and eager give the same scores (fp32 tolerance)."""
    import csv

    from torch._dynamo.utils import counters

    from gcvideo.engine.checkpoint import read_checkpoint

    run = tmp_path / "run"
    args = tiny_args(synth_root, run, epochs=1, extra=("--trainer.limit_train_batches", "2",
                                                        "--data.test_views", "1x1"))
    assert main(["fit", *args, "--model.compile", "true", "--trainer.limit_val_batches", "0"]) == 0
    last = str(run / "checkpoints" / "last.ckpt")
    checkpoint = read_checkpoint(last)
    assert not any("_orig_mod" in k for k in checkpoint["state_dict"])
    assert checkpoint["hyper_parameters"]["compile"] is True
    scores = {}
    for compiled in ("true", "false"):
        counters.clear()
        assert main(["test", *args, "--ckpt_path", last, "--model.compile", compiled]) == 0
        assert (counters["stats"]["unique_graphs"] > 0) == (compiled == "true"), dict(counters["stats"])
        with open(run / "test_1x1" / "predictions.csv", newline="") as f:
            scores[compiled] = {r["video_id"]: float(r["score1"]) for r in csv.DictReader(f)}
    assert scores["true"].keys() == scores["false"].keys() and scores["true"]
    assert all(abs(scores["true"][v] - scores["false"][v]) < 1e-4 for v in scores["true"])
    # the compiled run's checkpoint serves the tools that load it (uncompiled: compile is how a run executes)
    assert main(["export", "--ckpt_path", last, "--format", "torchscript", "--out", str(tmp_path / "net.pt")]) == 0
