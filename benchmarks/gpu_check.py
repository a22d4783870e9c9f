"""GPU check: one prepared command that proves gcvideo's GPU path and measures it.

    make gpu-check                                  # on a CUDA machine: installs, then this script
    python benchmarks/gpu_check.py                  # the full check where CUDA is available
    python benchmarks/gpu_check.py --tiny           # the same steps at toy sizes on the CPU (CI)

Eight steps, each recorded in the JSON (default ``docs/gpu_check.json``) as soon as it ends,
so a crash or a time limit loses nothing measured before it; a failing step is recorded
with its error and the others still run (``--steps`` picks them and their order):

1. ``train``: training throughput (forward + backward + SGD step, bf16 autocast,
   channels_last_3d, batch 16 of 8x224^2) of slow_r50 and its GC / NL5 / SE variants,
   stepped round-robin in one run; clips/s, ratio to slow_r50, peak GPU memory of a step.
2. ``compile``: the same with the models compiled in place (``nn.Module.compile``, as
   ``model.compile`` does), as many as fit the compile budget and ``--time-limit`` (compile time
   reported; the rest skipped with the reason). On CUDA the models are first compiled side by
   side in one process each, which fills inductor's caches; the timed process then compiles
   from them (both times reported); the ratio to eager is each model's clips/s over step 1's.
3. ``infer``: 30-view test batches (30 x 3 x 8 x 256^2, forwarded in chunks) of slow_r50_gc
   folded vs unfolded vs blocks bypassed (bf16 autocast), and the largest logit difference
   of fp16 / bf16 autocast and of the folded path against fp32 (TF32 off) on one input.
   Zero-initialised weights (GC's last conv, the branches' last BN scales) and the BN
   statistics get random values first, so every path changes the output (``randomize``).
4. ``fit``: a real ``gcvideo fit`` of demo/order.yaml (on a smaller generated set) for
   2 epochs with GPU, 16-mixed, SyncBatchNorm and DDP (one NCCL process), resumed from
   ``last`` for a third epoch, then ``gcvideo test`` of it with 10x3 views.
5. ``data``: the training pipeline's clips/s with one worker per core on generated
   340x256 10 s videos for each decoding backend that loads (pyav, decord, torchcodec,
   torchcodec-cuda: NVDEC) and for repeated augmentation (2 clips per decoded video, pyav),
   against the slow_r50_gc training clips/s of step 1 (ratio >= 1: the data keeps up; < 1:
   training is data-bound).
6. ``memory``: one slow_r50_gc training step with and without activation checkpointing
   (``model.activation_checkpointing``): peak memory (``max_memory_allocated`` above what was
   resident) and step time.
7. ``profile``: ``torch.profiler`` over training steps of slow_r50 and slow_r50_gc: wall time
   per step against the GPU's kernel time per step (the share the GPU is busy; the rest is the
   host dispatching), and the GC network's most expensive ops.
8. ``decode``: decode-only clips/s of each backend in one process (the bound one loader worker
   puts on the data; NVDEC against the CPU decoders) on the same generated videos.

On a machine without CUDA every step runs at toy sizes (seconds; ``--tiny`` is then the
default: small clips and batches, narrow networks of the same blocks) so CI executes the same code;
only device placement and sizes differ.
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gcvideo.data import decode
from gcvideo.tools.timing import RunUnder, interleaved_latency, latency_ratio
from gcvideo.layers.global_context import GlobalContext3d
from gcvideo.models.insert import bypass_blocks
from gcvideo.models import channels_last_3d, create_model, fold_context_blocks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))    # sibling benchmarks (decode_throughput)
TRAIN_MODELS = ("slow_r50", "slow_r50_gc", "slow_r50_nl5", "slow_r50_se")
STEPS = ("train", "compile", "infer", "fit", "data", "memory", "profile", "decode")
RESERVE_S = {"train": 40, "infer": 20, "fit": 120, "data": 90, "memory": 15, "profile": 20, "decode": 40}   # at full size, on an H200


@dataclass(frozen=True)
class Sizes:
    frames: int
    size: int
    batch: int
    rounds: int               # interleaved rounds of training steps
    steps_per_round: int      # steps of one model timed together
    views: int                # views of one test video (30 = 10 clips x 3 crops)
    view_size: int
    view_chunk: int           # views forwarded together
    infer_rounds: int
    compile_budget_s: float   # compile starts only while this much is left
    fit_videos_per_class: int
    data_videos: int          # distinct generated 340x256 10 s videos (repeated in the list)
    data_clips: int           # clips timed after the first batch
    data_batch: int
    profile_steps: int = 3
    decode_clips: int = 1     # clips per video in the decode-only step
    decode_rounds: int = 1
    backbone: tuple = ()      # (option, value) pairs for the networks: () is the registered R50


FULL = Sizes(frames=8, size=224, batch=16, rounds=6, steps_per_round=3, views=30, view_size=256,
             view_chunk=10, infer_rounds=5, compile_budget_s=400, fit_videos_per_class=20,
             data_videos=16, data_clips=960, data_batch=16, profile_steps=5,
             decode_clips=3, decode_rounds=2)
TINY = Sizes(frames=4, size=32, batch=2, rounds=2, steps_per_round=1, views=6, view_size=32,
             view_chunk=3, infer_rounds=2, compile_budget_s=1, fit_videos_per_class=3,
             data_videos=4, data_clips=8, data_batch=2, profile_steps=1,
             backbone=(("depths", (1, 4, 6, 1)), ("width", 8)))   # narrow, deep enough for NL's 5 positions


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


# --- 1, 2: training throughput --------------------------------------------------------------
def make_trainee(name: str, sizes: Sizes, device: torch.device) -> tuple:
    model = channels_last_3d(create_model(name, **dict(sizes.backbone)).to(device).train())
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def training_batch(batch: int, frames: int, size: int, device: torch.device) -> tuple:
    """A channels_last_3d clip batch and its labels, seeded: every model sees the same."""
    gen = torch.Generator().manual_seed(0)
    clip = torch.randn(batch, 3, frames, size, size, generator=gen).to(device)
    labels = torch.randint(0, 400, (batch,), generator=gen).to(device)
    return clip.contiguous(memory_format=torch.channels_last_3d), labels


def train_step(model, opt, clip, labels, device) -> None:
    with autocast(device, torch.bfloat16):
        loss = F.cross_entropy(model(clip), labels)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def time_training(runs: dict, sizes: Sizes, device: torch.device, resident: bool = True) -> dict:
    """Round-robin timing of ``{name: (model, optimizer)}``; clips/s, ratio, peak memory (with
    ``resident`` False, only what a step allocates above what was resident before it)."""
    clip, labels = training_batch(sizes.batch, sizes.frames, sizes.size, device)
    times = {name: [] for name in runs}
    peak = {name: 0 for name in runs}
    for r in range(sizes.rounds):
        for name, (model, opt) in runs.items():
            if device.type == "cuda":
                # this step's own memory: what it allocates on top of everything resident,
                # plus (``resident``) this model's weights and optimizer state
                own = tensor_bytes(model.parameters()) + tensor_bytes(
                    v for s in opt.state.values() for v in s.values() if torch.is_tensor(v)) if resident else 0
                before = torch.cuda.memory_allocated(device)
                torch.cuda.reset_peak_memory_stats(device)
            sync(device)
            start = time.perf_counter()
            for _ in range(sizes.steps_per_round):
                train_step(model, opt, clip, labels, device)
            sync(device)
            times[name].append((time.perf_counter() - start) / sizes.steps_per_round)
            if device.type == "cuda":
                peak[name] = max(peak[name], torch.cuda.max_memory_allocated(device) - before + own)
        print(f"  training round {r + 1}/{sizes.rounds}", flush=True)
    base = times.get("slow_r50")
    rows = {}
    for name, ts in times.items():
        rows[name] = {"clips_per_s": sizes.batch / statistics.median(ts),
                      "step_ms": 1000 * statistics.median(ts),
                      "vs_slow_r50": latency_ratio(base, ts) if base else None,   # throughput ratio
                      "peak_gib": peak[name] / 2 ** 30 if device.type == "cuda" else None}
    return rows


def step_train(sizes: Sizes, device: torch.device) -> dict:
    runs = {name: make_trainee(name, sizes, device) for name in TRAIN_MODELS}
    clip, labels = training_batch(sizes.batch, sizes.frames, sizes.size, device)
    for model, opt in runs.values():                   # warm-up (cuDNN algorithm search)
        train_step(model, opt, clip, labels, device)
    sync(device)
    return {"models": time_training(runs, sizes, device),
            "setting": f"batch {sizes.batch} x {sizes.frames}x{sizes.size}^2, bf16 autocast, "
                       f"channels_last_3d, SGD momentum 0.9, median of {sizes.rounds} interleaved rounds "
                       f"of {sizes.steps_per_round} steps"}


def prime_compile(names, backend: str, work: str, deadline: float, tiny: bool = False) -> dict:
    """Compile each model in a process of its own, all at once: inductor's caches (on disk, shared)
    then hold every graph, and the timed process compiles from them. {name: seconds or error}."""
    procs = {}
    for name in names:
        log = open(os.path.join(work, f"prime_{name}.log"), "w")
        procs[name] = (subprocess.Popen([sys.executable, os.path.abspath(__file__), "--prime", name,
                                         "--compile-backend", backend, *(["--tiny"] if tiny else [])],
                                        stdout=log, stderr=subprocess.STDOUT, cwd=REPO), log)
    seconds = {}
    for name, (proc, log) in procs.items():
        try:
            proc.wait(timeout=max(1.0, deadline - time.perf_counter()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        with open(log.name) as f:
            lines = f.read().splitlines()
        last = lines[-1] if lines else ""
        # the time counts once printed: on the H200 the children were still shutting down inductor's
        # compile workers when the deadline came (killed after their result)
        seconds[name] = json.loads(last)["compile_s"] if last.startswith('{"compile_s"') else \
            f"exit {proc.returncode}: {last[:200]}"
    return seconds


def prime_one(name: str, backend: str, sizes: Sizes, device: torch.device) -> None:
    """The child of :func:`prime_compile`: compile ``name``, two steps, print the time as JSON."""
    torch.backends.cudnn.benchmark = device.type == "cuda"
    model, opt = make_trainee(name, sizes, device)
    model.compile(backend=backend)
    clip, labels = training_batch(sizes.batch, sizes.frames, sizes.size, device)
    start = time.perf_counter()
    for _ in range(2):
        train_step(model, opt, clip, labels, device)
    sync(device)
    print(json.dumps({"compile_s": time.perf_counter() - start}), flush=True)
    os._exit(0)        # no waiting for inductor's compile-worker pool to shut down


def step_compile(sizes: Sizes, device: torch.device, backend: str, work: str, deadline: float,
                 eager: dict) -> dict:
    clip, labels = training_batch(sizes.batch, sizes.frames, sizes.size, device)
    runs, compile_s, skipped = {}, {}, {}
    primed = prime_compile(TRAIN_MODELS, backend, work, deadline - 60, sizes is TINY) if device.type == "cuda" else {}
    spent, slowest = 0.0, 0.0
    for name in TRAIN_MODELS:           # baseline and GC first: the pair that matters most
        left = deadline - time.perf_counter()
        # from a filled cache a compile is mostly tracing; a model whose priming failed compiles cold
        expected = max(slowest, 30.0 if isinstance(primed.get(name), float) else 90.0)
        if spent >= sizes.compile_budget_s or left < 1.5 * expected + 15:
            skipped[name] = (f"compile budget of {sizes.compile_budget_s:.0f} s spent ({spent:.0f} s)"
                             if spent >= sizes.compile_budget_s else f"time limit: {left:.0f} s left")
            continue
        model, opt = make_trainee(name, sizes, device)
        model.compile(backend=backend)  # in place, as model.compile does
        start = time.perf_counter()
        for _ in range(2):              # the first step compiles forward and backward
            train_step(model, opt, clip, labels, device)
        sync(device)
        compile_s[name] = time.perf_counter() - start
        spent += compile_s[name]
        slowest = max(slowest, compile_s[name])
        runs[name] = (model, opt)
        print(f"  compiled {name} in {compile_s[name]:.1f} s", flush=True)
    rows = time_training(runs, sizes, device) if runs else {}
    for name in rows:
        rows[name]["compile_s"] = compile_s[name]
        if isinstance(primed.get(name), float):
            rows[name]["cold_compile_s"] = primed[name]
        if name in eager:
            rows[name]["vs_eager"] = rows[name]["clips_per_s"] / eager[name]["clips_per_s"]
    return {"models": rows, "skipped": skipped, "backend": backend, "primed": primed}


# --- 3: inference ---------------------------------------------------------------------------
class Views(nn.Module):
    """One test video's views forwarded ``chunk`` at a time under autocast ``dtype``."""

    def __init__(self, net: nn.Module, chunk: int, dtype: torch.dtype | None) -> None:
        super().__init__()
        self.net, self.chunk, self.dtype = net, chunk, dtype

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        with autocast(views.device, self.dtype):
            return torch.cat([self.net(c) for c in views.split(self.chunk)])


