"""Recipe search for the relation task (issue 12): many (variant, seed) trainings of the
demo-sized Slow network on clips rendered as tensors (no video files), run side by side.

    python scripts/relation_sweep.py --out results.jsonl [--device cuda] [--workers 14] [--minutes 7]

Rendering mirrors gcvideo.data.synth.render_relation (two discs in opposite quarters, A lit in
the first frames, B in the last ones, class = same colour; dim distractors); each variant changes
one thing of the base recipe.  Results: one JSON line per run, accuracy on 1024 held-out clips
at 1/5 .. 5/5 of the steps.
"""
import argparse, json, time
import concurrent.futures as cf
import multiprocessing as mp

BASE = dict(model="slow_r50_gc", K=2, size=32, frames=8, cue_frames=2, radius=6, distract=2,
            dstyle="colour", lr=4e-3, batch=32, steps=800, wd=1e-4, pool=0, opts={})
VARIANTS = {
    "base": {}, "plain": dict(model="slow_r50"), "red4": dict(opts={"reduction": 4}),
    "c2c5": dict(opts={"where": ["c2", "c3", "c4", "c5"]}), "lr2": dict(lr=2e-3), "lr8": dict(lr=8e-3),
    "grey": dict(dstyle="grey"), "nodist": dict(distract=0), "rad8": dict(radius=8),
    "b64": dict(batch=64), "s1600": dict(steps=1600), "K3": dict(K=3), "pool1000": dict(pool=1000),
    "wd05": dict(wd=0.05), "red4_c2c5": dict(opts={"reduction": 4, "where": ["c2", "c3", "c4", "c5"]}),
    "red4_grey_rad8": dict(opts={"reduction": 4}, dstyle="grey", radius=8),
    "plain_rad8_grey": dict(model="slow_r50", dstyle="grey", radius=8),
    "avg": dict(opts={"pooling": "avg"}), "mul": dict(opts={"fusion": "mul"}),
    "afteradd": dict(opts={"position": "after_add"}), "se": dict(model="slow_r50_se"),
    "red4_pool1000": dict(opts={"reduction": 4}, pool=1000), "grey_rad8": dict(dstyle="grey", radius=8),
    "red4_lr2": dict(opts={"reduction": 4}, lr=2e-3),
}
PRIORITY = ["base", "red4", "c2c5", "grey", "rad8", "plain", "lr2", "lr8", "nodist", "b64", "K3", "pool1000",
            "s1600", "red4_c2c5", "red4_grey_rad8", "grey_rad8", "wd05", "red4_pool1000", "red4_lr2",
            "plain_rad8_grey", "avg", "mul", "afteradd", "se"]
COLORS = [(220, 40, 40), (40, 200, 60), (50, 80, 230), (230, 210, 40), (210, 50, 210), (40, 210, 210)]


