"""``gcvideo fit|validate|test``: LightningCLI over VideoClassifier + KineticsDataModule.

Every run writes to ``trainer.default_root_dir`` (default ``runs/default``):
``checkpoints/`` (``best.ckpt`` by val top-1, ``last.ckpt``, ``epochNNN.ckpt`` every
``--checkpoint_every_n_epochs``),
``csv/version_N/`` (``metrics.csv`` and the resolved ``config.yaml``) and
``tensorboard/version_N/``: a new version per run, so resuming never overwrites logs.
``--ckpt_path last`` resumes from ``checkpoints/last.ckpt`` of that folder; a fresh ``fit`` into a
folder that already holds checkpoints is refused (it would mix two runs' files).

With ``--ckpt_path``, the model options come from the command line and config files where they
are given, else from the checkpoint: evaluation options (``view_average``, ``view_batch``) follow
the command line, and a given option that changes what the network is (``model``, ``backbone``,
``blocks``) but differs from the checkpoint's is refused in one line naming both values.
Checkpoints are read without running code (``gcvideo.engine.checkpoint``); ``--trust_checkpoint``
loads one that needs other types, for files from a trusted source.

:class:`GCVideoCLI` parses (LightningCLI's public hooks: ``add_arguments_to_parser``,
``parse_arguments``, ``before_instantiate_classes``, ``instantiate_trainer``) and calls the run's
policies, which are plain functions in :mod:`gcvideo.engine.runs`: the checkpoint-option merge, the
run folder, the trainer's parts, the lock and SIGTERM.
"""
import argparse
import json
import logging
import os
import sys
from typing import Optional

import torch
from jsonargparse import DefaultHelpFormatter
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from ..configs import find_config
from ..data.dataset import BadVideos
from ..files import Diverged, FolderInUse, Terminated, WriteFailed, check_space
from .callbacks import LightningNoise
from .checkpoint import check_finite, check_fits, checkpoint_bytes, read_checkpoint
from .datamodule import KineticsDataModule
from .module import VideoClassifier
from .report import VideoReports
from .runs import (DEFAULT_CHECKPOINT_EVERY, DEFAULT_ROOT, check_fresh_fit, check_outputs, check_resume,
                   evaluation_root, intact_hint, merge_checkpoint_options, plain, report_checkpoint, run_locked,
                   run_checkpoints_folder, trainer_parts)
from .schedule import check_schedule, schedule_inputs


