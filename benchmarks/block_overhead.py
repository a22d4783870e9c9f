"""CPU forward latency of every registered variant relative to slow_r50, in one run.

Models are timed round-robin (one forward of each per round, shuffled order) so machine
noise hits all of them alike; the printed ratio is the median over rounds of
time(variant) / time(slow_r50) in the same round. A second
slow_r50 instance ("control") is timed too: its ratio shows how far from 1.00 an
identical network lands on this machine, i.e. the resolution of the other ratios.
With slow_r50_gc selected, a copy with its GC blocks unfolded (``fold = False``: the
plain block after conv_c + norm_c, as in training) shows what folding saves.

    python benchmarks/block_overhead.py [--frames 8 --size 224 --rounds 7 --batch 1]
"""
import argparse
import statistics
import torch

from gcvideo.cost import interleaved_latency, latency_ratio
from gcvideo.global_context import GlobalContext3d
from gcvideo.models import MODELS, create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {name: create_model(name).eval() for name in args.models}
    # A second, identical baseline: its ratio is the noise floor of this machine and run.
    models["slow_r50 (control)"] = create_model("slow_r50").eval()
    if "slow_r50_gc" in models:
        unfolded = create_model("slow_r50_gc").eval()
        for module in unfolded.modules():
            if isinstance(module, GlobalContext3d):
                module.fold = False
        models["slow_r50_gc (no fold)"] = unfolded
    clip = torch.randn(args.batch, 3, args.frames, args.size, args.size)
    times = interleaved_latency(models, clip, args.rounds, progress=True)
    base = times.get("slow_r50")
    print(f"\nforward latency, batch {args.batch} x {args.frames}x{args.size}^2, "
          f"{args.threads} threads, {args.rounds} interleaved rounds")
    print(f"{'model':22s} {'median s':>9s} {'min s':>7s} {'ratio':>7s}")
    for name, ts in times.items():
        ratio = f"{latency_ratio(ts, base):6.3f}x" if base else "   n/a"
        print(f"{name:22s} {statistics.median(ts):9.3f} {min(ts):7.3f} {ratio}")

if __name__ == "__main__":
    main()
