"""``gcvideo demo``: generate Kinetics-format videos, train a GC Slow-only model, test it.

Everything lands in the config's ``trainer.default_root_dir`` (``runs/demo``). Re-running
reuses the generated videos; training starts afresh.
"""
import os
import sys
import time

import yaml

from .common import DEMO_DATA, data_ready, find_config


def run_demo(config: str = None) -> int:
    from ..data.synth import synthesize
    from ..engine.cli import make_cli

    config = config or find_config("demo.yaml")
    with open(config) as f:
        cfg = yaml.safe_load(f)
    data_root, run_dir = cfg["data"]["root"], cfg["trainer"]["default_root_dir"]
    start = time.time()
    if data_ready(data_root):
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