class GCVideoCLI(LightningCLI):
    """LightningCLI for one gcvideo command (``fit``, ``validate`` or ``test``), built with
    ``run=False``: it parses and instantiates; :meth:`run` then runs the command, with the run
    folder locked and the checks of ``before_<command>`` first."""

    def __init__(self, command: str, *args, **kwargs) -> None:
        self.command = command
        super().__init__(*args, run=False, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.link_arguments("data.classes", "model.classes", apply_on="instantiate")
        parser.link_arguments("data.multi_label", "model.multi_label", apply_on="instantiate")
        parser.add_argument("--ckpt_path", type=Optional[str], default=None,
                            help="fit: a checkpoint to resume from (`last`: <default_root_dir>/checkpoints/last.ckpt); "
                                 "validate/test: the checkpoint to evaluate. Model options not given are taken "
                                 "from it; given ones that change the network must match it")
        parser.add_argument("--trust_checkpoint", type=bool, default=False, nargs="?", const=True,
                            help="load a --ckpt_path that holds objects other than tensors, numbers, "
                                 "strings and containers with full pickle, which can run code: only "
                                 "for files from a source you trust (refused otherwise)")
        parser.add_argument("--checkpoint_every_n_epochs", type=int, default=DEFAULT_CHECKPOINT_EVERY,
                            help="fit: keep checkpoints/epochNNN.ckpt every N epochs (0: none) beside best.ckpt "
                                 "(best val top-1) and last.ckpt (every epoch). slow_r50_gc with SGD state is "
                                 "280 MB per file: 196 Kinetics epochs keep ~3.1 GB at 20")
        parser.add_argument("--untrained", type=bool, default=False,
                            help="validate/test: score the network as initialised (or as loaded by "
                                 "model.pretrained) without --ckpt_path; refused otherwise, so a "
                                 "forgotten --ckpt_path never reports a random network's numbers")

    def _require_weights(self) -> None:
        config = self.config
        if config.get("ckpt_path") or config.get("untrained") or self.model.hparams.get("pretrained"):
            return
        raise ValueError(f"no --ckpt_path: {self.command} would score a randomly initialised network. "
                         "Give the checkpoint to evaluate (e.g. --ckpt_path runs/NAME/checkpoints/best.ckpt), "
                         "or --untrained true to evaluate the network as initialised")

    # Trainer options typed int | float that jsonargparse returns as floats (`1` -> 1.0, "100 %"):
    # whole numbers are batch counts, as Lightning documents for ints
    COUNT_OR_SHARE = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches",
                      "val_check_interval")

    def parse_arguments(self, parser, args) -> None:
        """Parse ``args`` (the command line after the command), then take from ``--ckpt_path``
        only the model options not given: read the file once, safely; a truncated or foreign file
        fails as one line naming it."""
        self._argv = list(sys.argv[2:] if args is None else args)
        self.config = parser.parse_args(self._argv)
        self._take_checkpoint_options()

    def _take_checkpoint_options(self) -> None:
        config = self.config
        given = config.get("ckpt_path")
        self._read = (None, None)
        if given == "last":
            root = (config.get("trainer") or {}).get("default_root_dir") or DEFAULT_ROOT
            given = run_checkpoints_folder(root, "last.ckpt")
        if not given or not os.path.isfile(given):
            return
        try:
            checkpoint = read_checkpoint(given, bool(config.get("trust_checkpoint")))
        except ValueError as err:
            raise ValueError(f"{err}{intact_hint(given) if config.get('ckpt_path') == 'last' else ''}") from None
        self._read = (given, checkpoint)
        saved = checkpoint.get("hyper_parameters")
        if not isinstance(saved, dict) or "model" not in saved:
            return                                     # _check_checkpoint says what does not fit
        explicit = self.parser.parse_args(self._argv, defaults=False).get("model") or {}
        taken, conflict = merge_checkpoint_options(saved, plain(explicit), resume=self.command == "fit")
        if conflict and self.command == "fit":
            raise ValueError(f"{given}: resuming continues the checkpoint's network, optimiser and lr schedule, "
                             f"but {conflict}; drop the option, or start a new run in another folder")
        if conflict:
            raise ValueError(f"{given} does not hold the network asked for: {conflict}; drop the option "
                             "(the checkpoint's network is then used) or give a checkpoint of this network")
        # the model's own options (Namespace.keys() lists nested ones dotted: backbone.width)
        known = {key.split(".")[0] for key in config["model"].keys()} if config.get("model") is not None else set()
        taken = {k: v for k, v in taken.items() if k in known}
        self.config = self.parser.parse_object({"model": taken}, self.config)

    def _check_checkpoint(self) -> None:
        """Read ``--ckpt_path`` before any work starts: one line naming the file if it is
        unreadable or does not fit the network (for ``last``: also the newest intact epoch)."""
        given = self.config.get("ckpt_path")
        if not given or given in ("best", "hpc", "registry"):
            return
        path = run_checkpoints_folder(self.trainer.default_root_dir, "last.ckpt") if given == "last" else given
        if given == "last" and not os.path.isfile(path):
            return                                  # Lightning says so and starts afresh
        try:
            (read_path, checkpoint), self._read = getattr(self, "_read", (None, None)), (None, None)  # read once, not kept
            trust = bool(self.config.get("trust_checkpoint"))
            checkpoint = checkpoint if read_path == path else read_checkpoint(path, trust)
            check_fits(checkpoint, self.model, path)
            check_finite(checkpoint, path)
            if self.command == "fit":
                check_resume(checkpoint, path, self.model, self.trainer, self.datamodule)
        except ValueError as err:
            raise ValueError(f"{err}{intact_hint(path) if given == 'last' else ''}") from None

    def _check_inputs(self) -> None:
        """Every list the command reads, found, before a folder is made or a process started."""
        trainer, dm = self.trainer, self.datamodule
        needed = {"fit": ["train"] + (["val"] if trainer.limit_val_batches != 0 and dm.splits.get("val") else []),
                  "validate": ["val"], "test": ["test"]}[self.command]
        for split in needed:
            dm.check_list(split)
        if self.command == "fit":
            length = schedule_inputs(self.model.hparams.max_epochs, trainer, dm)["max_epochs"]
            check_schedule(length, trainer.max_epochs, self.model.hparams.warmup_epochs)

    def _root_given(self) -> bool:
        return any(a == "--trainer.default_root_dir" or a.startswith("--trainer.default_root_dir=")
                   for a in self._argv)

    def run(self) -> None:
        """The command: the lists it reads found, then, with the run folder locked, the checks of
        ``before_<command>`` and ``trainer.<command>`` (:func:`~gcvideo.engine.runs.run_locked`)."""
        command = self.command
        self._check_inputs()

        def work():
            getattr(self, f"before_{command}")()
            getattr(self.trainer, command)(self.model, datamodule=self.datamodule,
                                           ckpt_path=self.config.get("ckpt_path"))
        run_locked(self.trainer, command, work)

    def before_fit(self) -> None:
        check_outputs(self.trainer, "fit")
        if self.trainer.checkpoint_callbacks and self.trainer.is_global_zero:
            folder = self.trainer.checkpoint_callbacks[0].dirpath or run_checkpoints_folder(self.trainer.default_root_dir)
            check_space(folder, checkpoint_bytes(self.model, self.model.hparams.optimizer),
                        "fit cannot save a checkpoint")
        self._check_checkpoint()
        check_fresh_fit(self.trainer.default_root_dir, resuming=bool(self.config.get("ckpt_path")))

    def before_validate(self) -> None:
        self._require_weights()
        check_outputs(self.trainer, self.command)
        self._check_checkpoint()
        views = "x".join(map(str, getattr(self.datamodule, "test_views", (1, 1))))
        record = report_checkpoint(self.trainer.default_root_dir, self.command, self.config.get("ckpt_path"), views,
                                   self.model.hparams.get("pretrained"))
        for callback in self.trainer.callbacks:
            if isinstance(callback, VideoReports):
                callback.checkpoint = record             # written to metrics.json

    def before_test(self) -> None:
        self.before_validate()

    def before_instantiate_classes(self) -> None:
        """Options refused before anything is built, each in one line naming it."""
        config = self.config
        for name in ("optimizer", "lr_scheduler"):
            if config.get(name) is not None:
                raise ValueError(f"--{name}: gcvideo's VideoClassifier sets its own optimiser and lr schedule, which "
                                 f"--{name} would silently replace; use --model.optimizer (sgd or adamw), --model.lr, "
                                 "--model.warmup_epochs and --model.final_lr")
        trainer = config.get("trainer") or {}
        check_devices(trainer)
        if trainer.get("accumulate_grad_batches") is not None and trainer["accumulate_grad_batches"] < 1:
            raise ValueError(f"--trainer.accumulate_grad_batches must be >= 1, got {trainer['accumulate_grad_batches']}")
        if self.command == "fit" and trainer.get("max_epochs") is not None and trainer["max_epochs"] == 0:
            raise ValueError("--trainer.max_epochs 0 trains nothing: give the number of epochs to train (>= 1)")
        limit = {"fit": "limit_train_batches", "validate": "limit_val_batches", "test": "limit_test_batches"}[self.command]
        if trainer.get(limit) is not None and trainer[limit] == 0:
            raise ValueError(f"--trainer.{limit} 0 would {'train' if self.command == 'fit' else 'score'} no batch and "
                             "write no checkpoint or report: leave it out, or give a number of batches (>= 1) or a share")

    def instantiate_trainer(self, **kwargs):
        """The trainer with gcvideo's parts (:func:`~gcvideo.engine.runs.trainer_parts`), writing to
        the run folder (validate/test: the checkpoint's own, :func:`~gcvideo.engine.runs.evaluation_root`)."""
        config = self.config_init.get("trainer") or {}
        root = config.get("default_root_dir") or DEFAULT_ROOT
        if self.command != "fit":
            root = evaluation_root(root, self.config.get("ckpt_path"), self._root_given())
        kwargs["default_root_dir"] = root
        for key in self.COUNT_OR_SHARE:
            value = config.get(key)
            if isinstance(value, float) and value >= 1 and value.is_integer():
                kwargs[key] = int(value)
        if config.get("use_distributed_sampler"):
            raise ValueError("--trainer.use_distributed_sampler: gcvideo splits videos over ranks itself "
                             "(every video evaluated exactly once); leave it false")
        if config.get("accelerator") in ("cpu",) or (config.get("accelerator") in (None, "auto")
                                                     and not torch.cuda.is_available()):
            if config.get("sync_batchnorm"):
                raise ValueError("trainer.sync_batchnorm needs GPUs (SyncBatchNorm has no CPU kernel); "
                                 "set it to false for CPU runs")
        kwargs.update(trainer_parts(config, root, self.config.get("checkpoint_every_n_epochs", DEFAULT_CHECKPOINT_EVERY),
                                    multi_label=bool(getattr(self.datamodule, "multi_label", False)),
                                    trust=bool(self.config.get("trust_checkpoint", False))))
        return super().instantiate_trainer(**kwargs)


