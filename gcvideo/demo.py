"""``gcvideo demo``: generate Kinetics-format videos, train a GC Slow-only model, test it.

Everything lands in the config's ``trainer.default_root_dir`` (``runs/demo``). Re-running
reuses the generated videos; training starts afresh.
"""
import os
import sys
import time

import yaml

# The generated dataset of the demo: 6 classes (cyclic colour orders of 4 colours),
# 150 videos each (90 train / 30 val / 30 test), 2 s at 30 fps, 80x64.
DEMO_DATA = dict(num_classes=6, videos_per_class=150, seconds=2.0, fps=30, size=(80, 64),
                 event_frames=4, seed=0)


def find_config(name: str) -> str:
    """``configs/<name>`` in the working directory, else in the source checkout."""
    for base in (os.getcwd(), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))):
        path = os.path.join(base, "configs", name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"configs/{name} not found (run from the gcvideo checkout)")


def _data_ready(root: str) -> bool:
    return all(os.path.exists(os.path.join(root, f)) for f in ("train.csv", "val.csv", "test.csv", "classes.txt"))


def run_demo(config: str = None) -> int:
    from .data.synth import synthesize
    from .train import make_cli

    config = config or find_config("demo.yaml")
    with open(config) as f:
        cfg = yaml.safe_load(f)
    data_root, run_dir = cfg["data"]["root"], cfg["trainer"]["default_root_dir"]
    start = time.time()
    if _data_ready(data_root):
        print(f"[1/3] reusing generated videos in {data_root}")
    else:
        print(f"[1/3] generating Kinetics-format videos in {data_root}")
        synthesize(data_root, **DEMO_DATA)
    print(f"[2/3] training ({config})", flush=True)
    argv0, sys.argv = sys.argv, sys.argv[:1]     # LightningCLI reads args, not the demo's argv
    try:
        fit = make_cli(["fit", "--config", config])
        fit_logs = fit.trainer.log_dir
        best = os.path.join(run_dir, "checkpoints", "best.ckpt")
        print(f"[3/3] testing {best}", flush=True)
        test = make_cli(["test", "--config", config, "--ckpt_path", best])
    finally:
        sys.argv = argv0
    metrics = test.model.video_metrics
    views = "x".join(map(str, test.datamodule.test_views))
    val_top1 = float(fit.trainer.checkpoint_callbacks[-1].best_model_score or float("nan"))
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
