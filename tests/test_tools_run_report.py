"""``gcvideo report run``: one self-contained HTML page per run (or runs side by side), checked in a
real browser (headless Chromium) where one is installed."""
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from gcvideo.cli import main
from helpers import tiny_args


@pytest.fixture(scope="module")
def runs(synth_root, tmp_path_factory):
    """A GC run and a plain run, each fit for one epoch and tested with 2x1 views."""
    base = tmp_path_factory.mktemp("report_runs")
    folders = {}
    for name, model in (("gc", "slow_r50_gc"), ("plain", "slow_r50")):
        args = tiny_args(synth_root, base / name, epochs=2, model=model, extra=("--data.test_views", "2x1"))
        assert main(["fit", *args]) == 0
        assert main(["test", *args, "--ckpt_path", str(base / name / "checkpoints" / "best.ckpt")]) == 0
        folders[name] = base / name
    return folders


def test_the_page_holds_every_part_and_needs_no_other_file(runs, capsys):
    out = runs["gc"].parent / "report.html"
    assert main(["report", "run", str(runs["gc"]), "--compare", str(runs["plain"]), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith(f"wrote {out}")
    page = out.read_text(encoding="utf-8")
    for part in ("Training curves", "Test, 2x1 views", "Most confused pairs", "Unreadable videos: 0",
                 "Where GC/SNL attends", "Resolved config", "sha256", "its 1x1 views",
                 "slow_r50_gc", "slow_r50", "Δ params / Δ FLOPs vs plain"):
        assert part in page, part
    sources = re.findall(r"src='([^']*)'", page)
    assert sources and all(s.startswith("data:image/") for s in sources)          # all embedded
    assert page.count("<h2>") == 3 and page.count("Where GC/SNL attends") == 1   # the plain run has no blocks
    assert page.count("alt='training curves'") == 1                              # both runs, shared axes
    assert "c3 block 0" in page
    # the sentence on top: GC against its plain network (the reference, though given second)
    headline = re.search(r"<p class='headline'>(.*?)</p>", page).group(1)
    assert headline.startswith("gc vs plain: ") and "points test top-1" in headline and "2x1 views" in headline
    assert re.search(r"at \+0\.\d+ % FLOPs", headline), headline


def test_the_headline_and_the_worst_videos_heading(tmp_path):
    from gcvideo.tools.run_report import _run_section, headline

    cost = {"params": 100.0, "flops": 1000.0, "gflops": 1e-6, "params_m": 1e-4, "d_params_pct": 0.0,
            "d_flops_pct": 0.0, "baseline": "slow_r50"}
    test = lambda top1: {"views": "10x3", "metrics": {"top1": top1}}          # noqa: E731
    plain = {"name": "plain", "model": "slow_r50", "cost": cost, "tests": [test(0.5)]}
    gc = {"name": "gc", "model": "slow_r50_gc", "tests": [test(0.95)],
          "cost": {**cost, "params": 107.0, "flops": 1004.3}}
    assert headline([gc, plain]) == "gc vs plain: +45.0 points test top-1 (95.0 % vs 50.0 %, 10x3 views) at " \
                                    "+0.43 % FLOPs and +7.00 % parameters."
    assert headline([plain]).startswith("plain (<code>slow_r50</code>): test top-1 50.0 % (10x3 views)")
    right = {"video_id": "v", "label": "a", "top1": "a", "score1": "0.9", "strip": None}
    run = {"name": "r", "model": "m", "run": str(tmp_path), "checkpoint": "best.ckpt", "lift": None,
           "attention": None, "config": "", "tests": [{
               "views": "1x1", "metrics": {}, "scored": {"ok": True, "text": ""}, "views_plot": None,
               "confusion": "", "confused": [], "per_class": "", "failures": [], "worst": [right]}]}
    page = _run_section(run)
    assert "No test video was misclassified" in page and "confidently wrong" not in page


def test_a_folder_that_is_not_a_run_is_one_line(tmp_path, capsys):
    assert main(["report", "run", str(tmp_path)]) == 2
    assert "no checkpoints/best.ckpt" in capsys.readouterr().err


def test_four_hundred_classes_render(tmp_path):
    """A Kinetics-sized report: 400 classes, predictions of 800 videos."""
    from gcvideo.engine.module import VideoClassifier
    from gcvideo.engine.report import compute_metrics, write_reports
    from gcvideo.tools.run_report import collect, render

    classes = [f"class {i:03d}" for i in range(400)]
    module = VideoClassifier("slow_r50", {"depths": [1, 1, 1, 1], "width": 4}, num_classes=400, classes=classes)
    run = tmp_path / "kinetics"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "datamodule_hyper_parameters": {"num_frames": 8, "crop_size": 224, "root": str(tmp_path)}},
               run / "checkpoints" / "best.ckpt")
    rng = np.random.default_rng(0)
    predictions = [{"index": i, "video_id": f"v{i}", "path": f"missing/v{i}.mp4", "label": i % 400, "ok": True,
                    "reason": "", "scores": rng.dirichlet(np.ones(400)).tolist()} for i in range(800)]
    metrics = compute_metrics(predictions, 400)
    write_reports(str(run / "test_10x3"), predictions, classes, metrics)
    result = collect(str(run))
    test = result["tests"][0]
    assert len(test["confused"]) == 10 and len(test["worst"]) == 6
    assert all(p["strip"] is None for p in test["worst"])            # videos not on disk: no strip, no error
    page = render([result])
    assert page.count("<tr><td>class ") >= 10 and page.count("<tr><td>v") == 6    # confused pairs, worst videos
    assert page.count("src='data:image/png") == 2                    # confusion and per-class (no curves, no views)
    assert "No test video was misclassified" not in page
    assert json.load(open(run / "test_10x3" / "metrics.json"))["classes"][399] == "class 399"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no Chromium here (apt-get install chromium; .ci/run installs it where it can): "
                "the report's browser check cannot run")


def test_the_page_renders_in_a_real_browser(runs, tmp_path):
    from PIL import Image

    browser = chromium()
    out = tmp_path / "report.html"
    assert main(["report", "run", str(runs["gc"]), "--compare", str(runs["plain"]), "--out", str(out)]) == 0
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    counts = re.search(r'data-images="(\d+) (\d+)"', dom.stdout)
    assert counts, dom.stderr[-2000:]
    images, broken = map(int, counts.groups())
    assert images >= 10 and broken == 0                      # every image decoded (natural size > 0)
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, "--window-size=1400,2000", f"--screenshot={shot}", out.as_uri()],
                   capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.std() > 20 and (pixels < 128).mean() > 0.01   # not a blank page
