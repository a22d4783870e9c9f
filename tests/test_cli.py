import json

from gcvideo.cli import main


def test_models_lists_the_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ["slow_r50", "slow_r50_gc", "slow_r50_gc5", "slow_r50_snl5", "slow_r50_nl5", "slow_r50_se",
                 "slowfast_r50_gc", "x3d_m_gc", "i3d_r50_gc"]:
        assert f"\n{name} " in "\n" + out


def test_info_json_reports_measured_cost(capsys):
    assert main(["info", "slow_r50_gc5", "--frames", "2", "--size", "64", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["params"] == 32_921_808   # 5 GC blocks: W_k (no bias), C->C/16->C with LN and row["frames"] == 2
    assert 0 < row["d_flops_pct"] < 1 and row["d_params_pct"] > 1


def test_info_errors_are_messages_not_tracebacks(capsys):
    assert main(["info", "slow_r99"]) == 2
    assert "unknown model 'slow_r99'" in capsys.readouterr().err
    assert main(["info"]) == 2


def test_info_compares_other_networks_with_their_own_plain_network_at_their_recipe_clip(capsys):
    """Issue 15 item 2: `info` rows for the other families, Δ against the same family's plain net."""
    assert main(["info", "x3d_m_gc", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["baseline"], row["frames"], row["size"]) == ("x3d_m", 16, 224)
    assert 0 < row["d_flops_pct"] < 1 and 0 < row["d_params_pct"] < 5
    assert main(["info", "slowfast_r50", "--size", "64", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["baseline"], row["frames"], row["d_flops_pct"]) == ("slowfast_r50", 32, 0.0)
