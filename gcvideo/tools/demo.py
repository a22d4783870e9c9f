"""``gcvideo demo``: the README's main job, on generated Kinetics-format videos.

* ``--task relation`` (default, config ``demo/relation.yaml``): generate the relation
  task (same or different colour of two cues at opposite corners and opposite ends of the
  clip), train the plain Slow-only network and the same network with GC blocks on the
  same data, budget and seed, test both (one view per video: each is one clip long and one crop
  wide), and print them side by side with
  the share of GC's attention on the cues. Lands in ``OUT/demo_relation`` (``--out``, default
  ``runs`` in the working directory).
* ``--task order`` (config ``demo/order.yaml``): generate the temporal-order task, train a GC
  Slow-only model, test it with 10 clips x 3 crops. Lands in ``OUT/demo``.

Re-running reuses the generated videos; training starts afresh (the previous run's
checkpoints are removed; a plain ``gcvideo fit`` into a used folder is refused instead).
"""
import csv
import os
import shutil
import time
from typing import Literal, Optional

from ..configs import find_config
from .demo_data import DEMO_DATA, RELATION_DATA, data_ready

NETWORKS = (("plain", "slow_r50"), ("gc", "slow_r50_gc"))


def run_demo(*, task: Literal["relation", "order"] = "relation", config: Optional[str] = None,
             seed: Optional[int] = None, out: str = "runs") -> int:
    """what global context buys: plain vs GC Slow-only network on generated videos (the README's main job)

    --task relation (default): generate the relation task (same or different colour of two cues at
    opposite corners and opposite ends of the clip), train the plain network and the GC network on
    the same data, budget and seed, test both (one view per video: a video is one clip long and one
    crop wide), print them side by side with the
    share of GC's attention on the cues, save an attention picture. --task order: generate the
    temporal-order task, train a GC Slow-only model, test it.

    Args:
        task: which generated task
        config: demo config, a file or a shipped name (default: demo/relation.yaml or demo/order.yaml)
        seed: relation: seed for both networks (default: the config's)
        out: folder for the generated videos and the runs (OUT/demo_relation, OUT/demo)
    """
    if task == "relation":
        return run_relation_demo(config, seed, out)
    if seed is not None:
        raise ValueError("--seed applies to --task relation; the order demo takes its seed from the config")
    return run_order_demo(config, out)


def run_order_demo(config: Optional[str] = None, out: str = "runs") -> int:
    from ..data.synth import synthesize
    from ..engine.callbacks import best_score, callback_of
    from ..engine.report import VideoReports
    from ..engine.lightning_cli import make_cli
    from ..engine.runs import run_checkpoints_folder

    config = find_config(config or "demo/order.yaml")
    run_dir = os.path.join(out, "demo")
    data_root = os.path.join(run_dir, "data")
    start = time.time()
    _generate(data_root, "[1/3]", "Kinetics-format videos", lambda: synthesize(data_root, **DEMO_DATA))
    _fresh(run_dir)
    print(f"[2/3] training ({config})", flush=True)
    common = ["--config", config, "--data.root", data_root, "--trainer.default_root_dir", run_dir]
    fit = make_cli(["fit", *common])
    fit_logs = fit.trainer.log_dir
    best = run_checkpoints_folder(run_dir, "best.ckpt")
    print(f"[3/3] testing {best}", flush=True)
    test = make_cli(["test", *common, "--ckpt_path", best])
    metrics = callback_of(test.trainer, VideoReports).metrics
    views = "x".join(map(str, test.datamodule.test_views))
    val_top1 = best_score(fit.trainer)
    print("\n=== gcvideo demo ===")
    print(f"best val top-1 (single view): {100 * val_top1:.1f} %")
    print(f"test ({views} views, {metrics['readable']}/{metrics['videos']} videos): "
          f"top-1 {100 * metrics['top1']:.1f} %, top-5 {100 * metrics['top5']:.1f} %")
    print(f"time: {(time.time() - start) / 60:.1f} min")
    print(f"checkpoints: {os.path.join(run_dir, 'checkpoints')} (best.ckpt, last.ckpt, one per epoch)")
    print(f"training logs: {fit_logs} (metrics.csv, config.yaml); tensorboard --logdir {run_dir}")
    print(f"predictions: {os.path.join(run_dir, 'test_' + views)} "
          "(predictions.csv, failures.csv, metrics.json, confusion.png, per_class_accuracy.png)")
    return 0