def randomize(model: nn.Module, seed: int = 0) -> None:
    """Weights that make every path count: the GC blocks' zero-initialised last convs and
    the residual branches' zero-initialised last BatchNorm scales get small random values,
    and every BatchNorm random running statistics. (At init GC blocks are identities and a
    branch with a zero BN scale ignores its conv: a numerical check would prove nothing.)"""
    gen = torch.Generator().manual_seed(seed)

    def uniform(t: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(t.shape, generator=gen)).to(t)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, GlobalContext3d):
                last = m.transform[-1].weight
                last.copy_(0.02 * torch.randn(last.shape, generator=gen).to(last))
            elif isinstance(m, nn.BatchNorm3d):
                if m.weight is not None and not m.weight.any():
                    m.weight.copy_(uniform(m.weight, 0.1, 0.3))
                m.running_mean.copy_(uniform(m.running_mean, -0.1, 0.1))
                m.running_var.copy_(uniform(m.running_var, 0.5, 1.5))


def step_infer(sizes: Sizes, device: torch.device) -> dict:
    torch.manual_seed(0)
    built = channels_last_3d(create_model("slow_r50_gc", **dict(sizes.backbone)).to(device).eval())
    randomize(built)
    net = fold_context_blocks(built)                            # the inference form
    views = torch.randn(sizes.views, 3, sizes.frames, sizes.view_size, sizes.view_size,
                        device=device).contiguous(memory_format=torch.channels_last_3d)
    timed = {"folded": Views(net, sizes.view_chunk, torch.bfloat16),
             "unfolded": Views(built, sizes.view_chunk, torch.bfloat16),
             "bypassed": Views(RunUnder(net, bypass_blocks), sizes.view_chunk, torch.bfloat16)}
    times = interleaved_latency(timed, views, sizes.infer_rounds, groups=[list(timed)])
    rows = {name: {"video_s": statistics.median(ts), "videos_per_s": 1 / statistics.median(ts),
                   "vs_bypassed": latency_ratio(times["bypassed"], ts)}       # throughput ratio
            for name, ts in times.items()}

    probe = views[:sizes.view_chunk]
    tf32 = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.inference_mode():
            reference = built(probe).float()                    # the block as defined, fp32
            logits = {"fp32 folded": net(probe)}
            for label, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
                with autocast(device, dtype):
                    logits[f"{label} autocast folded"] = net(probe)
            with autocast(device, torch.bfloat16):
                logits["bf16 autocast unfolded"] = built(probe)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    scale = reference.abs().max().item()
    diffs = {k: {"max_abs": (v.float() - reference).abs().max().item(),
                 "relative": (v.float() - reference).abs().max().item() / scale} for k, v in logits.items()}
    return {"timing": rows, "numerics_vs_fp32_unfolded": diffs, "logit_scale": scale,
            "setting": f"{sizes.views} views x 3x{sizes.frames}x{sizes.view_size}^2 per video, "
                       f"chunks of {sizes.view_chunk}, bf16 autocast, channels_last_3d, "
                       f"median of {sizes.infer_rounds} interleaved rounds"}


