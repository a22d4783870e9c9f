"""Attention pooling implementations side by side (the GC block's only spatial work).

``pool_positions`` (``sum_j softmax_j(k . x_j) x_j``) can be written as two batched
matrix-vector products (gcvideo's way: ``matmul``) or as broadcast multiply + reduce
(``reduce``) or with ``einsum``. They compute the same function; which one is fastest
depends on the device, the dtype and the memory layout. This prints, in one run:

1. one GC block at c3/c4/c5 sizes of Slow-only R50 (batch 16, 8x224^2 input), forward +
   backward under bf16 autocast in channels_last_3d, per implementation, next to the
   identity (what a bypassed block costs);
2. a whole slow_r50_gc training step with each implementation patched in, against
   slow_r50 (interleaved rounds);
3. a profile of one GC block at c3 and c5 (forward + backward): aten ops by device time.

    python benchmarks/attention_pool.py [--batch 16 --frames 8 --size 224 --rounds 5]
"""
import argparse
import statistics
import time

import torch

import gcvideo.layers.attention_pool as gc_module   # AttentionPool3d reads pool_positions from here
from gcvideo.layers.global_context import GlobalContext3d
from gpu_check import autocast, make_trainee, sync, train_step, training_batch   # benchmarks/ is on sys.path


def pool_reduce(x: torch.Tensor, key=None) -> torch.Tensor:
    n, c = x.shape[:2]
    if key is None:
        return x.mean(dim=(2, 3, 4)).view(n, c, 1)
    logits = (x * key.to(x.dtype).view(1, c, 1, 1, 1)).sum(1, dtype=torch.float32)   # (N, T, H, W)
    weights = logits.flatten(1).softmax(-1).view_as(logits).unsqueeze(1).to(x.dtype)
    return (x * weights).sum((2, 3, 4), dtype=torch.float32).to(x.dtype).view(n, c, 1)


def pool_einsum(x: torch.Tensor, key=None) -> torch.Tensor:
    n, c = x.shape[:2]
    if key is None:
        return x.mean(dim=(2, 3, 4)).view(n, c, 1)
    flat = x.flatten(2)                                                           # (N, C, P)
    weights = torch.einsum("ncp,c->np", flat, key.to(x.dtype).view(c)).softmax(-1).to(x.dtype)
    return torch.einsum("ncp,np->nc", flat, weights).view(n, c, 1)


POOLS = {"matmul-original": gc_module.pool_positions, "reduce": pool_reduce, "einsum": pool_einsum}


def timed(fn, device, repeat: int) -> float:
    fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeat


def block_input(args, channels: int, side: int, device) -> tuple:
    """A GC block's input at a stage, bf16 as a BatchNorm under autocast hands it over,
    channels_last_3d, and a gradient for its output."""
    x = torch.randn(args.batch, channels, args.frames, side, side, device=device, dtype=torch.bfloat16)
    x = x.contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    return x, torch.randn_like(x)


def forward_backward(layer, x: torch.Tensor, grad: torch.Tensor) -> None:
    with autocast(x.device, torch.bfloat16):
        y = layer(x)
    y.backward(grad)


def block_table(args, device) -> None:
    print(f"\n1. one GC block, forward + backward, batch {args.batch}, bf16 autocast, channels_last_3d (ms)")
    stages = {"c3": (512, args.size // 8), "c4": (1024, args.size // 16), "c5": (2048, args.size // 32)}
    print(f"{'stage':6s} {'identity':>9s} " + " ".join(f"{name:>16s}" for name in POOLS))
    for stage, (channels, side) in stages.items():
        block = GlobalContext3d(channels).to(device)
        torch.nn.init.normal_(block.transform[-1].weight, std=0.02)
        x, grad = block_input(args, channels, side, device)
        row = {}
        reference = None
        for name, pool in [("identity", None), *POOLS.items()]:
            layer = (lambda v: v * 1.0) if pool is None else block
            if pool is not None:
                gc_module.pool_positions = pool
                with autocast(device, torch.bfloat16):
                    out = block(x).float()
                if reference is None:
                    reference = out
                err = (out - reference).abs().max().item()
                assert err < 0.05 * reference.abs().max().item(), (name, err)
            row[name] = 1000 * timed(lambda: forward_backward(layer, x, grad), device, args.repeat)
            x.grad = None
        gc_module.pool_positions = POOLS["matmul-original"]
        print(f"{stage:6s} {row['identity']:9.2f} " + " ".join(f"{row[n]:16.2f}" for n in POOLS))


def network_table(args, device) -> None:
    print(f"\n2. training step (SGD), batch {args.batch} x {args.frames}x{args.size}^2, bf16 autocast, "
          f"channels_last_3d, median of {args.rounds} interleaved rounds")
    clip, labels = training_batch(args.batch, args.frames, args.size, device)
    runs = {name: make_trainee(name, device) for name in ("slow_r50", "slow_r50_gc")}
    variants = [("slow_r50", "slow_r50", None)] + [(f"slow_r50_gc {p}", "slow_r50_gc", p) for p in POOLS]
    times = {label: [] for label, _, _ in variants}

    def step(net, opt):
        train_step(net, opt, clip, labels, device)

    for label, name, pool in variants:      # warm-up
        gc_module.pool_positions = POOLS[pool] if pool else POOLS["matmul-original"]
        step(*runs[name])
    for _ in range(args.rounds):
        for label, name, pool in variants:
            gc_module.pool_positions = POOLS[pool] if pool else POOLS["matmul-original"]
            times[label].append(timed(lambda: step(*runs[name]), device, args.steps))
    gc_module.pool_positions = POOLS["matmul-original"]
    base = times["slow_r50"]
    for label, ts in times.items():
        ratio = statistics.median(b / t for b, t in zip(base, ts))
        print(f"{label:28s} {args.batch / statistics.median(ts):8.1f} clips/s {ratio:6.3f}x of slow_r50")


def profile_table(args, device) -> None:
    """Where a GC block's time goes: aten ops (with their CUDA time) of one c3 and one c5
    block, forward + backward."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    for stage, channels, side in (("c3", 512, args.size // 8), ("c5", 2048, args.size // 32)):
        block = GlobalContext3d(channels).to(device)
        x, grad = block_input(args, channels, side, device)
        forward_backward(block, x, grad)
        sync(device)
        with profile(activities=activities) as prof:
            for _ in range(args.repeat):
                forward_backward(block, x, grad)
            sync(device)
        print(f"\n3. aten ops of {args.repeat} GC blocks at {stage} (forward + backward)")
        print(prof.key_averages().table(sort_by=sort, row_limit=14, max_name_column_width=48))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="steps timed together per round")
    parser.add_argument("--repeat", type=int, default=10, help="block repetitions timed together")
    parser.add_argument("--parts", nargs="*", type=int, choices=(1, 2, 3), default=(1, 2, 3))
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}, torch {torch.__version__}")
    for part, table in ((1, block_table), (2, network_table), (3, profile_table)):
        if part in args.parts:
            table(args, device)


if __name__ == "__main__":
    main()
