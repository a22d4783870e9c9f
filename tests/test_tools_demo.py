"""`gcvideo demo` (the relation task) end to end at toy size: both networks trained, tested,
printed side by side with GC's attention on the cues, the attention picture saved."""
import os

import yaml

import gcvideo.tools.demo as demo
from gcvideo.cli import main
from gcvideo.configs import find_config


def test_relation_demo_trains_tests_and_compares_both_networks(tmp_path, monkeypatch, capsys):
    cfg = yaml.safe_load(open(find_config("demo/relation.yaml")))
    cfg["trainer"].update(max_epochs=1, limit_train_batches=2, limit_val_batches=1, enable_progress_bar=False,
                          log_every_n_steps=1)
    cfg["model"]["warmup_epochs"] = 0
    cfg["data"].update(batch_size=4, num_workers=0, test_views="2x1")
    config = tmp_path / "demo.yaml"
    config.write_text(yaml.safe_dump(cfg))
    monkeypatch.setattr(demo, "RELATION_DATA", {**demo.RELATION_DATA, "videos_per_class": 5})

    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--config", str(config), "--seed", "3", "--out", "elsewhere"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "[1/4] generating the relation task" in out
    # a log file (here: the captured streams, not a terminal) holds lines, not a bar's redraws
    log = captured.out + captured.err
    assert "\r" not in log and len(log.encode()) < 20_000, len(log.encode())
    table = out.split("=== gcvideo demo", 1)[1]
    assert "plain (slow_r50)" in table and "gc (slow_r50_gc)" in table and "+0.00%" in table
    assert "2x1 views, 2/2 videos" in table
    assert "nan%" not in table                         # the best val top-1 of both runs is reported
    # one lift line per GC block (c3, c4, c5 of the one-bottleneck-per-stage network)
    assert sum(".context" in line and line.rstrip().endswith("x") for line in table.splitlines()) == 3
    demo_dir = tmp_path / "elsewhere" / "demo_relation"       # everything under --out, nothing in runs/
    assert out.strip().splitlines()[-1] == f"wrote {os.path.join('elsewhere', 'demo_relation', 'report.html')}"
    page = (demo_dir / "report.html").read_text(encoding="utf-8")
    assert "gc vs plain" in page and "Where GC/SNL attends" in page
    for name in ("plain", "gc"):
        assert os.path.exists(demo_dir / name / "checkpoints" / "best.ckpt")
    assert os.listdir(demo_dir / "attention") and os.path.exists(demo_dir / "data" / "test.csv")
    assert "Attention on the cues" in page and (demo_dir / "gc" / "lift.json").exists()
    assert not os.path.exists(tmp_path / "runs")
    # a second run reuses the generated videos
    assert main(["demo", "--config", str(config), "--seed", "3", "--out", "elsewhere"]) == 0
    assert "[1/4] reusing generated videos" in capsys.readouterr().out
    # the README's Python API block runs as printed on what the demo wrote (runs/ is --out here)
    import re

    readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md"), encoding="utf-8").read()
    code = re.search(r"## Python API\n\n```python\n(.*?)```", readme, re.S).group(1)
    exec(compile(code.replace("runs/demo_relation", "elsewhere/demo_relation"), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "['different_colour', 'same_colour'] 2x1 views of 8 frames every 2 at 30 fps" in printed, printed
    assert "'blocks.2.res_blocks.0.branch2.context': (1, 8, 4, 4)" in printed, printed   # c3's attention map
    assert float(re.search(r"\]\]\) (\S+) \{", printed).group(1)) < 1e-5    # the folded network: same logits


def test_demo_seed_belongs_to_the_relation_task():
    assert main(["demo", "--task", "order", "--seed", "1"]) != 0
