import json

from gcvideo.cli import main


def test_report_covers_every_row_and_ablation(tmp_path, capsys):
    md, js = tmp_path / "results.md", tmp_path / "results.json"
    assert main(["report", "costs", "--frames", "2", "--size", "64", "--rounds", "1",
                 "--out", str(md), "--json", str(js)]) == 0
    report = json.load(open(js))
    rows = {r["row"]: r for r in report["rows"]}
    assert list(rows)[:6] == ["baseline", "nl5", "snl5", "gc5", "gc_all", "se"]
    assert len([r for r in rows if r.startswith("ablation ")]) == 11
    assert rows["baseline"]["d_flops_pct"] == 0 and rows["baseline"]["latency_ratio"] == 1.0
    assert rows["nl5"]["d_flops_pct"] > rows["gc_all"]["d_flops_pct"] > rows["gc5"]["d_flops_pct"] > 0
    assert rows["ablation gc_r4"]["params"] > rows["gc_all"]["params"] > rows["ablation gc_r32"]["params"]
    assert rows["ablation gc_avg_pool"]["params"] < rows["gc_all"]["params"]      # no Wk
    text = md.read_text()
    assert "| gc_all | `slow_r50_gc` |" in text and "generated" in text.lower()
