"""Test helpers shared by the test modules (one place; conftest.py only holds fixtures) and
test-only Lightning callbacks, importable by class_path from CLI runs."""
import json
import os

import pytorch_lightning as pl
import torch
from torch import nn


class RecordIndices(pl.Callback):
    """Write the video indices each rank trained on to ``<root>/indices_rank<r>.json``."""

    def __init__(self) -> None:
        self.seen = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.seen.extend(int(i) for i in batch["index"])

    def on_train_end(self, trainer, module) -> None:
        path = os.path.join(trainer.default_root_dir, f"indices_rank{trainer.global_rank}.json")
        with open(path, "w") as f:
            json.dump({"rank": trainer.global_rank, "world": trainer.world_size, "seen": self.seen}, f)


def ddp_fit(args: list, run) -> tuple:
    """``gcvideo fit ARGS`` in a subprocess as two CPU DDP ranks (3 clips per step: 12 videos = 2 ranks x
    2 steps x 3), recording each rank's video indices; returns (the finished process, [rank 0's, rank 1's
    indices as sets])."""
    import subprocess
    import sys

    args = list(args)
    args[args.index("--trainer.devices") + 1] = "2"
    args[args.index("--data.batch_size") + 1] = "3"
    cmd = [sys.executable, "-m", "gcvideo.cli", "fit", *args, "--trainer.strategy", "ddp",
           "--trainer.callbacks+=helpers.RecordIndices"]
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.load(open(os.path.join(run, f"indices_rank{r}.json"))) for r in range(2)]
    assert [r["world"] for r in ranks] == [2, 2]
    return done, [set(r["seen"]) for r in ranks]


TINY = dict(depths=(1, 4, 6, 1), width=8)  # small, but deep enough for the 5 NL positions


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN non-trivial statistics and affine parameters, as in a trained net
    (fresh ResNets zero the last BN of each branch, which would hide real bugs).
    Context blocks keep their own init."""
    g = torch.Generator().manual_seed(seed)
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._NormBase) and ".context" not in name:
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def perturb(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random values in every parameter (a block 'after training')."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module


def assert_every_parameter_learns(block: nn.Module, clip: torch.Tensor) -> None:
    """Two SGD steps (the first moves zero-initialised layers), then every parameter has a
    non-zero gradient: no parameter is dead or detached."""
    opt = torch.optim.SGD(block.parameters(), lr=0.1)
    target = torch.randn(clip.shape, generator=torch.Generator().manual_seed(2))
    for _ in range(2):
        opt.zero_grad()
        (block(clip) - target).pow(2).mean().backward()
        opt.step()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def tiny_args(root, run_dir, epochs=2, model="slow_r50_gc", extra=()):
    return ["--trainer.default_root_dir", str(run_dir), "--trainer.max_epochs", str(epochs),
            "--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.enable_progress_bar", "false",
            "--trainer.log_every_n_steps", "1", "--trainer.num_sanity_val_steps", "0",
            "--model.model", model, "--model.backbone", '{"depths": [1, 1, 1, 1], "width": 4}',
            "--model.warmup_epochs", "0.5", "--model.lr", "0.1",
            "--data.root", root, "--data.num_frames", "4", "--data.sampling_rate", "2",
            "--data.train_short_side", "[32, 40]", "--data.crop_size", "32", "--data.eval_short_side", "32",
            "--data.batch_size", "4", "--data.num_workers", "0", *extra]


class TerminateAt(pl.Callback):
    """Send this process SIGTERM (what SLURM and Kubernetes send on pre-emption) at the first
    training batch of ``epoch``, or at the first test batch."""

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch

    def _terminate(self) -> None:
        import signal

        os.kill(os.getpid(), signal.SIGTERM)

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        if trainer.current_epoch == self.epoch and batch_idx == 0:
            self._terminate()

    def on_test_batch_start(self, trainer, module, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0:
            self._terminate()


class TerminateGroupAt(pl.Callback):
    """SIGTERM to this process's whole process group (what SLURM's scancel and ``kill -TERM -- -PGID``
    send: the DataLoader workers get it too) as epoch ``epoch`` starts, then a pause in which the
    signal reaches every process before the epoch's first batch is fetched. Run it in a process
    that leads its own group."""

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module) -> None:
        import signal
        import time

        if trainer.current_epoch == self.epoch:
            os.killpg(os.getpgid(0), signal.SIGTERM)
            time.sleep(1.0)


class PoisonAt(pl.Callback):
    """Put a NaN into the classifier's weights at the start of ``epoch`` (a run that diverges)."""

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module) -> None:
        if trainer.current_epoch == self.epoch:
            linear = [m for m in module.modules() if isinstance(m, nn.Linear)][-1]
            with torch.no_grad():
                linear.weight[0, 0] = float("nan")