def check_devices(config: dict) -> None:
    """A recipe that asks for GPUs on a machine without one, or for more CPU processes than there
    are cores, is one line saying how to run it small (``--config smoke.yaml``), instead of
    Lightning's error or N processes fighting over the cores."""
    accelerator, devices = config.get("accelerator"), config.get("devices")
    count = len(devices) if isinstance(devices, (list, tuple)) else devices if isinstance(devices, int) else None
    small = "add --config smoke.yaml last (one process, small frames, few batches; see `gcvideo configs`)"
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ValueError(f"trainer.accelerator {accelerator}: this machine has no CUDA GPU; to run this recipe "
                         f"here, {small}")
    cores = os.cpu_count() or 1
    on_cpu = accelerator == "cpu" or (accelerator in (None, "auto") and not torch.cuda.is_available())
    if on_cpu and count is not None and count > cores:
        raise ValueError(f"trainer.devices {count}: {count} CPU processes on {cores} cores; give "
                         f"--trainer.devices 1 (or up to {cores}), or {small}")


logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(LightningNoise())

SUBCOMMAND_HELP = {"fit": "Train a network (or resume a run with --ckpt_path last).",
                   "validate": "A checkpoint's accuracy on the val split, with the test protocol's views.",
                   "test": "A checkpoint's accuracy on the test split: 10 clips x 3 crops, reports in "
                           "<run>/test_<views>/."}