# --- 4: a real fit / resume / test ----------------------------------------------------------
def gcvideo(*args: str, log: str) -> float:
    """Run ``gcvideo ARGS`` (this interpreter) with output to ``log``; seconds taken."""
    start = time.perf_counter()
    with open(log, "w") as out:
        done = subprocess.run([sys.executable, "-m", "gcvideo.cli", *args], stdout=out,
                              stderr=subprocess.STDOUT, cwd=REPO)
    if done.returncode:
        with open(log) as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f"gcvideo {args[0]} exited {done.returncode}; log {log}:\n{tail}")
    return time.perf_counter() - start


def step_fit(sizes: Sizes, device: torch.device, work: str) -> dict:
    from gcvideo.engine.checkpoint import read_checkpoint
    from gcvideo.tools.demo_data import DEMO_DATA
    from gcvideo.data.synth import synthesize

    data = os.path.join(work, "demo_data")
    if not os.path.exists(os.path.join(data, "classes.txt")):
        synthesize(data, **{**DEMO_DATA, "videos_per_class": sizes.fit_videos_per_class}, progress=False)
    run = os.path.join(work, "fit")
    if device.type == "cuda":
        hardware = ["--trainer.accelerator", "gpu", "--trainer.precision", "16-mixed",
                    "--trainer.sync_batchnorm", "true"]
    else:   # SyncBatchNorm has no CPU kernel; 16-mixed is GPU-only in Lightning
        hardware = ["--trainer.accelerator", "cpu", "--trainer.precision", "bf16-mixed"]
    common = ["--config", "demo/order.yaml", "--data.root", data,
              "--trainer.default_root_dir", run, "--trainer.devices", "1", "--trainer.strategy", "ddp",
              "--data.num_workers", str(min(8, os.cpu_count() or 1)), "--model.max_epochs", "3", *hardware]
    seconds = {"fit 2 epochs": gcvideo("fit", *common, "--trainer.max_epochs", "2", log=os.path.join(work, "fit.log"))}
    seconds["resume to epoch 3"] = gcvideo("fit", *common, "--trainer.max_epochs", "3", "--ckpt_path", "last",
                                           log=os.path.join(work, "resume.log"))
    last = read_checkpoint(os.path.join(run, "checkpoints", "last.ckpt"))     # runs no pickled code
    seconds["test 10x3"] = gcvideo("test", *common, "--ckpt_path", os.path.join(run, "checkpoints", "last.ckpt"),
                                   log=os.path.join(work, "test.log"))
    with open(os.path.join(run, "test_10x3", "metrics.json")) as f:
        metrics = json.load(f)
    backends, _ = decode.usable_backends()
    for backend in [b for b in backends if b.startswith("torchcodec")] if device.type == "cuda" else []:
        # one more epoch from scratch with this decoder (the CPU suite trains with torchcodec already)
        seconds[f"fit 1 epoch, data.backend {backend}"] = gcvideo(
            "fit", *common, "--trainer.max_epochs", "1", "--trainer.default_root_dir", os.path.join(work, backend),
            "--data.backend", backend, log=os.path.join(work, f"fit_{backend}.log"))
    return {"seconds": seconds, "epochs_after_resume": last["epoch"] + 1, "global_step": last["global_step"],
            "test_videos": metrics["videos"], "test_top1": metrics["top1"], "test_top5": metrics["top5"],
            "setting": f"demo/order.yaml on {sizes.fit_videos_per_class} generated videos per class, "
                       f"strategy ddp, 1 device, {' '.join(hardware[1::2])}"}


