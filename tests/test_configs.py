"""Every shipped config parses with the CLI and builds its model."""
import glob
import os

import pytest
import yaml

from gcvideo.cli import main
from gcvideo.models import create_model, model_spec

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
BASE = os.path.join(ROOT, "kinetics400", "base.yaml")
ROWS = sorted(set(glob.glob(os.path.join(ROOT, "kinetics400", "*.yaml"))) - {BASE}) + \
    sorted(glob.glob(os.path.join(ROOT, "kinetics400", "ablations", "*.yaml")))


@pytest.mark.parametrize("path", ROWS, ids=lambda p: os.path.relpath(p, ROOT))
def test_kinetics_configs_parse_and_build(path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["fit", "--config", BASE, "--config", path, "--print_config"])
    assert done.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    model = printed["model"]
    spec = model_spec(model["model"], **(model["model_options"] or {}))      # options valid
    assert printed["trainer"]["max_epochs"] in (196, 100)
    assert printed["data"]["num_frames"] == 8 and printed["data"]["sampling_rate"] == 8
    assert model["lr"] == 0.1 and model["weight_decay"] == 1e-4 and model["momentum"] == 0.9
    if "ablations" in path:
        assert spec["block"] == "gc" and spec["dropout"] == 0.5


def test_ablation_models_differ_from_all_gc_only_where_they_say():
    reference = model_spec("slow_r50_gc")
    for path in glob.glob(os.path.join(ROOT, "kinetics400", "ablations", "*.yaml")):
        options = yaml.safe_load(open(path))["model"]["model_options"]
        changed = {k for k in options if k != "dropout"}
        assert len(changed) == 1, path
        create_model("slow_r50_gc", num_classes=10, depths=(1, 2, 2, 1), width=8, **options)
        assert {k: v for k, v in model_spec("slow_r50_gc", **options).items() if reference.get(k) != v} \
            .keys() - {"dropout"} == changed


def test_demo_config_parses(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--config", os.path.join(ROOT, "demo.yaml"), "--print_config"])
    assert yaml.safe_load(capsys.readouterr().out)["model"]["model"] == "slow_r50_gc"