class PoisonBufferAtEnd(pl.Callback):
    """After the last training batch of epoch 0, an infinite BatchNorm running variance: the
    training loss of every step was finite and the evaluation output stays finite (x / sqrt(inf)
    is 0), but the weights a checkpoint would hold are not."""

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if trainer.current_epoch == 0 and trainer.is_last_batch:
            norm = next(m for m in module.modules() if isinstance(m, nn.BatchNorm3d))
            norm.running_var[0] = float("inf")


def latest_metrics(root: str):
    """Path of the newest run's ``metrics.csv`` under ``root`` (None if there is none)."""
    from gcvideo.engine.report import run_versions

    versions = run_versions(root)
    path = os.path.join(versions[-1], "metrics.csv") if versions else None
    return path if path and os.path.exists(path) else None


class CountHostSyncs(pl.Callback):
    """Count ``aten._local_scalar_dense`` (a host read of a device value: ``.item()``, ``bool(t)``,
    ``int(t)``) inside every training step, optimizer step included: ``self.syncs[step]``."""

    def __init__(self) -> None:
        from torch.utils._python_dispatch import TorchDispatchMode

        counter = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                if func.overloadpacket.__name__ == "_local_scalar_dense":
                    counter.syncs[counter.step] = counter.syncs.get(counter.step, 0) + 1
                return func(*args, **(kwargs or {}))

        self.mode_class, self.mode, self.syncs, self.step = Mode, None, {}, 0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.step = trainer.global_step
        self.syncs.setdefault(self.step, 0)
        self.mode = self.mode_class()
        self.mode.__enter__()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.mode.__exit__(None, None, None)


def mmaction_modules(*names: str):
    """mmaction2's modules ``mmaction.<name>`` (e.g. ``models.backbones.resnet3d``), imported without
    running its packages' ``__init__`` (which asserts mmcv < 2.2 and imports a missing
    ``localizers.drn``): the parent packages are registered as plain packages on its folders.
    Skips the test when mmaction2 is not installed (`make test` installs it)."""
    import importlib
    import importlib.machinery
    import importlib.util
    import os
    import sys
    import types

    import pytest

    if "mmaction" in sys.modules:
        root = sys.modules["mmaction"].__path__[0]
    else:
        found = importlib.util.find_spec("mmaction")
        if found is None:
            pytest.skip("mmaction2 is not installed (`make test` installs it)")
        root = os.path.dirname(found.origin)
    for name in names:
        parts = f"mmaction.{name}".split(".")
        for depth in range(1, len(parts)):
            package = ".".join(parts[:depth])
            if package not in sys.modules:
                module = types.ModuleType(package)
                module.__path__ = [os.path.join(root, *parts[1:depth])]
                module.__spec__ = importlib.machinery.ModuleSpec(package, None, is_package=True)
                module.__spec__.submodule_search_locations = module.__path__
                sys.modules[package] = module
    return [importlib.import_module(f"mmaction.{name}") for name in names]
