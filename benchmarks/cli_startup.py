"""How long the command line takes to answer, as ratios to Python's own start, measured side by side.

Each command runs ``--runs`` times in a fresh process, interleaved with ``python -c pass`` and
``python -c "import torch"`` (the floor every command that touches a network pays); prints the
median seconds of each and its ratio to ``python -c pass``. ``gcvideo --help``, ``configs`` and
``models`` import neither torch nor pytorchvideo, nor does ``info MODEL`` at its recipe clip (the
catalog's recorded figures); ``info MODEL --measure`` builds the model and its plain network and
counts both networks' FLOPs with fvcore (a traced forward of each).

    python benchmarks/cli_startup.py [--runs 5] [--model slow_r50_gc]
"""
import argparse
import statistics
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--model", default="slow_r50_gc")
    args = parser.parse_args()
    gcvideo = [sys.executable, "-m", "gcvideo.cli"]
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "python -c 'import torch'": [sys.executable, "-c", "import torch"],
                "gcvideo --help": [*gcvideo, "--help"], "gcvideo configs": [*gcvideo, "configs"],
                "gcvideo models": [*gcvideo, "models"], f"gcvideo info {args.model}": [*gcvideo, "info", args.model],
                f"gcvideo info {args.model} --measure": [*gcvideo, "info", args.model, "--measure"]}
    seconds = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, command in commands.items():               # interleaved: a busy moment hits all
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seconds[name].append(time.perf_counter() - start)
    floor = statistics.median(seconds["python -c pass"])
    print(f"{'command':34s} {'median s':>9s} {'x python -c pass':>17s}")
    for name, runs in seconds.items():
        median = statistics.median(runs)
        print(f"{name:34s} {median:9.2f} {median / floor:17.1f}")


if __name__ == "__main__":
    main()