def run_relation_demo(config: Optional[str] = None, seed: Optional[int] = None, out: str = "runs") -> int:
    from ..data.synth import synthesize_relation
    from ..engine.callbacks import best_score, callback_of
    from ..engine.report import VideoReports
    from ..engine.lightning_cli import make_cli
    from ..engine.runs import run_checkpoints_folder
    from ..models.cost import model_cost
    from .analyze import measure_lift, run_visualize

    config = find_config(config or "demo/relation.yaml")
    demo_dir = os.path.join(out, "demo_relation")
    data_root = os.path.join(demo_dir, "data")
    start = time.time()
    _generate(data_root, "[1/4]", "the relation task", lambda: synthesize_relation(data_root, **RELATION_DATA))
    results = {}
    for k, (name, model) in enumerate(NETWORKS):
        run_dir = os.path.join(demo_dir, name)
        _fresh(run_dir)
        common = ["--config", config, "--model.model", model, "--trainer.default_root_dir", run_dir,
                  "--data.root", data_root]
        if seed is not None:
            common += ["--seed_everything", str(seed)]
        print(f"[{2 + k}/4] training {name} ({model}, {config})", flush=True)
        tick = time.time()
        fit = make_cli(["fit", *common])
        train_min = (time.time() - tick) / 60
        best = run_checkpoints_folder(run_dir, "best.ckpt")
        test = make_cli(["test", *common, "--ckpt_path", best])
        net = test.model.model
        spec = test.datamodule.spec
        cost = model_cost(net, spec.num_frames, spec.crop_size)
        results[name] = {"model": model, "metrics": callback_of(test.trainer, VideoReports).metrics, "train_min": train_min,
                         "val_top1": best_score(fit.trainer),
                         "cost": cost, "best": best, "module": test.model, "spec": spec,
                         "views": "x".join(map(str, test.datamodule.test_views))}
    print("[4/4] where GC's attention goes", flush=True)
    gc = results["gc"]
    lift = measure_lift(gc["module"], gc["spec"], data_root, progress=True)
    write_lift(os.path.join(demo_dir, "gc"), lift, gc["best"])
    video = _first_test_video(data_root)
    run_visualize(ckpt_path=gc["best"], video=video, out=os.path.join(demo_dir, "attention"), overwrite=True)
    print(summary(results, lift, time.time() - start))
    from .run_report import run_report

    run_report(os.path.join(demo_dir, "gc"), compare=[os.path.join(demo_dir, "plain")],
               out=os.path.join(demo_dir, "report.html"), overwrite=True)        # prints "wrote ...report.html": the last line
    return 0


def write_lift(run_dir: str, lift: dict, checkpoint: str) -> None:
    """``RUN/lift.json``: the measured lift and which checkpoint it was measured on (path and
    sha256), so ``report run`` shows it only beside the checkpoint it belongs to."""
    import json

    from ..files import file_sha256, write_atomic
    from .run_report import LIFT

    record = {**lift, "checkpoint": {"path": checkpoint, "sha256": file_sha256(checkpoint)}}
    write_atomic(os.path.join(run_dir, LIFT), json.dumps(record, indent=1).encode())


def _generate(root: str, step: str, what: str, make) -> None:
    if data_ready(root):
        print(f"{step} reusing generated videos in {root}")
    else:
        print(f"{step} generating {what} in {root}")
        make()


def _fresh(run_dir: str) -> None:
    """The demo starts afresh: the checkpoints of its earlier run in ``run_dir`` go (logs are
    versioned, reports replaced, the generated data stays)."""
    from ..engine.runs import run_checkpoints_folder

    shutil.rmtree(run_checkpoints_folder(run_dir), ignore_errors=True)


def _first_test_video(root: str) -> str:
    with open(os.path.join(root, "test.csv"), newline="", encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    from ..data.records import kinetics_filename

    return os.path.join(root, row["label"],
                        kinetics_filename(row["youtube_id"], row["time_start"], row["time_end"]) + ".mp4")


def summary(results: dict, lift: dict, seconds: float) -> str:
    from .analyze import format_lift
    from .info import cost_change

    base = results["plain"]["cost"]
    views = results["gc"]["views"]
    lines = ["", "=== gcvideo demo: same colour or not? (two cues, opposite corners, opposite ends of the clip) ===",
             f"{'network':22s} {'test top-1':>10s} {'val top-1':>10s} {'params':>9s} {'MFLOPs':>8s} "
             f"{'ΔFLOPs':>8s} {'train':>7s}"]
    for name, r in results.items():
        m, c = r["metrics"], r["cost"]
        lines.append(f"{name + ' (' + r['model'] + ')':22s} {100 * m['top1']:9.1f}% {100 * r['val_top1']:9.1f}% "
                     f"{c['params'] / 1e3:8.1f}k {c['flops'] / 1e6:8.2f} "
                     f"{cost_change(c, base)['d_flops_pct']:+7.2f}% {r['train_min']:5.1f}min")
    m = results["gc"]["metrics"]
    lines += [f"test: {views} views, {m['readable']}/{m['videos']} videos, 2 classes (chance 50 %)",
              "", "GC attention on the cue boxes (centre clip of every test video):", format_lift(lift),
              "", f"time: {seconds / 60:.1f} min; runs in {os.path.dirname(results['gc']['best'].rsplit('/checkpoints', 1)[0])}/"
              "{plain,gc} (checkpoints, logs, test reports); attention pictures in attention/"]
    return "\n".join(lines)
