"""``gcvideo fit|validate|test|predict``: LightningCLI over VideoClassifier + KineticsDataModule.

Every run writes to ``trainer.default_root_dir`` (default ``runs/default``):
``checkpoints/`` (one per epoch, ``best.ckpt`` by val top-1, ``last.ckpt``),
``csv/version_N/`` (``metrics.csv`` and the resolved ``config.yaml``) and
``tensorboard/version_N/``: a new version per run, so resuming never overwrites logs.
``--ckpt_path last`` resumes from ``checkpoints/last.ckpt`` of that folder; a fresh ``fit`` into a
folder that already holds checkpoints is refused (it would mix two runs' files).
"""
import glob
import os
import sys
from typing import Optional

import torch
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from .callbacks import ModelCost, Throughput
from .checkpoint import AtomicCheckpointIO, check_fits, newest_intact_checkpoint, read_checkpoint
from .module import VideoClassifier
from .report import VideoReports
from ..data.datamodule import KineticsDataModule
from ..data.outputs import check_writable

DEFAULT_ROOT = os.path.join("runs", "default")


class GCVideoCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.link_arguments("data.classes", "model.classes", apply_on="instantiate")
        parser.add_argument("--untrained", type=bool, default=False,
                            help="validate/test: score the network as initialised (or as loaded by "
                                 "model.pretrained) without --ckpt_path; refused otherwise, so a "
                                 "forgotten --ckpt_path never reports a random network's numbers")

    def _require_weights(self) -> None:
        config = self.config[self.subcommand]
        if config.get("ckpt_path") or config.get("untrained") or self.model.hparams.get("pretrained"):
            return
        raise ValueError(f"no --ckpt_path: {self.subcommand} would score a randomly initialised network. "
                         "Give the checkpoint to evaluate (e.g. --ckpt_path runs/NAME/checkpoints/best.ckpt), "
                         "or --untrained true to evaluate the network as initialised")

    # Trainer options typed int | float that jsonargparse returns as floats (`1` -> 1.0, "100 %"):
    # whole numbers are batch counts, as Lightning documents for ints
    COUNT_OR_SHARE = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches",
                      "val_check_interval")

    def _parse_ckpt_path(self) -> None:
        # LightningCLI reads the checkpoint's hyperparameters here, before any hook: a truncated
        # or foreign file must fail as one line naming it, not as torch.load's traceback
        given = self.config[self.config.subcommand].get("ckpt_path") if self.config.get("subcommand") else None
        self._read = (given, read_checkpoint(given)) if given and os.path.isfile(given) else (None, None)
        super()._parse_ckpt_path()

    def _check_checkpoint(self) -> None:
        """Read ``--ckpt_path`` before any work starts: one line naming the file if it is
        unreadable or does not fit the network (for ``last``: also the newest intact epoch)."""
        given = self.config[self.subcommand].get("ckpt_path")
        if not given or given in ("best", "hpc", "registry"):
            return
        path = os.path.join(self.trainer.default_root_dir, "checkpoints", "last.ckpt") if given == "last" else given
        if given == "last" and not os.path.isfile(path):
            return                                  # Lightning says so and starts afresh
        try:
            (read_path, checkpoint), self._read = getattr(self, "_read", (None, None)), (None, None)  # read once, not kept
            check_fits(checkpoint if read_path == path else read_checkpoint(path), self.model, path)
        except ValueError as err:
            intact = newest_intact_checkpoint(os.path.dirname(path)) if given == "last" else None
            hint = f"; the newest intact checkpoint there is {intact} (--ckpt_path {intact})" if intact else ""
            raise ValueError(f"{err}{hint}") from None

    def _check_outputs(self) -> None:
        """Every folder this run will write, writable now (not at the first save, an epoch later)."""
        root = self.trainer.default_root_dir
        folders = {root: "--trainer.default_root_dir"}
        for logger in self.trainer.loggers:
            folders.setdefault(getattr(logger, "root_dir", None) or logger.save_dir, "the logger's save_dir")
        if self.subcommand == "fit":
            for callback in self.trainer.checkpoint_callbacks:
                folders.setdefault(callback.dirpath or os.path.join(root, "checkpoints"), "checkpoint dirpath")
        for folder, what in folders.items():
            if folder:
                check_writable(folder, f"{self.subcommand} output ({what})",
                               "run in a writable folder: --trainer.default_root_dir runs/NAME")

    def before_fit(self) -> None:
        self._check_outputs()
        self._check_checkpoint()
        folder = os.path.join(self.trainer.default_root_dir, "checkpoints")
        earlier = sorted(glob.glob(os.path.join(folder, "*.ckpt")))
        if earlier and not self.config["fit"].get("ckpt_path"):
            # a fresh run would replace best.ckpt while last.ckpt stayed the old run's
            raise ValueError(f"{folder} already holds another run's checkpoints ({len(earlier)}, e.g. "
                             f"{os.path.basename(earlier[-1])}): resume it with --ckpt_path last, or train into a "
                             "new folder with --trainer.default_root_dir runs/NEW")

    def before_validate(self) -> None:
        self._require_weights()
        self._check_outputs()
        self._check_checkpoint()

    def before_test(self) -> None:
        self._require_weights()
        self._check_outputs()
        self._check_checkpoint()

    def instantiate_trainer(self, **kwargs):
        config = self._get(self.config_init, "trainer", default={})
        root = config.get("default_root_dir") or DEFAULT_ROOT
        kwargs["default_root_dir"] = root
        for key in self.COUNT_OR_SHARE:
            value = config.get(key)
            if isinstance(value, float) and value >= 1 and value.is_integer():
                kwargs[key] = int(value)
        if config.get("logger") in (None, True):
            # one version folder per run, so a resumed run never overwrites earlier logs
            # (CSV first: its folder is trainer.log_dir, where config.yaml is saved too)
            kwargs["logger"] = [CSVLogger(root, name="csv"),
                                TensorBoardLogger(root, name="tensorboard", default_hp_metric=False)]
        if config.get("accelerator") in ("cpu",) or (config.get("accelerator") in (None, "auto")
                                                     and not torch.cuda.is_available()):
            if config.get("sync_batchnorm"):
                raise ValueError("trainer.sync_batchnorm needs GPUs (SyncBatchNorm has no CPU kernel); "
                                 "set it to false for CPU runs")
        extra = [ModelCost(), Throughput(), LearningRateMonitor(logging_interval="step"), VideoReports()]
        if config.get("enable_checkpointing", True) is not False:
            ckpt_dir = os.path.join(root, "checkpoints")
            extra += [ModelCheckpoint(dirpath=ckpt_dir, filename="epoch{epoch:03d}", auto_insert_metric_name=False,
                                      every_n_epochs=1, save_top_k=-1, save_last=True),
                      ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/top1", mode="max",
                                      save_top_k=1, auto_insert_metric_name=False,
                                      enable_version_counter=False)]  # a resumed run updates best.ckpt
        given = config.get("callbacks") or []
        kwargs["callbacks"] = (given if isinstance(given, list) else [given]) + extra
        plugins = config.get("plugins") or []
        plugins = plugins if isinstance(plugins, list) else [plugins]
        if not any(hasattr(p, "save_checkpoint") for p in plugins):
            kwargs["plugins"] = plugins + [AtomicCheckpointIO()]   # a kill mid-save never truncates
        return super().instantiate_trainer(**kwargs)


