"""The ``gcvideo`` command line: a dispatcher.

``gcvideo fit|validate|test`` are LightningCLI commands (``gcvideo.engine.lightning_cli``); every other
command is a typed ``run_*`` function of ``gcvideo.tools`` whose signature and docstring are its
arguments and help (``gcvideo.tools.commands``). Only the chosen command's module is imported.
"""
import argparse
import importlib
import sys
import warnings
from typing import Optional

LIGHTNING_HELP = {"fit": "train a network, or resume a run with --ckpt_path last",
                  "validate": "a checkpoint's accuracy on the val split (the test protocol's views)",
                  "test": "a checkpoint's 30-view (10 clips x 3 crops) accuracy with reports"}
LIGHTNING_COMMANDS = tuple(LIGHTNING_HELP)
# command words -> "module:function" in gcvideo.tools
COMMANDS = {
    ("models",): "info:run_models",
    ("info",): "info:run_info",
    ("predict",): "predict:run_predict",
    ("features",): "features:run_features",
    ("report", "costs"): "cost_report:run_cost_report",
    ("report", "run"): "run_report:run_report",
    ("analyze", "nl-stats"): "analyze:run_nl_stats",
    ("analyze", "lift"): "analyze:run_lift",
    ("visualize",): "analyze:run_visualize",
    ("ablate",): "ablate:run_ablate",
    ("export",): "export:run_export",
    ("convert",): "convert:run_convert",
    ("demo",): "demo:run_demo",
    ("configs",): "config_files:run_configs",
    ("data", "check"): "data:run_data_check",
    ("data", "prepare"): "data:run_data_prepare",
    ("data", "synth"): "data:run_data_synth",
    ("data", "shard"): "data:run_data_shard",
}
GROUPS = {"report": "result tables and run reports (HTML)", "analyze": "statistics of trained networks",
          "data": "check, prepare and shard video collections, generate Kinetics-format data"}
DESCRIPTION = """Global Context (GCNet) blocks and Slow-only ResNet-50 video models.

Training and evaluation (LightningCLI; `gcvideo fit --help` lists every option):
  gcvideo fit --config kinetics400/base.yaml --config models/gc.yaml   (shipped: gcvideo configs)
  gcvideo validate|test --config ... --ckpt_path runs/.../best.ckpt   (10x3 views)
Tools (`gcvideo COMMAND --help`):
  gcvideo predict video.mp4 --ckpt_path runs/.../best.ckpt"""


def tool_function(spec: str):
    """The ``run_*`` function that ``spec`` (``"module:function"`` of ``COMMANDS``) names."""
    module, name = spec.split(":")
    return getattr(importlib.import_module(f"gcvideo.tools.{module}"), name)


def tool_summary(spec: str) -> str:
    """The first line of that function's docstring, read from its source without importing the
    module (which may import torch): the command list prints at once."""
    import ast
    import importlib.util

    module, name = spec.split(":")
    with open(importlib.util.find_spec(f"gcvideo.tools.{module}").origin, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name)
    return (ast.get_docstring(function) or "").strip().splitlines()[0]


def build_parser(only: Optional[tuple] = None) -> argparse.ArgumentParser:
    """The parser of every tool command (``only`` None), or the command list with ``only``'s full
    parser (``()``: none of them); a command not built is listed by its summary, its module not
    imported."""
    parser = argparse.ArgumentParser(prog="gcvideo", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    levels = {(): parser.add_subparsers(dest="command", metavar="COMMAND")}
    for command, text in LIGHTNING_HELP.items():      # listed here; main() hands them to LightningCLI
        levels[()].add_parser(command, help=f"{text} (LightningCLI: `gcvideo {command} --help`)")
    for words, spec in COMMANDS.items():
        group = words[:-1]
        if group not in levels:
            levels[group] = levels[()].add_parser(group[0], help=GROUPS[group[0]]).add_subparsers(
                dest=f"{group[0]}_command", metavar="ACTION", required=True)
        if only is None or only == words:
            from .tools.commands import add_command
            add_command(levels[group], words[-1], tool_function(spec))
        else:
            levels[group].add_parser(words[-1], help=tool_summary(spec))
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """``gcvideo ...``: the exit status of the command. A reader that goes away (``gcvideo configs |
    head -5``) ends it quietly, as a Unix tool ends: exit 141 (128 + SIGPIPE), no traceback."""
    try:
        return _run(argv)
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # nothing left to flush at exit
        return 141


def _run(argv: Optional[list[str]] = None) -> int:
    # pytorchvideo decorates functions with torch.jit.script at import time; Lightning 2.6 vs torch 2.14's pytree
    warnings.filterwarnings("ignore", message=".*torch\\.jit\\.[a-z_]*`? is deprecated", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")
    argv = sys.argv[1:] if argv is None else list(argv)
    for stream in (sys.stdout, sys.stderr):       # a file name that is not UTF-8 prints, escaped
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    if argv and argv[0] in LIGHTNING_COMMANDS:
        from .engine.lightning_cli import run_lightning_cli
        return run_lightning_cli(argv)
    chosen = next((words for words in COMMANDS if tuple(argv[:len(words)]) == words), None)
    parser = build_parser(chosen or ())
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from .tools.commands import call

    try:
        return call(args.func, args)
    except BaseException as err:        # the error classes are imported only when one is raised
        return _exit_status(err, chosen)


def _exit_status(err: BaseException, chosen: tuple) -> int:
    """The exit status and one line for a command's error; anything unexpected is raised on."""
    from .data.decode import VideoError
    from .files import Diverged, FolderInUse, Terminated, WriteFailed

    try:
        raise err
    except Terminated as err:
        print(f"gcvideo {' '.join(chosen)}: {err}", file=sys.stderr)   # pre-empted: rerun to resume
        return 143
    except Diverged as err:
        print(f"gcvideo {' '.join(chosen)}: error: {err}", file=sys.stderr)
        return 1
    except (FileNotFoundError, PermissionError, ValueError, VideoError, FolderInUse, WriteFailed) as err:
        print(f"gcvideo {' '.join(chosen)}: {err}", file=sys.stderr)   # a bad file, option or video
        return 2
    except KeyboardInterrupt:
        print(f"gcvideo {' '.join(chosen)}: interrupted; what was finished is kept: run the same command again "
              "to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
