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


RELATION = sorted(glob.glob(os.path.join(ROOT, "ablations", "relation", "*.yaml")))


@pytest.mark.parametrize("path", RELATION, ids=lambda p: os.path.basename(p))
def test_relation_ablation_configs_parse_on_the_relation_demo(path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["fit", "--config", os.path.join(ROOT, "demo_relation.yaml"), "--config", path, "--print_config"])
    assert done.value.code in (0, None)
    model = yaml.safe_load(capsys.readouterr().out)["model"]
    options = dict(model["model_options"])
    # the demo's shrunk backbone, repeated because model_options replaces the base's dict
    assert options.pop("depths") == [1, 1, 1, 1] and options.pop("width") == 16 and options.pop("dropout") == 0.0
    spec = model_spec(model["model"], **options)
    name = os.path.basename(path)[:-5]
    expected = {"plain": None, "se": "se", "snl": "snl", "nl": "nl"}.get(name, "gc")
    assert spec.get("block") == expected
    create_model(model["model"], num_classes=2, depths=(1, 1, 1, 1), width=4, **options)


def test_relation_ablation_covers_the_papers_variants():
    names = {os.path.basename(p)[:-5] for p in RELATION}
    assert names == {"plain", "gc", "gc_avg_pool", "gc_mul_fusion", "gc_no_layernorm", "gc_r4", "gc_r64",
                     "gc_c3", "gc_c5", "gc_after_add", "se", "snl", "nl"}


NETWORKS = {"slowfast_r50_gc": dict(frames=32, rate=2, epochs=196, wd=1e-4, batch=64),
            "i3d_r50_gc": dict(frames=8, rate=8, epochs=196, wd=1e-4, batch=64),
            "x3d_m_gc": dict(frames=16, rate=5, epochs=300, wd=5e-5, batch=128)}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_other_network_configs_follow_slowfasts_recipes(name, capsys):
    """Issue 15 item 2: SlowFast's configs/Kinetics recipes for SLOWFAST_8x8_R50, I3D_8x8_R50, X3D_M."""
    path = os.path.join(ROOT, "kinetics400", "networks", f"{name}.yaml")
    with pytest.raises(SystemExit) as done:
        main(["fit", "--config", BASE, "--config", path, "--print_config"])
    assert done.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    want = NETWORKS[name]
    model, data = printed["model"], printed["data"]
    assert model["model"] == name and model_spec(name, **(model["model_options"] or {}))["block"] == "gc"
    assert (data["num_frames"], data["sampling_rate"]) == (want["frames"], want["rate"])
    assert printed["trainer"]["max_epochs"] == model["max_epochs"] == want["epochs"]
    assert model["weight_decay"] == want["wd"] and model["lr"] == 0.1
    assert data["batch_size"] * printed["trainer"]["devices"] == model["reference_batch"] == want["batch"]
