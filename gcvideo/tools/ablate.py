"""``gcvideo ablate [CONFIG ...] --seeds N``: fit + test each config with N seeds, one results table.

Each config (a file, or a shipped name such as ``models/gc_r4.yaml``; default: the relation
ablation, ``RELATION_ABLATION``) is applied on top of ``--base`` (default ``demo/relation.yaml``;
the order task: ``demo/order.yaml``; on Kinetics, ``kinetics400/base.yaml``); the demo configs'
videos are generated when missing. Each run is keyed by what determines it: the
content of the base and the config (parsed YAML, so comments and layout do not matter), the
extra options and the seed; it goes to ``<out>/<label>/seed<k>-<key>/``, where ``label`` is the
config's name (its path below the configs' common folder when two names clash). A run whose
test results exist under its key is not repeated, so an interrupted ablation resumes where it
stopped, and an edited config runs afresh beside the old one.
The table (mean ± std over seeds of 30-view test top-1/top-5, params, GFLOPs) is written
to ``<out>/results.md`` and ``results.json``.
"""
import hashlib
import json
import os
import shlex
import statistics

from ..configs import find_config
from .demo_data import data_ready, generate_demo_data

# the paper's block variants on the relation task (shipped configs/models/*.yaml)
RELATION_ABLATION = ("plain", "gc", "gc_avg_pool", "gc_mul_fusion", "gc_no_layernorm", "gc_r4", "gc_r64", "gc_c3",
                     "gc_c5", "gc_after_add", "se", "snl", "nl")


def _mean_std(values: list[float]) -> str:
    mean = statistics.mean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def config_labels(configs: list[str]) -> list[str]:
    """A unique name per config: its base name, or its path (no extension) below the common
    folder of the configs sharing that base name."""
    names = [os.path.splitext(os.path.basename(c))[0] for c in configs]
    labels = []
    for config, name in zip(configs, names):
        clash = [os.path.abspath(c) for c, n in zip(configs, names) if n == name]
        if len(clash) > 1:
            name = os.path.splitext(os.path.relpath(os.path.abspath(config), os.path.commonpath(clash)))[0]
        labels.append(name)
    return labels


def run_key(base: str, config: str, extra: list[str], seed: int) -> str:
    """12 hex digits of the sha256 of everything a run depends on: both files' parsed content,
    the extra options and the seed."""
    import yaml

    def content(path):
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)

    text = json.dumps({"base": content(base), "config": content(config), "extra": extra, "seed": seed},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_one(base: str, config: str, seed: int, run_dir: str, extra: list[str]) -> dict:
    from ..files import write_atomic
    from ..engine.callbacks import ModelCost, callback_of
    from ..engine.lightning_cli import make_cli
    from ..engine.runs import run_checkpoints_folder
    from ..engine.report import VideoReports

    done = os.path.join(run_dir, "ablate_result.json")
    if os.path.exists(done):
        with open(done, encoding="utf-8") as f:
            return json.load(f)
    common = ["--config", base, "--config", config, "--seed_everything", str(seed), "--model.step_seed", str(seed),
              "--data.seed", str(seed), "--trainer.default_root_dir", run_dir, *extra]
    # an interrupted run resumes from its last checkpoint
    resume = ["--ckpt_path", "last"] if os.path.exists(run_checkpoints_folder(run_dir, "last.ckpt")) else []
    fit = make_cli(["fit", *common, *resume])
    test = make_cli(["test", *common, "--ckpt_path", run_checkpoints_folder(run_dir, "best.ckpt")])
    metrics, cost = callback_of(test.trainer, VideoReports).metrics, callback_of(fit.trainer, ModelCost).cost
    result = {"top1": metrics["top1"], "top5": metrics["top5"], "params_m": cost["params_m"], "gflops": cost["gflops"]}
    write_atomic(done, json.dumps(result).encode())
    return result


def run_ablate(configs: list[str] = (), /, *, seeds: int = 3, base: str = "demo/relation.yaml",
               out: str = "runs/ablate", extra: str = "") -> int:
    """fit + test several configs with several seeds, one results table

    For each config (applied on top of --base) and each seed: fit, then the multi-view test of
    the best checkpoint. Writes OUT/results.md and results.json; finished runs are reused.

    Args:
        configs: config files or shipped names (models/gc_r4.yaml); default: the relation ablation
            (models/ plain, gc, gc_avg_pool, gc_mul_fusion, gc_no_layernorm, gc_r4, gc_r64, gc_c3, gc_c5,
            gc_after_add, se, snl, nl)
        seeds: seeds 0..N-1 for every config
        base: base config, a file or a shipped name (a demo's generated data is made when missing)
        out: output folder
        extra: more LightningCLI options for every run, quoted, e.g. --extra '--trainer.max_epochs 5'
    """
    import yaml

    base = find_config(base)
    configs = [find_config(c) for c in configs or [f"models/{name}.yaml" for name in RELATION_ABLATION]]
    data_root = yaml.safe_load(open(base))["data"]["root"]
    if not data_ready(data_root):
        generate_demo_data(base, data_root)
    if len({os.path.realpath(c) for c in configs}) != len(configs):
        raise ValueError("a config is listed twice: each config once (--seeds N repeats runs)")
    rows = []
    options = shlex.split(extra)
    for config, name in zip(configs, config_labels(configs)):
        runs = []
        for seed in range(seeds):
            key = run_key(base, config, options, seed)
            runs.append(run_one(base, config, seed, os.path.join(out, name, f"seed{seed}-{key}"), options)
                        | {"key": key})
        rows.append({"config": name, "path": config, "runs": runs})
        print(f"{name}: top-1 {_mean_std([r['top1'] for r in runs])} over {seeds} seed(s)", flush=True)
    lines = [f"# Ablation results ({seeds} seed(s) each, base {os.path.relpath(base)})", "",
             "| config | test top-1 (%) | test top-5 (%) | params (M) | GFLOPs |", "|---|---:|---:|---:|---:|"]
    for row in rows:
        runs = row["runs"]
        lines.append(f"| {row['config']} | {_mean_std([r['top1'] for r in runs])} | "
                     f"{_mean_std([r['top5'] for r in runs])} | {runs[0]['params_m']:.3f} | {runs[0]['gflops']:.4f} |")
    table = "\n".join(lines) + "\n"
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(table)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(rows, f, indent=2)
    print("\n" + table + f"\nwritten to {os.path.join(out, 'results.md')}")
    return 0