def make_cli(argv: list[str]) -> GCVideoCLI:
    """Run ``gcvideo <subcommand> ...`` in-process; the returned CLI holds the trainer.

    The command line is handed over as ``sys.argv`` (restored afterwards), where LightningCLI
    and DDP's re-launch of each rank read it: given as ``args`` next to another ``sys.argv``
    (the demo's, a test runner's), LightningCLI warns and prints both."""
    saved = sys.argv
    sys.argv = [saved[0] if saved else "gcvideo", *argv]
    try:
        return GCVideoCLI(VideoClassifier, KineticsDataModule, seed_everything_default=0,
                          trainer_defaults={"use_distributed_sampler": False},
                          save_config_kwargs={"overwrite": True, "config_filename": "config.yaml"},
                          parser_kwargs={"prog": "gcvideo", "description": __doc__})
    finally:
        sys.argv = saved


def run_lightning_cli(argv: list[str]) -> int:
    try:
        make_cli(argv)
    except (ValueError, FileNotFoundError, PermissionError, MisconfigurationException) as err:
        hint = ""
        if isinstance(err, MisconfigurationException) and "gpu" in str(err).lower():
            hint = " (this machine has no CUDA GPU: --trainer.accelerator cpu or auto)" \
                if not torch.cuda.is_available() else ""
        print(f"gcvideo {argv[0]}: error: {err}{hint}", file=sys.stderr)
        return 2
    return 0


def latest_metrics(root: str) -> Optional[str]:
    """Path of the newest run's ``metrics.csv`` under ``root`` (None if there is none)."""
    folder = os.path.join(root, "csv")
    if not os.path.isdir(folder):
        return None
    versions = sorted((d for d in os.listdir(folder) if d.startswith("version_")),
                      key=lambda d: int(d.split("_")[1]))
    path = os.path.join(folder, versions[-1], "metrics.csv") if versions else None
    return path if path and os.path.exists(path) else None
