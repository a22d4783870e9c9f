"""The policies of a ``fit`` / ``validate`` / ``test`` run, as plain functions the command line calls.

* **Checkpoint options** (:func:`merge_checkpoint_options`, :func:`check_resume`): with ``--ckpt_path``
  the model options not given come from the checkpoint; given ones that change the network (or, on
  resume, how it trains) must match it.
* **The run folder** (``trainer.default_root_dir``): ``checkpoints/`` (``best.ckpt``, ``last.ckpt``,
  ``epochNNN.ckpt``), ``csv/version_N/``, ``tensorboard/version_N/`` and the evaluation reports
  (``test_<views>/``). A fresh ``fit`` never writes into a folder with another run's checkpoints
  (:func:`check_fresh_fit`); ``validate``/``test`` write into the checkpoint's own run folder
  (:func:`evaluation_root`) and never over another run's or another checkpoint's reports
  (:func:`report_checkpoint`); every folder is writable before any work (:func:`check_outputs`).
* **The trainer's parts** (:func:`trainer_parts`): the loggers, gcvideo's callbacks and the
  checkpoint writer every run gets.
* **One run per folder, and SIGTERM** (:func:`run_locked`): the folder is locked while the command
  runs (rank 0 holds the lock for all ranks), and a run stopped by SIGTERM ends as
  :class:`~gcvideo.files.Terminated` naming how to resume, never as a success.
"""
import glob
import json
import os
import sys
from contextlib import nullcontext
from typing import Callable, Optional

from pytorch_lightning.callbacks import LearningRateMonitor, ProgressBar
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.utilities.exceptions import SIGTERMException

from ..files import FolderLock, Terminated, check_writable, file_sha256
from ..progress import is_terminal
from .callbacks import LineProgress, ModelCost, StopOnNonFinite, Summary, Throughput, run_checkpoints, stopped_by_sigterm
from .checkpoint import AtomicCheckpointIO, newest_intact_checkpoint
from .report import VideoReports
from .schedule import schedule_inputs

DEFAULT_ROOT = os.path.join("runs", "default")
# epochNNN.ckpt every this many epochs, beside best.ckpt and last.ckpt (slow_r50_gc with SGD
# state: 280 MB each; a 196-epoch Kinetics run keeps 9 + 2 files, ~3.1 GB)
DEFAULT_CHECKPOINT_EVERY = 20
# model options that define the network's weights: a checkpoint and the command line must agree
NETWORK_OPTIONS = ("model", "backbone", "blocks")
# how this run executes, never taken from a checkpoint: a run compiled for training need not be
# compiled to be evaluated
RUN_OPTIONS = ("compile", "compile_dynamic", "activation_checkpointing")
# what may differ when fit resumes: evaluation and memory layout, how the run executes, and what is
# not read on resume (initial weights; classes are linked from the data and checked against the checkpoint's)
RESUME_FREE_OPTIONS = ("view_batch", "view_average", "channels_last", "pretrained", "inflate_from",
                       "num_classes", "classes", *RUN_OPTIONS)


# --- checkpoint options ----------------------------------------------------------------
def plain(value):
    """Namespaces, tuples and dataclasses as the dicts and lists a checkpoint stores."""
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    if hasattr(value, "overrides"):
        value = value.overrides()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def merge_checkpoint_options(saved: dict, given: dict, resume: bool = False) -> tuple[dict, Optional[str]]:
    """The model options to take from a checkpoint's ``saved`` hyper-parameters where the user
    ``given`` (command line and config files, no defaults) has none, field by field for
    ``backbone`` and ``blocks``; and the first conflict in what the network is (with ``resume``:
    also in how it trains, which the checkpoint's optimiser and schedule state fix), as text."""
    taken = {}
    for key, value in saved.items():
        if key.startswith("_") or key in RUN_OPTIONS:
            continue                                   # Lightning's _instantiator, _class_path
        mine = given.get(key)
        if key in ("backbone", "blocks") and isinstance(value, dict):
            theirs, mine = plain(value), plain(mine) or {}
            for field in sorted(set(mine) & set(theirs)):
                if mine[field] != theirs[field]:
                    return {}, f"model.{key}.{field} is {mine[field]} here but {theirs[field]} in the checkpoint"
            for field in sorted(set(mine) - set(theirs)):
                return {}, f"model.{key}.{field} is {mine[field]} here but unset (the model's own) in the checkpoint"
            taken[key] = {f: v for f, v in theirs.items() if f not in mine}
        elif key not in given:
            taken[key] = value
        elif (key in NETWORK_OPTIONS or (resume and key not in RESUME_FREE_OPTIONS)) and value is not None \
                and plain(mine) != plain(value):
            return {}, f"model.{key} is {plain(mine)} here but {plain(value)} in the checkpoint"
    return taken, None


