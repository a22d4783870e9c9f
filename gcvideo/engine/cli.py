"""``gcvideo fit|validate|test|predict``: LightningCLI over VideoClassifier + KineticsDataModule.

Every run writes to ``trainer.default_root_dir`` (default ``runs/default``):
``checkpoints/`` (one per epoch, ``best.ckpt`` by val top-1, ``last.ckpt``),
``csv/version_N/`` (``metrics.csv`` and the resolved ``config.yaml``) and
``tensorboard/version_N/``: a new version per run, so resuming never overwrites logs.
``--ckpt_path last`` resumes from ``checkpoints/last.ckpt`` of that folder.
"""
import os
import sys
from typing import Optional

import torch
from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

from .callbacks import ModelCost, Throughput
from .module import VideoClassifier
from ..data.datamodule import KineticsDataModule

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

    def before_validate(self) -> None:
        self._require_weights()

    def before_test(self) -> None:
        self._require_weights()

    def instantiate_trainer(self, **kwargs):
        config = self._get(self.config_init, "trainer", default={})
        root = config.get("default_root_dir") or DEFAULT_ROOT
        kwargs["default_root_dir"] = root
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
        extra = [ModelCost(), Throughput(), LearningRateMonitor(logging_interval="step")]
        if config.get("enable_checkpointing", True) is not False:
            ckpt_dir = os.path.join(root, "checkpoints")
            extra += [ModelCheckpoint(dirpath=ckpt_dir, filename="epoch{epoch:03d}", auto_insert_metric_name=False,
                                      every_n_epochs=1, save_top_k=-1, save_last=True),
                      ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/top1", mode="max",
                                      save_top_k=1, auto_insert_metric_name=False,
                                      enable_version_counter=False)]  # a resumed run updates best.ckpt
        given = config.get("callbacks") or []
        kwargs["callbacks"] = (given if isinstance(given, list) else [given]) + extra
        return super().instantiate_trainer(**kwargs)


def make_cli(argv: list[str]) -> GCVideoCLI:
    """Run ``gcvideo <subcommand> ...`` in-process; the returned CLI holds the trainer."""
    return GCVideoCLI(VideoClassifier, KineticsDataModule, args=argv, seed_everything_default=0,
                      trainer_defaults={"use_distributed_sampler": False},
                      save_config_kwargs={"overwrite": True, "config_filename": "config.yaml"},
                      parser_kwargs={"prog": "gcvideo", "description": __doc__})


def run_lightning_cli(argv: list[str]) -> int:
    try:
        make_cli(argv)
    except (ValueError, FileNotFoundError) as err:
        print(f"gcvideo {argv[0]}: error: {err}", file=sys.stderr)
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