def render(gen, n, c, device):
    import torch
    S, T, r = c["size"], c["frames"], c["radius"]
    col = torch.tensor(COLORS, dtype=torch.float32, device=device)[: c["K"]]
    tex = torch.randint(60, 110, (n, 3, S // 4 + 1, S // 4 + 1), generator=gen, device=device).float()
    bg = tex.repeat_interleave(4, 2).repeat_interleave(4, 3)[:, :, :S, :S]
    yy, xx = torch.meshgrid(torch.arange(S, device=device), torch.arange(S, device=device), indexing="ij")
    U = lambda *s: torch.rand(*s, generator=gen, device=device)
    def disc(cx, cy, rad):  # (n,) -> (n,1,S,S) bool
        return ((xx - cx[:, None, None]) ** 2 + (yy - cy[:, None, None]) ** 2 <= rad ** 2)[:, None]
    for _ in range(c["distract"]):
        cx, cy = r + U(n) * (S - 2 * r), r + U(n) * (S - 2 * r)
        k = torch.randint(c["K"], (n,), generator=gen, device=device)
        colour = col[k] * 0.45 if c["dstyle"] == "colour" else torch.full((n, 3), 130.0, device=device)
        bg = torch.where(disc(cx, cy, 0.6 * r), colour[:, :, None, None], bg)
    same = torch.randint(2, (n,), generator=gen, device=device)
    a = torch.randint(c["K"], (n,), generator=gen, device=device)
    b = torch.where(same.bool(), a, (a + torch.randint(1, c["K"], (n,), generator=gen, device=device)) % c["K"])
    qx, qy = torch.randint(2, (n,), generator=gen, device=device), torch.randint(2, (n,), generator=gen, device=device)
    video = bg[:, :, None].repeat(1, 1, T, 1, 1)
    for k, fx, fy, times in ((a, qx, qy, range(c["cue_frames"])), (b, 1 - qx, 1 - qy, range(T - c["cue_frames"], T))):
        cx, cy = (fx + 0.3 + 0.4 * U(n)) * S / 2, (fy + 0.3 + 0.4 * U(n)) * S / 2
        m = disc(cx, cy, r)
        bright = (col[k] * 1.15 + 20).clamp(max=255)[:, :, None, None]
        for t in times:
            video[:, :, t] = torch.where(m, bright, video[:, :, t])
    return (video / 255 - 0.45) / 0.225, same


def run_one(job):
    import torch, torch.nn.functional as F
    torch.set_num_threads(1)
    c, device = job["cfg"], job["device"]
    from gcvideo import create_model
    torch.manual_seed(job["seed"])
    model = create_model(c["model"], num_classes=2, depths=(1, 1, 1, 1), width=16, dropout=0.0, **c["opts"]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=c["lr"], weight_decay=c["wd"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, c["lr"], total_steps=c["steps"])
    test_gen = torch.Generator(device).manual_seed(10 ** 6)
    tx, ty = render(test_gen, 1024, c, device)
    gen = torch.Generator(device).manual_seed(job["seed"])
    if c["pool"]:
        px, py = render(gen, c["pool"], c, device)
    t0, accs = time.time(), []
    for step in range(1, c["steps"] + 1):
        model.train()
        if c["pool"]:
            idx = torch.randint(c["pool"], (c["batch"],), generator=gen, device=device)
            x, y = px[idx], py[idx]
            flip = torch.rand(c["batch"], generator=gen, device=device) < 0.5
            x = torch.where(flip[:, None, None, None, None], x.flip(-1), x)
        else:
            x, y = render(gen, c["batch"], c, device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); sched.step()
        if step % (c["steps"] // 5) == 0:
            model.eval()
            with torch.no_grad():
                acc = sum((model(tx[i:i + 256]).argmax(1) == ty[i:i + 256]).sum().item() for i in range(0, 1024, 256)) / 1024
            accs.append(round(100 * acc, 1))
    return dict(variant=job["variant"], seed=job["seed"], accs=accs, final=accs[-1], seconds=round(time.time() - t0, 1), cfg=c)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True); p.add_argument("--device", default="cuda")
    p.add_argument("--workers", type=int, default=14); p.add_argument("--minutes", type=float, default=7)
    p.add_argument("--variants", default=",".join(PRIORITY)); p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--steps", type=int, default=0, help="override every variant's steps (smoke test)")
    a = p.parse_args()
    jobs = []
    for v in a.variants.split(","):
        cfg = {**BASE, **VARIANTS[v]}
        if a.steps: cfg["steps"] = a.steps
        jobs += [dict(variant=v, seed=int(s), cfg=cfg, device=a.device) for s in a.seeds.split(",")]
    deadline = time.time() + 60 * a.minutes
    with open(a.out, "a") as out, cf.ProcessPoolExecutor(a.workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(run_one, j) for j in jobs]
        try:
            for f in cf.as_completed(futures, timeout=max(1, deadline - time.time())):
                try:
                    r = f.result()
                except Exception as e:  # report and go on
                    r = dict(error=repr(e))
                out.write(json.dumps(r) + "\n"); out.flush()
                print(r.get("variant"), r.get("seed"), r.get("accs"), r.get("seconds"), r.get("error", ""), flush=True)
        except cf.TimeoutError:
            print("deadline: stopping", flush=True)
            for f in futures: f.cancel()
            for proc in pool._processes.values(): proc.kill()


if __name__ == "__main__":
    main()
