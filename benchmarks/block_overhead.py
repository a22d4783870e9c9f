"""CPU forward latency of every registered variant relative to slow_r50, in one run.

Forwards are timed round-robin (one of each per round, shuffled order) so machine noise
hits all of them alike; a ratio is the median over rounds of time / reference time in
the same round, a model and its reference running back to back. Two references:

* ``vs slow_r50``: a separately built baseline. A second baseline instance ("control")
  shows how far from 1.00 an identical network lands: separate instances differ by a
  few % on these CPUs (memory placement), which is the resolution of this column.
* ``vs bypassed``: the variant itself with its blocks bypassed (``bypass_blocks``: the
  same instance and weights, i.e. exactly slow_r50's computation) - the blocks' own cost,
  free of instance effects.

Every network runs in its inference form (``fold_context_blocks``: GC blocks folded into
the conv + BN in front of them); slow_r50_gc is also timed unfolded (the network as
built and trained: the plain block after conv_c + norm_c) to show what folding saves.

Other networks (``--networks``: SlowFast, X3D, I3D with GC) each get their own interleaved
run at their recipe's clip length (SlowFast 32 frames, X3D-M 16, I3D 8) and ``--size``:
folded GC vs the same instance bypassed, and unfolded vs bypassed.

    python benchmarks/block_overhead.py [--frames 8 --size 224 --rounds 7 --batch 1 --networks ...]
"""
import argparse
import statistics

import torch

from gcvideo.tools.timing import bypassed_name, interleaved_latency, latency_ratio, with_bypassed_twins
from gcvideo.models import MODELS, create_model, fold_context_blocks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--models", nargs="*", default=[n for n, e in MODELS.items() if e.family == "slow"])
    parser.add_argument("--networks", nargs="*", default=[n for n, e in MODELS.items()
                                                          if e.family != "slow" and e.spec.get("block")],
                        help="GC variants of other families, each timed against itself bypassed")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    built = {name: create_model(name).eval() for name in args.models}
    nets = {name: fold_context_blocks(net) for name, net in built.items()}   # explicit inference form
    models, groups = with_bypassed_twins({n: net for n, net in nets.items() if n != "slow_r50"})
    twin = {name: bypassed_name(name) for name in nets if name != "slow_r50"}
    models["slow_r50 (control)"] = create_model("slow_r50").eval()
    if "slow_r50" in nets:
        models["slow_r50"] = nets["slow_r50"]
        groups.append(["slow_r50", "slow_r50 (control)"])
    if "slow_r50_gc" in nets:
        models["slow_r50_gc (unfolded)"] = built["slow_r50_gc"]            # same weights, not folded
        twin["slow_r50_gc (unfolded)"] = bypassed_name("slow_r50_gc")
        next(g for g in groups if g[0] == "slow_r50_gc").append("slow_r50_gc (unfolded)")
    clip = torch.randn(args.batch, 3, args.frames, args.size, args.size)
    times = interleaved_latency(models, clip, args.rounds, progress=True, groups=groups)

    base = times.get("slow_r50")
    print(f"\nforward latency, batch {args.batch} x {args.frames}x{args.size}^2, "
          f"{args.threads} threads, {args.rounds} interleaved rounds")
    print(f"{'model':24s} {'median s':>9s} {'min s':>7s} {'vs slow_r50':>12s} {'vs bypassed':>12s}")
    variants = [n for n in nets if n != "slow_r50"]
    for name in ["slow_r50", *variants, "slow_r50 (control)", "slow_r50_gc (unfolded)"]:
        if name not in times:
            continue
        ts = times[name]
        vs_base = f"{latency_ratio(ts, base):11.3f}x" if base else "n/a".rjust(12)
        vs_self = f"{latency_ratio(ts, times[twin[name]]):11.3f}x" if name in twin else "".rjust(12)
        print(f"{name:24s} {statistics.median(ts):9.3f} {min(ts):7.3f} {vs_base} {vs_self}")
    for name in args.networks:
        other_network(name, args)


def other_network(name: str, args) -> None:
    """One network of another family: folded and unfolded GC, each vs the same instance bypassed."""
    built = create_model(name).eval()
    folded = fold_context_blocks(built)
    models, groups = with_bypassed_twins({name: folded, f"{name} (unfolded)": built})
    frames = MODELS[name].clip[0]
    clip = torch.randn(args.batch, 3, frames, args.size, args.size)
    times = interleaved_latency(models, clip, args.rounds, groups=groups)
    for label in (name, f"{name} (unfolded)"):
        ts = times[label]
        print(f"{label:24s} {statistics.median(ts):9.3f} {min(ts):7.3f} {'':>12s} "
              f"{latency_ratio(ts, times[bypassed_name(label)]):11.3f}x   ({frames}x{args.size}^2)", flush=True)


if __name__ == "__main__":
    main()
