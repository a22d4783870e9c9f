"""Training-step throughput (forward + backward + SGD step) of every variant vs slow_r50, CPU.

Variants are stepped round-robin so noise hits them alike; printed as clips/s and as
the ratio to the baseline measured in the same run.

    python benchmarks/train_step.py [--frames 8 --size 224 --batch 1 --rounds 3]
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from gcvideo.models import MODELS, create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=[n for n, e in MODELS.items() if e.family == "slow"],
                        help="registered models (default: the Slow-only family, timed against slow_r50)")
    args = parser.parse_args()
    torch.manual_seed(0)
    clip = torch.randn(args.batch, 3, args.frames, args.size, args.size)
    label = torch.zeros(args.batch, dtype=torch.long)
    runs = {}
    for name in args.models:
        model = create_model(name).train()
        runs[name] = (model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    times = {name: [] for name in runs}

    def step(model, opt):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(clip), label).backward()
        opt.step()

    for model, opt in runs.values():   # warm-up
        step(model, opt)
    for r in range(args.rounds):
        for name, (model, opt) in runs.items():
            start = time.perf_counter()
            step(model, opt)
            times[name].append(time.perf_counter() - start)
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    base = statistics.median(times["slow_r50"]) if "slow_r50" in times else None
    print(f"\ntraining step, batch {args.batch} x {args.frames}x{args.size}^2, median of {args.rounds} rounds")
    print(f"{'model':16s} {'clips/s':>8s} {'time ratio':>11s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:16s} {args.batch / med:8.3f} {med / base if base else float('nan'):10.3f}x")


if __name__ == "__main__":
    main()