SUBCOMMAND_GUIDE = """

What most runs set:
  --config FILE_OR_NAME    a YAML file, or a shipped config by name (`gcvideo configs` lists them):
                           --config kinetics400/base.yaml --config models/gc.yaml
  --model.model NAME       a registered network (`gcvideo models`); --model.blocks.* and
                           --model.backbone.* change it (e.g. --model.blocks.reduction 8)
  --data.root DIR          the videos and their lists (train.csv, val.csv, test.csv)
  --trainer.devices N      GPUs per node (the lr scales with the total batch)
  --ckpt_path PATH|last    a checkpoint to evaluate or resume from
gcvideo's own options (--model.*, --data.*, --trust_checkpoint, --checkpoint_every_n_epochs) are
explained below, after Lightning's --trainer.* options."""


class GuideFormatter(argparse.RawDescriptionHelpFormatter, DefaultHelpFormatter):
    """jsonargparse's help, with the description's lines kept as written (subcommands take
    their parent's formatter)."""


def resolve_configs(argv: list[str]) -> list[str]:
    """``argv`` with each ``--config NAME`` naming a file: NAME itself when it exists, else the
    shipped config of that name (``gcvideo.configs``); a missing or empty config is one line."""
    import yaml

    resolved = list(argv)
    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            at, name = i, arg.split("=", 1)[1]
        elif arg == "--config" and i + 1 < len(argv):
            at, name = i + 1, argv[i + 1]
        else:
            continue
        path = find_config(name)
        try:
            with open(path, encoding="utf-8") as f:
                content = yaml.safe_load(f)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark
            raise ValueError(f"--config {name}: not valid YAML at line {mark.line + 1}, column {mark.column + 1}: "
                             f"{err.problem}") from None
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise ValueError(f"--config {name}: not valid YAML: {str(err).splitlines()[0]}") from None
        except RecursionError:
            raise ValueError(f"--config {name}: not valid YAML: an alias refers to itself") from None
        if content is None:
            raise ValueError(f"--config {name} is empty: it sets no options (a config is YAML, "
                             "e.g. {trainer: {max_epochs: 10}})")
        if not isinstance(content, dict):
            raise ValueError(f"--config {name} is not a config: a config is a YAML mapping of options "
                             f"(e.g. {{trainer: {{max_epochs: 10}}}}), this file holds a {type(content).__name__}")
        try:
            json.dumps(content, default=str)
        except ValueError:                         # "Circular reference detected"
            raise ValueError(f"--config {name}: not valid as a config: an alias refers to itself (a cycle)") from None
        resolved[at] = path if at != i else f"--config={path}"
    return resolved


