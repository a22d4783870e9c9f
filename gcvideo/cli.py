"""The ``gcvideo`` command line.

``gcvideo fit|validate|test`` are LightningCLI commands (see ``gcvideo fit --help``);
the others are plain tools: ``models``, ``info``, ``data``, ``demo``, ``predict``, ``export``.
"""
import argparse
import json
import os
import shlex
import sys
import warnings
from typing import Optional

LIGHTNING_COMMANDS = ("fit", "validate", "test")


def _quiet_third_party_warnings() -> None:
    # pytorchvideo decorates functions with torch.jit.script at import time.
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated", category=FutureWarning)
    # Lightning 2.6 against torch 2.14's pytree API: harmless, printed once per process
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")


def cmd_models(args: argparse.Namespace) -> int:
    from .models import list_models

    for name, description in list_models().items():
        print(f"{name:16s} {description}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from .models import MODELS
    from .tools.costs import cost_table, format_cost_table

    if not args.all and not args.model:
        print("gcvideo info: give a MODEL or --all (see `gcvideo models`)", file=sys.stderr)
        return 2
    names = list(MODELS) if args.all else [args.model]
    rows = cost_table(names, args.frames, args.size)
    if args.json:
        print(json.dumps(rows if args.all else rows[0], indent=2))
    else:
        print("cost per clip (FLOPs = multiply-adds, fvcore; Δ vs the plain network of the same family, "
              "same clip)")
        print(format_cost_table(rows))
    return 0


LIST_HELP = "Kinetics CSV, 'path label' list or class-folder tree"


def _checkpoint_command(sub, name: str, help: str, description: str, data_help: str) -> argparse.ArgumentParser:
    """A subcommand that reads a checkpoint and a data source (``--ckpt_path``, ``--data``)."""
    p = sub.add_parser(name, help=help, description=description)
    p.add_argument("--ckpt_path", required=True, help="a gcvideo checkpoint")
    p.add_argument("--data", required=True, help=data_help)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gcvideo",
        description="Global Context (GCNet) blocks and Slow-only ResNet-50 video models.\n\n"
        "Training and evaluation (LightningCLI):\n"
        "  gcvideo fit --config configs/kinetics400/gc_all.yaml\n"
        "  gcvideo test --config ... --ckpt_path runs/.../best.ckpt   (10x3 views)\n"
        "  gcvideo predict video.mp4 --ckpt_path runs/.../best.ckpt\n"
        "Run `gcvideo fit --help` for every training option.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("models", help="list registered models")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("info", help="parameters and GFLOPs of a model (or --all), with Δ vs its plain network")
    p.add_argument("model", nargs="?", help="registered model name (see `gcvideo models`)")
    p.add_argument("--all", action="store_true", help="table of every registered model")
    p.add_argument("--frames", type=int, help="clip length T (default: the model's recipe, e.g. 8, SlowFast 32)")
    p.add_argument("--size", type=int, help="crop size H=W (default: the model's recipe, 224)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("predict", help="top-5 classes of videos with a trained checkpoint (multi-view)",
                       description="Multi-view prediction for any video (any length, size, fps). Class names "
                       "and clip options are read from the checkpoint.")
    p.add_argument("videos", nargs="+", help="video files")
    p.add_argument("--ckpt_path", required=True, help="a gcvideo checkpoint (e.g. runs/demo/checkpoints/best.ckpt)")
    p.add_argument("--views", default="10x3", help="CLIPSxCROPS (default 10x3, the paper's 30 views)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)

    p = _checkpoint_command(
        sub, "features", "one feature vector per video (view-averaged), in shards with an index",
        "Decode each video of --data once, run its views through the checkpoint's network (folded inference "
        "form) and write the view-averaged pre-logits (or c5 features averaged over T x H x W) to "
        "OUT/features-NNNNN.npy with OUT/index.csv (video_id, path, label, shard, row, status, reason). "
        "Unreadable videos are listed, not dropped. Resumable (run it again); under torchrun every video goes "
        "to exactly one rank.", LIST_HELP)
    p.add_argument("--root", help="video folder (default: the list's folder)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--views", default="1x1", help="CLIPSxCROPS averaged per video (1x1, or 10x3 as in test)")
    p.add_argument("--layer", choices=["pre_logits", "c5"], default="pre_logits")
    p.add_argument("--shard-size", type=int, default=1000, help="vectors per .npy shard (1000)")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (0: in this process)")
    p.set_defaults(func=cmd_features)

    report = sub.add_parser("report", help="generated result tables")
    report_sub = report.add_subparsers(dest="report_command", metavar="TABLE", required=True)
    p = report_sub.add_parser("costs", help="params, GFLOPs, Δ%% and CPU latency (vs blocks bypassed) of every table row and ablation",
                              description="Cost columns of the paper's video table for the shipped configs "
                              "(configs/kinetics400), written as Markdown (default docs/results.md) and JSON.")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--rounds", type=int, default=3, help="interleaved latency rounds (0: skip latency)")
    p.add_argument("--out", default=os.path.join("docs", "results.md"))
    p.add_argument("--json", default=os.path.join("docs", "results.json"))
    p.set_defaults(func=cmd_report_costs)

    analyze = sub.add_parser("analyze", help="statistics of trained networks")
    analyze_sub = analyze.add_subparsers(dest="analyze_command", metavar="WHAT", required=True)
    p = _checkpoint_command(
        analyze_sub, "nl-stats", "GCNet Table 1: cosine distances inside every NL block",
        "For every non-local block of a trained checkpoint, on real clips: the mean pairwise cosine distance "
        "between positions of the block's input, of its output, of the attention maps of different query "
        "positions, and of what those maps attend to. Small attention-map distances mean query-independent "
        "attention.", LIST_HELP)
    p.add_argument("--root", help="video folder (default: the list's folder)")
    p.add_argument("--clips", type=int, default=32, help="videos to average over (centre clip each)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_nl_stats)

    p = _checkpoint_command(
        analyze_sub, "lift", "share of each GC/SNL block's attention on the cues of the relation task",
        "For a checkpoint trained on `gcvideo data synth --task relation` data: for each GC/SNL block, the "
        "attention mass on the cue boxes (from the dataset's cues.json), their share of the positions, and the "
        "ratio (lift; 1 = no preference), averaged over the centre clips of a split.",
        "the generated dataset folder (with cues.json and <split>.csv)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--limit", type=int, default=0, help="only the first N videos (0: all)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_lift)

    p = sub.add_parser("visualize", help="GC/SNL attention maps over T x H x W, overlaid on a video",
                       description="Runs a checkpoint on the centre clip of VIDEO and saves each GC/SNL block's "
                       "attention (softmax over all T x H x W positions), upsampled and overlaid on the frames: "
                       "a PNG grid (rows: blocks, columns: frames) and one animated GIF per block. For your own "
                       "plots use gcvideo.analysis.capture_attention(model).")
    p.add_argument("--ckpt_path", required=True)
    p.add_argument("--video", required=True)
    p.add_argument("--blocks", nargs="*", help="only blocks whose names contain one of these strings")
    p.add_argument("--out", default="attention")
    p.set_defaults(func=cmd_visualize)

    p = sub.add_parser("ablate", help="fit + test several configs with several seeds, one results table",
                       description="For each config (applied on top of --base) and each seed: fit, then the "
                       "multi-view test of the best checkpoint. Writes <out>/results.md and results.json; finished "
                       "runs are reused.")
    p.add_argument("configs", nargs="+", help="config files, e.g. configs/ablations/*.yaml")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--base", help="base config (default configs/demo.yaml: generated data)")
    p.add_argument("--out", default=os.path.join("runs", "ablate"))
    p.add_argument("--extra", default="", help="more LightningCLI options for every run, quoted, "
                   "e.g. --extra '--trainer.max_epochs 5'")
    p.set_defaults(func=cmd_ablate)

    p = sub.add_parser("export", help="a checkpoint's network as TorchScript, ONNX or torch.export, checked "
                       "against eager",
                       description="Trace the network of a gcvideo checkpoint (folded inference form), save it, "
                       "reload it and print the largest absolute difference from eager PyTorch on a random clip. "
                       "export = torch.export (dynamo) program, .pt2, dynamic batch size (>= 2).")
    p.add_argument("--ckpt_path", required=True)
    p.add_argument("--format", choices=["torchscript", "onnx", "export"], default="torchscript")
    p.add_argument("--out", help="output file (default: next to the checkpoint, .ts, .onnx or .pt2)")
    p.add_argument("--frames", type=int, help="clip length of the traced input (default: the data's)")
    p.add_argument("--size", type=int, help="crop size of the traced input (default: the data's)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help="what global context buys: plain vs GC Slow-only network on generated videos "
                       "(the README's main job)",
                       description="--task relation (default): generate the relation task (same or different colour "
                       "of two cues at opposite corners and opposite ends of the clip), train the plain network and "
                       "the GC network on the same data, budget and seed, test both with 10x3 views, print them side "
                       "by side with the share of GC's attention on the cues, save an attention picture. "
                       "--task order: generate the temporal-order task, train a GC Slow-only model, test it.")
    p.add_argument("--task", choices=["relation", "order"], default="relation")
    p.add_argument("--config", help="demo config (default: configs/demo.yaml, relation: configs/demo_relation.yaml)")
    p.add_argument("--seed", type=int, help="relation: seed for both networks (default: the config's)")
    p.set_defaults(func=cmd_demo)

    data = sub.add_parser("data", help="check and prepare video collections, generate Kinetics-format data")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = data_sub.add_parser(
        "check", help="scan every video, report bad ones, write a clean list",
        description="Probe and decode every video of a Kinetics CSV, a 'path label' list or a "
        "class-folder tree in parallel; print ok / missing / unreadable / truncated / too short "
        "counts with reasons; write <list>.clean.csv|txt (good videos) and <list>.bad.csv. "
        "Exits 1 when any video is bad.")
    p.add_argument("source", help="Kinetics CSV, 'path label' list or class-folder tree")
    p.add_argument("--root", help="video folder (default: the list's folder)")
    p.add_argument("--num-frames", type=int, default=8, help="clip length for the too-short test (8)")
    p.add_argument("--sampling-rate", type=int, default=8, help="frame stride at --target-fps (8)")
    p.add_argument("--target-fps", type=float, default=30.0)
    p.add_argument("--backend", choices=["pyav", "decord"], default="pyav")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--out", help="prefix of the output lists (default: next to the input)")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    p.set_defaults(func=cmd_data_check)

    p = data_sub.add_parser(
        "prepare", help="re-encode a collection for training: short side, key frames, H.264",
        description="Write every video of SRC (a class-folder tree, or the videos of the --list files: "
        "Kinetics CSVs or 'path label' lists) to DST at the same relative path as H.264 MP4: short side "
        "--short-side (aspect kept, even sides), display rotation applied, a key frame every --gop frames "
        "(random clips seek fast), no audio, optionally a constant --fps. Each list is rewritten for DST "
        "with the prepared videos. Runs on all cores with a progress bar; every output is decoded back "
        "before it gets its final name, so an interrupted run resumes where it stopped (run it again). "
        "Unreadable sources are listed in DST/prepare.bad.csv and skipped. Exits 1 when any was skipped.")
    p.add_argument("src", help="folder holding the videos (a class-folder tree without --list)")
    p.add_argument("dst", help="output folder (created)")
    p.add_argument("--list", dest="lists", action="append", default=[],
                   help="a Kinetics CSV or 'path label' list of videos under SRC; repeat for several splits")
    p.add_argument("--short-side", type=int, default=320, help="short side in pixels (320)")
    p.add_argument("--fps", type=float, help="constant output frame rate (default: keep the source's frame times)")
    p.add_argument("--gop", type=int, default=16, help="frames between key frames (16)")
    p.add_argument("--crf", type=int, default=23, help="x264 quality, lower is better (23)")
    p.add_argument("--tune", default="fastdecode", help="x264 tuning (fastdecode: ~1.6x faster decoding, "
                   "~20%% larger files; 'none' for x264's default)")
    p.add_argument("--jobs", type=int, help="processes (default: all cores)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=cmd_data_prepare)

    p = data_sub.add_parser(
        "synth", help="write generated Kinetics-format videos (no download)",
        description="Generate H.264 videos in the Kinetics layout (class folders, train/val/test.csv, "
        "classes.txt), identical for a seed. --task relation (the demo's): same or different colour of "
        "two discs in opposite corners, one lit at the start of the video, the other at its end; also "
        "writes cues.json (each cue's box per frame). --task order: classes differ only in the temporal "
        "order of colour events of one drifting disc.")
    p.add_argument("out", help="output folder")
    p.add_argument("--task", choices=["relation", "order"], default="relation")
    p.add_argument("--videos-per-class", type=int, default=20, help="60%% train, 20%% val, 20%% test")
    p.add_argument("--fps", type=int, default=30)
    p.add_argument("--size", help="WIDTHxHEIGHT (default: relation 32x32, order 96x72)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, help="encoding processes (default: one per core, at most 8, for 64+ "
                   "videos); the files do not depend on it")
    p.add_argument("--frames", type=int, default=16,
                   help="relation: video length in frames; = clip frames x sampling rate (default 16 = 8 x 2)")
    p.add_argument("--colours", type=int, default=2, help="relation: number of cue colours (default 2)")
    p.add_argument("--cue-frames", type=int, default=4, help="relation: frames each cue is lit (default 4)")
    p.add_argument("--classes", type=int, default=6, help="order: number of classes (default 6)")
    p.add_argument("--seconds", type=float, default=2.0, help="order: video length (default 2)")
    p.add_argument("--event-frames", type=int, default=6,
                   help="order: frames each event lasts; keep >= the clip sampling rate (default 6)")
    p.set_defaults(func=cmd_data_synth)
    return parser


def cmd_predict(args: argparse.Namespace) -> int:
    from .tools.predict import run_predict

    return run_predict(args.videos, args.ckpt_path, args.views, args.json)


def cmd_features(args: argparse.Namespace) -> int:
    from .tools.features import run_features

    return run_features(args.ckpt_path, args.data, args.out, args.root, args.views, args.layer,
                        args.shard_size, args.workers)


def cmd_report_costs(args: argparse.Namespace) -> int:
    from .tools.costs import run_cost_report

    return run_cost_report(args.frames, args.size, args.rounds, args.out, args.json)


def cmd_nl_stats(args: argparse.Namespace) -> int:
    from .tools.analysis import run_nl_stats

    return run_nl_stats(args.ckpt_path, args.data, args.root, args.clips, args.json)


def cmd_lift(args: argparse.Namespace) -> int:
    from .tools.analysis import run_lift

    return run_lift(args.ckpt_path, args.data, args.split, args.limit, args.json)


def cmd_visualize(args: argparse.Namespace) -> int:
    from .tools.analysis import run_visualize

    return run_visualize(args.ckpt_path, args.video, args.out, args.blocks)


def cmd_ablate(args: argparse.Namespace) -> int:
    from .tools.ablate import run_ablate

    return run_ablate(args.configs, args.seeds, args.base, args.out, shlex.split(args.extra))


def cmd_export(args: argparse.Namespace) -> int:
    from .tools.export import export_model

    result = export_model(args.ckpt_path, args.format, args.out, args.frames, args.size)
    print(f"wrote {result['path']} ({result['format']}, input {result['input']}); "
          f"max abs diff vs eager: {result['max_abs_diff']:.3g}")
    return 0 if result["max_abs_diff"] < 1e-3 else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from .tools.demo import run_demo

    return run_demo(args.config, args.seed, args.task)


def cmd_data_check(args: argparse.Namespace) -> int:
    from .data.check import run_check

    return run_check(args.source, root=args.root, workers=args.workers, as_json=args.json,
                     out_prefix=args.out, progress=not args.json, num_frames=args.num_frames,
                     sampling_rate=args.sampling_rate, target_fps=args.target_fps, backend=args.backend)


def cmd_data_prepare(args: argparse.Namespace) -> int:
    from .data.prepare import run_prepare

    return run_prepare(args.src, args.dst, args.lists, jobs=args.jobs, progress=not args.json, as_json=args.json,
                       short_side=args.short_side, fps=args.fps, gop=args.gop, crf=args.crf,
                       tune=None if args.tune == "none" else args.tune)


def cmd_data_synth(args: argparse.Namespace) -> int:
    from .data.synth import parse_size, synthesize, synthesize_relation

    if args.task == "relation":
        rows = synthesize_relation(args.out, args.videos_per_class, args.frames, args.fps,
                                   parse_size(args.size or "32x32"), args.colours, args.cue_frames, args.seed,
                                   workers=args.workers)
    else:
        rows = synthesize(args.out, args.classes, args.videos_per_class, args.seconds, args.fps,
                          parse_size(args.size or "96x72"), args.event_frames, args.seed, workers=args.workers)
    print(f"wrote {sum(map(len, rows.values()))} videos ({args.task} task) to {args.out} "
          f"({', '.join(f'{k}: {len(v)}' for k, v in rows.items())})")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    _quiet_third_party_warnings()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from .engine.cli import run_lightning_cli
        return run_lightning_cli(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from .data.decode import VideoError

    try:
        return args.func(args)
    except (FileNotFoundError, PermissionError, ValueError, VideoError) as err:
        # a bad file, option or video: one line naming it, no traceback
        words = [args.command] + [getattr(args, k) for k in ("data_command", "report_command", "analyze_command")
                                  if getattr(args, k, None)]
        print(f"gcvideo {' '.join(words)}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
