"""Aten ops one context block dispatches for one forward + backward, fp32 and under bf16 autocast.

Host-side dispatch is what a GC block costs on a GPU (each op ~10-20 us of launch overhead,
docs/gpu_profile.md): fewer ops is less time where the GPU waits. Counted with a
``TorchDispatchMode`` on CPU (the counts do not depend on the device), C=512, a (2, 512, 8, 14, 14)
input (c4 of slow_r50 at batch 2), the input requiring grad (as inside a network).

    python benchmarks/dispatch_count.py [--channels 512] [--json]
"""
import argparse
import json
from collections import Counter

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from gcvideo.layers import make_block
from gcvideo.models import fold_context_blocks



def reference_gc(block, x: torch.Tensor) -> torch.Tensor:
    """The GC block as gcvideo computed it before the lean forward (same parameters, same
    numbers): matmuls over flattened tensors, the LayerNorm on a flattened view."""
    def pointwise(layer, t):
        n, _, a, b, c = t.shape
        y = torch.matmul(layer.weight.view(layer.out_channels, layer.in_channels).to(t.dtype), t.flatten(2))
        return (y + layer.bias.to(y.dtype).view(1, -1, 1)).view(n, layer.out_channels, a, b, c)

    n, c = x.shape[0], x.shape[1]
    flat = x.flatten(2)
    weights = torch.matmul(block.pool.weight.view(1, c).to(flat.dtype), flat).softmax(dim=-1)
    context = torch.matmul(flat, weights.to(x.dtype).transpose(1, 2)).view(n, c, 1, 1, 1)
    norm = block.transform[1]
    h = pointwise(block.transform[0], context)
    h = F.layer_norm(h.flatten(1), norm.normalized_shape, norm.weight, norm.bias, norm.eps).view_as(h)
    delta = pointwise(block.transform[3], torch.relu(h)).to(x.dtype)
    return x + delta


class CountOps(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func.overloadpacket.__name__)] += 1
        return func(*args, **(kwargs or {}))


def count(block, x: torch.Tensor, autocast: bool, backward: bool = True, params=()) -> Counter:
    """Ops of one forward (+ backward) of ``block(x)``, with the parameters' grads unset first, as
    after ``optimizer.zero_grad()``; under autocast ``x`` is bf16, as a conv + BN hands it over."""
    for p in params:
        p.grad = None
    counter = CountOps()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast), counter:
        y = block(x)
        if backward:
            y.float().sum().backward()
    return counter.ops


def clip(channels: int, autocast: bool) -> torch.Tensor:
    x = torch.randn(2, channels, 8, 14, 14, generator=torch.Generator().manual_seed(0))
    return (x.bfloat16() if autocast else x).requires_grad_()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = {}
    precisions = (("fp32", False), ("bf16 autocast", True))
    for kind in ("gc", "snl", "nl", "se"):
        block = make_block(kind, args.channels).train()
        for name, autocast in precisions:
            ops = count(block, clip(args.channels, autocast), autocast, params=block.parameters())
            rows[(kind, name)] = {"ops": sum(ops.values()), "top": ops.most_common(5)}
            if kind == "gc":
                old = count(lambda t: reference_gc(block, t), clip(args.channels, autocast), autocast,
                            params=block.parameters())
                rows[(kind, name)]["before"] = sum(old.values())
    host = torch.nn.Sequential(torch.nn.Conv3d(args.channels // 4, args.channels, 1),
                               torch.nn.BatchNorm3d(args.channels), make_block("gc", args.channels)).eval()
    folded = fold_context_blocks(host)
    with torch.no_grad():
        x = torch.randn(2, args.channels // 4, 8, 14, 14)
        folded_ops = sum(count(folded, x, False, backward=False).values())
        conv_bn = sum(count(host[:2], x, False, backward=False).values())
    if args.json:
        print(json.dumps({f"{k} {n}": v["ops"] for (k, n), v in rows.items()}
                         | {f"gc {n} before": rows[("gc", n)]["before"] for n, _ in precisions}
                         | {"gc folded inference": folded_ops, "conv + BN inference": conv_bn}))
        return
    print(f"aten ops per block, one forward + backward, C={args.channels}, input (2, C, 8, 14, 14) requiring grad, "
          "grads unset (as after zero_grad); autocast: a bf16 input")
    print(f"{'block':6s} {'precision':14s} {'ops':>5s} {'before':>7s} {'ratio':>6s}  most frequent")
    for (kind, name), row in rows.items():
        before = row.get("before")
        ratio = f"{row['ops'] / before:.2f}" if before else "-"
        top = ", ".join(f"{op} {n}" for op, n in row["top"])
        print(f"{kind:6s} {name:14s} {row['ops']:5d} {before or '-':>7} {ratio:>6s}  {top}")
    print(f"folded GC inference (conv + BN + block in one, eval, forward only): {folded_ops} ops; "
          f"the conv + BN alone: {conv_bn}")
    print("before: the GC block as computed before the lean forward (reference_gc), counted in this run")


if __name__ == "__main__":
    main()