def make_cli(argv: list[str]) -> GCVideoCLI:
    """Run ``gcvideo <command> ...`` in-process (``argv[0]`` is the command); the returned CLI
    holds the trainer. A DDP run started here re-launches its ranks with this process's own
    command line (``sys.argv``), as Lightning does: start multi-process runs from the shell."""
    command = argv[0] if argv else None
    if command not in SUBCOMMAND_HELP:
        raise ValueError(f"unknown command {command!r}: one of {', '.join(SUBCOMMAND_HELP)}")
    cli = GCVideoCLI(command, VideoClassifier, KineticsDataModule, args=resolve_configs(argv[1:]),
                     seed_everything_default=0, trainer_defaults={"use_distributed_sampler": False},
                     save_config_kwargs={"overwrite": True, "config_filename": "config.yaml"},
                     parser_kwargs={"prog": f"gcvideo {command}", "formatter_class": GuideFormatter,
                                    "usage": f"gcvideo {command} [--config FILE_OR_NAME ...] [--SECTION.OPTION VALUE ...]",
                                    "description": SUBCOMMAND_HELP[command] + SUBCOMMAND_GUIDE})
    cli.run()
    return cli


def run_lightning_cli(argv: list[str]) -> int:
    try:
        make_cli(argv)
    except Terminated as err:
        print(f"gcvideo {argv[0]}: {err}", file=sys.stderr)
        return 143
    except Diverged as err:
        print(f"gcvideo {argv[0]}: error: {err}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, PermissionError, MisconfigurationException, FolderInUse,
            WriteFailed) as err:
        hint = ""
        if isinstance(err, BadVideos):
            hint = " (run `gcvideo data check LIST` on the list to find and drop them)"
        if isinstance(err, MisconfigurationException) and "gpu" in str(err).lower():
            hint = " (this machine has no CUDA GPU: --trainer.accelerator cpu or auto)" \
                if not torch.cuda.is_available() else ""
        print(f"gcvideo {argv[0]}: error: {err}{hint}", file=sys.stderr)
        return 2
    return 0