def check_resume(checkpoint: dict, path: str, model, trainer, datamodule) -> None:
    """Resuming restores the optimiser and the lr schedule's position: options that would
    change what that schedule is (its length, the clips per step the lr was scaled for, the
    batches an epoch's position counts) are refused, naming the checkpoint's value and this run's."""
    saved = checkpoint.get("gcvideo_schedule")
    now = schedule_inputs(model.hparams.max_epochs, trainer, datamodule)
    data = checkpoint.get("datamodule_hyper_parameters") or {}
    changed = [f"data.{k} {data[k]} there, {getattr(datamodule, k)} here" for k in ("batch_size", "clips_per_video")
               if k in data and data[k] != getattr(datamodule, k)]
    if isinstance(saved, dict):
        if saved.get("total_batch") != now["total_batch"]:
            changed.append(f"{saved.get('total_batch')} clips per step there (the lr was scaled for them), "
                           f"{now['total_batch']} here")
        if saved.get("max_epochs") != now["max_epochs"]:
            changed.append(f"an lr schedule of {saved.get('max_epochs')} epochs there, {now['max_epochs']} here "
                           "(trainer.max_epochs / model.max_epochs)")
    if changed:
        raise ValueError(f"{path}: resuming continues its optimiser and lr schedule, which this run would change: "
                         f"{'; '.join(changed)}. Resume with the run's options, or start a new run from its "
                         "weights in another folder (--model.pretrained FILE; plan a schedule longer than a "
                         "first run with --model.max_epochs)")


# --- the run folder ----------------------------------------------------------------------
def run_checkpoints_folder(root: str, name: str = "") -> str:
    """A run folder's checkpoints (``ROOT/checkpoints/``), or the file ``name`` there."""
    folder = os.path.join(root, "checkpoints")
    return os.path.join(folder, name) if name else folder


def checkpoint_run(path: str) -> Optional[str]:
    """The run folder a checkpoint belongs to (``RUN`` for ``RUN/checkpoints/NAME.ckpt``), or None."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.basename(folder) != "checkpoints":
        return None
    return os.path.relpath(os.path.dirname(folder))


def intact_hint(last: str) -> str:
    """For an unreadable last.ckpt: where to resume from instead, if anywhere."""
    intact = newest_intact_checkpoint(os.path.dirname(last))
    return f"; the newest intact checkpoint there is {intact} (--ckpt_path {intact})" if intact else ""


def evaluation_root(configured: str, ckpt: Optional[str], root_given: bool) -> str:
    """Where validate/test write: the checkpoint's own run folder (``RUN`` of
    ``RUN/checkpoints/best.ckpt``) unless ``--trainer.default_root_dir`` is given on the command
    line (``root_given``), so a config's folder (another run's) is never written into by accident."""
    if ckpt and os.path.isfile(ckpt) and not root_given:
        return checkpoint_run(ckpt) or configured
    return configured


def check_outputs(trainer, command: str) -> None:
    """Every folder this run will write, writable now (not at the first save, an epoch later)."""
    root = trainer.default_root_dir
    folders = {root: "--trainer.default_root_dir"}
    for logger in trainer.loggers:
        folders.setdefault(getattr(logger, "root_dir", None) or logger.save_dir, "the logger's save_dir")
    if command == "fit":
        for callback in trainer.checkpoint_callbacks:
            folders.setdefault(callback.dirpath or run_checkpoints_folder(root), "checkpoint dirpath")
    for folder, what in folders.items():
        if folder:
            check_writable(folder, f"{command} output ({what})",
                           "run in a writable folder: --trainer.default_root_dir runs/NAME")


def check_fresh_fit(root: str, resuming: bool) -> None:
    """A fresh ``fit`` into a folder that holds checkpoints is refused: it would replace best.ckpt
    while last.ckpt stayed the old run's."""
    folder = run_checkpoints_folder(root)
    earlier = sorted(glob.glob(os.path.join(folder, "*.ckpt")))
    if earlier and not resuming:
        raise ValueError(f"{folder} already holds another run's checkpoints ({len(earlier)}, e.g. "
                         f"{os.path.basename(earlier[-1])}): resume it with --ckpt_path last, or train into a "
                         "new folder with --trainer.default_root_dir runs/NEW")


