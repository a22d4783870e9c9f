"""Peak memory and time of one training step with and without activation checkpointing.

Each variant runs in a fresh process: build the network and its input, then ``--steps`` forward +
backward passes (SGD step included) of a batch of 8x224^2 clips: the median time (the first step
included: it also creates the gradients and the optimiser state, alike in both), and the memory peak
above what the process held before the first step. CPU: the rise of the process's
peak RSS above its RSS before the measured step (Linux, reset through /proc/self/clear_refs);
CUDA: ``torch.cuda.max_memory_allocated``. Prints both and their ratio.

    python benchmarks/activation_memory.py [--model slow_r50_gc] [--batch 2] [--device cpu]
"""
import argparse
import json
import subprocess
import sys

STEP = r"""
import json, sys, time, torch, torch.nn.functional as F
from gcvideo import create_model
from gcvideo.models.checkpointing import checkpoint_blocks
name, batch, device, checkpointed = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
STEPS = int(sys.argv[5])
torch.manual_seed(0)
model = create_model(name, num_classes=400).to(device).train()
if checkpointed:
    checkpoint_blocks(model)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
clip = torch.randn(batch, 3, 8, 224, 224, device=device)
labels = torch.zeros(batch, dtype=torch.long, device=device)
def step():
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(model(clip), labels).backward()
    opt.step()
def rss(field):
    return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1]) * 1024
if device == "cuda":
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
else:
    open("/proc/self/clear_refs", "w").write("5"); base = rss("VmRSS:")
seconds = []
for _ in range(STEPS):
    start = time.perf_counter()
    step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds.append(time.perf_counter() - start)
peak = torch.cuda.max_memory_allocated() if device == "cuda" else rss("VmHWM:")
print(json.dumps({"peak_gib": (peak - base) / 2 ** 30, "seconds": sorted(seconds)[len(seconds) // 2]}))
"""


def measure(model: str, batch: int, device: str, checkpointed: bool, steps: int) -> dict:
    out = subprocess.run([sys.executable, "-c", STEP, model, str(batch), device, "1" if checkpointed else "0", str(steps)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="slow_r50_gc")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=3, help="measured steps (median time, peak memory)")
    args = parser.parse_args()
    plain = measure(args.model, args.batch, args.device, False, args.steps)
    held = measure(args.model, args.batch, args.device, True, args.steps)
    print(f"{args.model}, batch {args.batch} of 8x224^2, {args.device}: one training step")
    print(f"{'':28s} {'memory (GiB)':>13s} {'time (s)':>9s}   (peak above the start; median of {args.steps} steps)")
    print(f"{'without checkpointing':28s} {plain['peak_gib']:13.2f} {plain['seconds']:9.2f}")
    print(f"{'activation checkpointing':28s} {held['peak_gib']:13.2f} {held['seconds']:9.2f}")
    print(f"ratio (with / without): memory {held['peak_gib'] / plain['peak_gib']:.2f}x, "
          f"time {held['seconds'] / plain['seconds']:.2f}x")


if __name__ == "__main__":
    main()