# --- 5: data pipeline -----------------------------------------------------------------------
def kinetics_size_paths(sizes: Sizes, work: str) -> tuple:
    """(root, records) of the generated 340x256 10 s videos the data and decode steps read."""
    from gcvideo.data.records import load_records
    from gcvideo.tools.demo_data import kinetics_size_data

    root = os.path.join(work, "kinetics_size")
    kinetics_size_data(root, sizes.data_videos, progress=False)
    return root, load_records(os.path.join(root, "train.csv"), root)


def prefetched_batches(workers: int) -> int:
    """Batches a loader holds ready before it settles: each worker's prefetch_factor (2), or one."""
    return max(1, 2 * workers)


def loader_rate(root: str, listing: str, sizes: Sizes, workers: int, backend: str, clips_per_video: int = 1) -> float:
    from gcvideo.engine.datamodule import KineticsDataModule

    dm = KineticsDataModule(root, train=listing, val=None, test=None, classes_file="classes.txt",
                            batch_size=max(1, sizes.data_batch // clips_per_video), num_workers=workers,
                            backend=backend, clips_per_video=clips_per_video)
    loader = iter(dm.train_dataloader())

    def clips(batch: dict) -> int:          # (videos, K, 3, T, H, W) with repeated augmentation
        return batch["video"].shape[0] * (batch["video"].shape[1] if batch["video"].dim() == 6 else 1)

    # Worker start-up is not throughput, nor are the batches every worker queues ahead
    # (prefetch_factor 2): with 16 workers the first 32 batches arrive at once, and timing them
    # overstated gcvideo 0.1's loader (1591 clips/s over 320 clips). Timing starts after them.
    for _ in range(prefetched_batches(workers)):
        next(loader)
    seen, start = 0, time.perf_counter()
    while seen < sizes.data_clips:
        seen += clips(next(loader))
    rate = seen / (time.perf_counter() - start)
    del loader
    return rate


def step_data(sizes: Sizes, work: str, train_clips_per_s: float | None) -> dict:
    root, records = kinetics_size_paths(sizes, work)
    workers = os.cpu_count() or 1
    repeats = -(-(sizes.data_clips + (prefetched_batches(workers) + 2) * sizes.data_batch) // len(records))
    listing = os.path.join(root, "repeated.txt")
    rows = []                                       # enough videos for one epoch of the timed clips: links,
    for k in range(repeats):                        # since a list names each video once
        for r in records:
            link = os.path.join(root, f"copy{k}", os.path.basename(r.path))
            os.makedirs(os.path.dirname(link), exist_ok=True)
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(r.path), link)
            rows.append(f"{os.path.relpath(link, root)} {r.label}\n")
    with open(listing, "w") as f:
        f.writelines(rows)
    backends, missing = decode.usable_backends()
    rates = {}
    for backend in backends:
        rates[backend] = loader_rate(root, "repeated.txt", sizes, workers, backend)
        print(f"  {backend}: {rates[backend]:.1f} clips/s", flush=True)
    rates["pyav, 2 clips per video"] = loader_rate(root, "repeated.txt", sizes, workers, "pyav", clips_per_video=2)
    rate = rates["pyav"]
    return {"clips_per_s": rate, "workers": workers, "distinct_videos": len(records),
            "backends": {name: {"clips_per_s": r, "vs_pyav": r / rate,
                                "data_over_training": r / train_clips_per_s if train_clips_per_s else None}
                         for name, r in rates.items()},
            "left_out": missing,
            "training_clips_per_s": train_clips_per_s,
            "data_over_training": rate / train_clips_per_s if train_clips_per_s else None,
            "setting": f"{workers} workers, batch {sizes.data_batch}, 340x256 10 s H.264 videos, "
                       "one random 8x8 clip each (2 with repeated augmentation), short side 256-320, "
                       f"224 crop, flip; {sizes.data_clips} clips timed after the first "
                       f"{prefetched_batches(workers)} batches (the workers' prefetch)"}


# --- 6: activation checkpointing ------------------------------------------------------------
def step_memory(sizes: Sizes, device: torch.device) -> dict:
    from gcvideo.models.checkpointing import checkpoint_blocks

    runs = {"without": make_trainee("slow_r50_gc", sizes, device),
            "activation checkpointing": make_trainee("slow_r50_gc", sizes, device)}
    checkpoint_blocks(runs["activation checkpointing"][0])
    clip, labels = training_batch(sizes.batch, sizes.frames, sizes.size, device)
    for model, opt in runs.values():        # warm-up: cuDNN's search, the optimizer's state
        train_step(model, opt, clip, labels, device)
    rows = {name: {"step_ms": row["step_ms"], "peak_gib": row["peak_gib"]}
            for name, row in time_training(runs, sizes, device, resident=False).items()}
    plain, held = rows["without"], rows["activation checkpointing"]
    return {"models": rows, "time_ratio": held["step_ms"] / plain["step_ms"],
            "memory_ratio": held["peak_gib"] / plain["peak_gib"] if device.type == "cuda" else None,
            "setting": f"slow_r50_gc, batch {sizes.batch} x {sizes.frames}x{sizes.size}^2, bf16 autocast, "
                       "channels_last_3d, every stage c2-c5 checkpointed; peak = max_memory_allocated above "
                       "the weights and optimizer state resident before the step"}


# --- 7: where the time goes -----------------------------------------------------------------
def step_profile(sizes: Sizes, device: torch.device) -> dict:
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    clip, labels = training_batch(sizes.batch, sizes.frames, sizes.size, device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    rows, top = {}, ""
    for name in ("slow_r50", "slow_r50_gc"):
        model, opt = make_trainee(name, sizes, device)
        for _ in range(2):
            train_step(model, opt, clip, labels, device)
        sync(device)
        with profile(activities=activities) as prof:
            start = time.perf_counter()
            for _ in range(sizes.profile_steps):
                train_step(model, opt, clip, labels, device)
            sync(device)
            wall = (time.perf_counter() - start) / sizes.profile_steps
        events = prof.key_averages()
        kernels = [e for e in events if e.device_type == DeviceType.CUDA]
        gpu = sum(e.self_device_time_total for e in kernels) / 1e6 / sizes.profile_steps if kernels else None
        rows[name] = {"wall_ms": 1000 * wall, "gpu_kernel_ms": 1000 * gpu if gpu else None,
                      "gpu_busy": gpu / wall if gpu else None,
                      "kernels_per_step": sum(e.count for e in kernels) / sizes.profile_steps if kernels else None,
                      "ops_per_step": sum(e.count for e in events if e.device_type == DeviceType.CPU
                                          and e.key.startswith("aten::")) / sizes.profile_steps}
        if name == "slow_r50_gc":
            sort = "self_device_time_total" if kernels else "self_cpu_time_total"
            top = events.table(sort_by=sort, row_limit=15, max_name_column_width=48)
        del model, opt, prof
    base, gc = rows["slow_r50"], rows["slow_r50_gc"]
    extra = {"wall_ms": gc["wall_ms"] - base["wall_ms"],
             "gpu_kernel_ms": gc["gpu_kernel_ms"] - base["gpu_kernel_ms"] if base["gpu_kernel_ms"] else None}
    return {"models": rows, "gc_extra_per_step": extra, "top_ops_slow_r50_gc": top,
            "setting": f"torch.profiler over {sizes.profile_steps} training steps after 2 warm-up steps, "
                       f"batch {sizes.batch} x {sizes.frames}x{sizes.size}^2, bf16 autocast, channels_last_3d, eager"}


# --- 8: decode-only -------------------------------------------------------------------------
def step_decode(sizes: Sizes, work: str) -> dict:
    from decode_throughput import clip_jobs, decode_rates

    root, records = kinetics_size_paths(sizes, work)
    paths = [r.path for r in records][:sizes.data_videos]
    backends, missing = decode.usable_backends()
    jobs = clip_jobs(paths, sizes.decode_clips, sizes.frames)
    for backend in backends:                # first use: libraries, NVDEC's decoder and CUDA context
        decode.decode_at(jobs[0][0], jobs[0][1], backend, short_side=288)
    rate = decode_rates(jobs, backends, sizes.decode_rounds, short_side=288)
    return {"backends": {b: {"clips_per_s": r, "vs_pyav": r / rate["pyav"]} for b, r in rate.items()},
            "left_out": missing,
            # clips torchcodec-cuda's decoder decoded on the CPU by itself (no NVDEC for that stream)
            "nvdec_cpu_fallbacks": decode.NVDEC_FALLBACKS["videos"] if "torchcodec-cuda" in backends else None,
            "setting": f"one process, {len(jobs)} clips ({sizes.frames} frames 8 apart at 30 fps) of {len(paths)} "
                       f"340x256 10 s H.264 videos, decoded and scaled to short side 288, "
                       f"{sizes.decode_rounds} interleaved rounds"}


# --- report ---------------------------------------------------------------------------------
def fmt(value, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def backend_lines(step: dict, extra) -> list:
    """A step's clips/s per backend (``extra(row)`` appended), then the backends left out and why."""
    lines = [f"  {name:26s} {row['clips_per_s']:8.1f} clips/s  {row['vs_pyav']:.2f}x pyav{extra(row)}"
             for name, row in step["backends"].items()]
    return lines + [f"  {name:26s} left out: {why}" for name, why in step.get("left_out", {}).items()]


def table(results: dict) -> str:
    lines = [f"gcvideo GPU check - {results['device']} - {results['date']} - torch {results['torch']}"]
    steps = results["steps"]
    for key, title in (("train", "training (eager)"), ("compile", "training (torch.compile)")):
        step = steps.get(key, {})
        if "models" in step:
            lines.append(f"\n{title}: {steps['train'].get('setting', '')}")
            lines.append(f"{'model':16s} {'clips/s':>8s} {'vs r50':>7s} {'peak GiB':>9s} {'compile s':>10s} "
                         f"{'vs eager':>9s}")
            for name, row in step["models"].items():
                lines.append(f"{name:16s} {row['clips_per_s']:8.1f} {fmt(row['vs_slow_r50'], '.3f', 'x'):>7s} "
                             f"{fmt(row['peak_gib']):>9s} {fmt(row.get('compile_s'), '.0f'):>10s} "
                             f"{fmt(row.get('vs_eager'), '.2f', 'x'):>9s}")
            for name, why in step.get("skipped", {}).items():
                lines.append(f"{name:16s} skipped: {why}")
    infer = steps.get("infer", {})
    if "timing" in infer:
        lines.append(f"\ninference, slow_r50_gc: {infer['setting']}")
        for name, row in infer["timing"].items():
            lines.append(f"  {name:9s} {row['videos_per_s']:7.2f} videos/s  {row['vs_bypassed']:.3f}x of bypassed")
        lines.append("  max |logit - fp32 unfolded| (relative to the largest logit):")
        for name, d in infer["numerics_vs_fp32_unfolded"].items():
            lines.append(f"    {name:24s} {d['max_abs']:.2e} ({d['relative']:.1e})")
    fit = steps.get("fit", {})
    if "seconds" in fit:
        lines.append(f"\nfit/resume/test: {fit['setting']}")
        lines.append("  " + ", ".join(f"{k} {v:.0f} s" for k, v in fit["seconds"].items()))
        lines.append(f"  resumed to epoch {fit['epochs_after_resume']} (step {fit['global_step']}); "
                     f"10x3 test top-1 {100 * fit['test_top1']:.1f} % on {fit['test_videos']} videos")
    data = steps.get("data", {})
    if "clips_per_s" in data:
        lines.append(f"\ndata: {data['setting']}")
        lines.append(f"  {data['clips_per_s']:.1f} clips/s; training (slow_r50_gc) needs "
                     f"{fmt(data['training_clips_per_s'], '.1f')}: ratio {fmt(data['data_over_training'], '.2f', 'x')}")
    if "backends" in data:
        lines += backend_lines(data, lambda row: f"  {fmt(row['data_over_training'], '.2f', 'x')} of training")
    memory = steps.get("memory", {})
    if "models" in memory:
        lines.append(f"\nactivation checkpointing: {memory['setting']}")
        for name, row in memory["models"].items():
            lines.append(f"  {name:26s} {row['step_ms']:7.1f} ms/step  peak {fmt(row['peak_gib'])} GiB")
        lines.append(f"  with / without: time {memory['time_ratio']:.2f}x, memory {fmt(memory['memory_ratio'], '.2f', 'x')}")
    profiled = steps.get("profile", {})
    if "models" in profiled:
        lines.append(f"\nprofile: {profiled['setting']}")
        for name, row in profiled["models"].items():
            lines.append(f"  {name:12s} wall {row['wall_ms']:7.1f} ms/step, GPU kernels {fmt(row['gpu_kernel_ms'], '.1f')} ms "
                         f"(busy {fmt(row['gpu_busy'], '.2f')}), {fmt(row['kernels_per_step'], '.0f')} kernels, "
                         f"{row['ops_per_step']:.0f} aten ops per step")
    decoded = steps.get("decode", {})
    if "backends" in decoded:
        lines.append(f"\ndecode only: {decoded['setting']}")
        lines += backend_lines(decoded, lambda row: "")
    for name, step in steps.items():
        if "error" in step:
            lines.append(f"\n{name}: FAILED: {step['error'].splitlines()[0]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", default=None,
                        help="toy sizes (default where CUDA is unavailable)")
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "gpu_check.json"), help="JSON results")
    parser.add_argument("--work", help="scratch folder for generated videos and runs (default: a temp folder)")
    parser.add_argument("--steps", nargs="*", choices=STEPS, default=list(STEPS))
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds this run may take: compile starts a model only while time is left for it")
    parser.add_argument("--prime", help=argparse.SUPPRESS)      # the compile step's cache-filling child
    parser.add_argument("--compile-backend", default=None,
                        help="torch.compile backend (default: inductor on CUDA, eager - dynamo "
                             "tracing only - at --tiny on the CPU)")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tiny = args.tiny if args.tiny is not None else device.type != "cuda"
    sizes = TINY if tiny else FULL
    backend = args.compile_backend or ("inductor" if device.type == "cuda" else "eager")
    if args.prime:
        prime_one(args.prime, backend, sizes, device)
        return 0
    work = args.work or tempfile.mkdtemp(prefix="gcvideo-gpu-check-")
    os.makedirs(work, exist_ok=True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    results = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})",
               "date": datetime.date.today().isoformat(), "torch": torch.__version__,
               "cpus": os.cpu_count(), "tiny": tiny, "sizes": asdict(sizes), "steps": {}}
    start = time.perf_counter()
    deadline = start + args.time_limit if args.time_limit else float("inf")

    def save() -> None:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out + ".tmp", "w") as f:
            json.dump(results, f, indent=1)
        os.replace(args.out + ".tmp", args.out)

    for name in args.steps:
        print(f"[{name}] ({time.perf_counter() - start:.0f} s so far)", flush=True)
        t0 = time.perf_counter()
        try:
            if name == "train":
                out = step_train(sizes, device)
            elif name == "compile":      # leaving the time the steps after it take at full size
                later = sum(RESERVE_S.get(n, 0) for n in args.steps[args.steps.index(name) + 1:])
                out = step_compile(sizes, device, backend, work, deadline - (0 if tiny else later),
                                   results["steps"].get("train", {}).get("models", {}))
            elif name == "infer":
                out = step_infer(sizes, device)
            elif name == "fit":
                out = step_fit(sizes, device, work)
            elif name == "memory":
                out = step_memory(sizes, device)
            elif name == "profile":
                out = step_profile(sizes, device)
            elif name == "decode":
                out = step_decode(sizes, work)
            else:
                gc = results["steps"].get("train", {}).get("models", {}).get("slow_r50_gc")
                out = step_data(sizes, work, gc["clips_per_s"] if gc else None)
        except Exception as err:   # record it and go on: the other steps' minutes still count
            traceback.print_exc()
            out = {"error": f"{type(err).__name__}: {err}"}
        out["step_s"] = time.perf_counter() - t0
        results["steps"][name] = out
        results["total_s"] = time.perf_counter() - start
        save()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    report = table(results)
    print("\n" + report)
    print(f"\n{results['total_s']:.0f} s; results in {args.out}")
    return 1 if any("error" in s for s in results["steps"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