def report_checkpoint(root: str, command: str, ckpt: Optional[str], views: str,
                      pretrained: Optional[str] = None) -> dict:
    """validate/test: what the reports in ``root`` will score (``{path, sha256[, pretrained]}``,
    written to ``metrics.json``), after refusing a folder that holds another run's checkpoints or
    another checkpoint's reports of these ``views``."""
    scored = os.path.abspath(ckpt) if ckpt and os.path.isfile(ckpt) else None
    own = os.path.realpath(run_checkpoints_folder(root))
    others = [f for f in sorted(glob.glob(os.path.join(own, "*.ckpt")))
              if scored is None or not os.path.samefile(f, scored)]
    if others and not (scored and os.path.realpath(scored).startswith(own + os.sep)):
        raise ValueError(f"{root} is another run's folder (it holds {os.path.join(root, 'checkpoints', os.path.basename(others[0]))}"
                         f", and {ckpt or 'no --ckpt_path'} is not among its checkpoints): its reports are not "
                         "written over; give a new folder with --trainer.default_root_dir runs/NEW")
    metrics = os.path.join(root, f"{'test' if command == 'test' else 'val'}_{views}", "metrics.json")
    earlier = None
    if os.path.isfile(metrics):
        try:
            with open(metrics, encoding="utf-8") as f:
                earlier = json.load(f).get("checkpoint")
        except (OSError, ValueError, AttributeError):
            earlier = None                  # a damaged report: replaced
    pretrained = None if scored else pretrained
    if isinstance(earlier, dict) and (earlier.get("path") != scored or earlier.get("pretrained") != pretrained):
        raise ValueError(f"{os.path.dirname(metrics)} holds the reports of "
                         f"{earlier.get('path') or earlier.get('pretrained') or 'the untrained network'}, not of "
                         f"{ckpt or pretrained or 'the untrained network'}: they are not written over; give a new "
                         "folder with --trainer.default_root_dir runs/NEW")
    record = {"path": scored, "sha256": file_sha256(scored) if scored else None}
    if pretrained:
        record["pretrained"] = pretrained
    return record


# --- the trainer's parts -------------------------------------------------------------------
def trainer_parts(config: dict, root: str, checkpoint_every: Optional[int], multi_label: bool,
                  trust: bool) -> dict:
    """Trainer keywords every gcvideo run gets, given the ``trainer`` section of its ``config``:
    one CSV and one TensorBoard version folder per run under ``root`` (so a resumed run never
    overwrites earlier logs; CSV first: its folder is ``trainer.log_dir``, where config.yaml is saved),
    gcvideo's callbacks after the user's, its checkpoints (``best``/``epochNNN``/``last``) and an
    atomic checkpoint writer that loads without running code (unless ``trust``)."""
    parts = {}
    if config.get("logger") in (None, True):
        parts["logger"] = [CSVLogger(root, name="csv"),
                           TensorBoardLogger(root, name="tensorboard", default_hp_metric=False)]
    extra = [ModelCost(), Throughput(), LearningRateMonitor(logging_interval="step"), VideoReports(),
             StopOnNonFinite()]
    if config.get("enable_model_summary") is not False:
        extra.append(Summary())
    given = config.get("callbacks") or []
    given = given if isinstance(given, list) else [given]
    if config.get("enable_progress_bar") is not False and not is_terminal(sys.stdout) \
            and not any(isinstance(c, ProgressBar) for c in given):
        extra.append(LineProgress())        # a log file holds lines, not a bar's redraws
    if config.get("enable_checkpointing", True) is not False:
        if checkpoint_every is None or checkpoint_every < 0:
            raise ValueError(f"--checkpoint_every_n_epochs must be >= 0 (0: only best and last), got {checkpoint_every}")
        extra += run_checkpoints(run_checkpoints_folder(root), checkpoint_every, multi_label=multi_label)
    parts["callbacks"] = given + extra
    plugins = config.get("plugins") or []
    plugins = plugins if isinstance(plugins, list) else [plugins]
    if not any(hasattr(p, "save_checkpoint") for p in plugins):
        # a kill mid-save never truncates; loading never runs code (unless trusted)
        parts["plugins"] = plugins + [AtomicCheckpointIO(trust=trust)]
    return parts


# --- one run per folder, and SIGTERM --------------------------------------------------------
def launch_rank() -> int:
    """This process's rank as the launcher set it (0 before DDP starts, or without DDP)."""
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def run_locked(trainer, command: str, work: Callable[[], None]) -> None:
    """``work()`` (the command's checks, then ``trainer.<command>``) with the run folder locked
    (one run per folder; rank 0 holds the lock for all ranks), and SIGTERM turned into
    :class:`Terminated` (Lightning stops at the next step and raises a SystemExit that would exit 0)."""
    root = trainer.default_root_dir
    lock = FolderLock(root, f"{command} (--trainer.default_root_dir)") if launch_rank() == 0 else nullcontext()
    try:
        with lock:
            work()
    except (SIGTERMException, RuntimeError) as err:
        if not stopped_by_sigterm(trainer, err):
            raise
        if command != "fit":
            raise Terminated(f"{command} stopped by SIGTERM before it finished: no report was written; "
                             "run the same command again") from None
        last = run_checkpoints_folder(root, "last.ckpt")
        resume = f"{last} holds this point: resume with the same command and --ckpt_path last" \
            if os.path.isfile(last) else "nothing could be saved: start the run again"
        raise Terminated(f"fit stopped by SIGTERM during epoch {trainer.current_epoch}, at step "
                         f"{trainer.global_step}; {resume}") from None
