import json

from gcvideo.cli import main
from gcvideo.configs import list_configs


def test_report_covers_every_row_and_ablation(tmp_path, capsys, monkeypatch):
    from gcvideo.tools import cost_report

    real = cost_report.create_model          # narrow networks: the rows and their order, not R50's size
    monkeypatch.setattr(cost_report, "create_model", lambda name, **o: real(name, **{"depths": (1, 4, 6, 1),
                                                                                   "width": 16, **o}))
    md, js = tmp_path / "results.md", tmp_path / "results.json"
    assert main(["report", "costs", "--frames", "2", "--size", "64", "--rounds", "1",
                 "--out", str(md), "--json", str(js)]) == 0
    report = json.load(open(js))
    rows = {r["row"]: r for r in report["rows"]}
    assert list(rows)[:6] == ["plain", "nl5", "snl5", "gc5", "gc", "se"]
    assert len(rows) == len([c for c in list_configs() if c.startswith("models/")]) == 20
    assert rows["plain"]["d_flops_pct"] == 0 and rows["plain"]["latency_ratio"] == 1.0
    assert rows["nl5"]["d_flops_pct"] > rows["gc"]["d_flops_pct"] > rows["gc5"]["d_flops_pct"] > 0
    assert rows["gc_r4"]["params"] > rows["gc"]["params"] > rows["gc_r32"]["params"]
    assert rows["gc_avg_pool"]["params"] < rows["gc"]["params"]      # no Wk
    text = md.read_text()
    assert "| gc | `slow_r50_gc` |" in text and "generated" in text.lower()
