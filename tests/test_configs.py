"""Every shipped config parses with the CLI and builds its model."""
import glob
import os

import pytest
import yaml

from gcvideo.cli import main
from gcvideo.models import BackboneOptions, BlockOptions, create_model, model_spec

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
BASE = os.path.join(ROOT, "kinetics400", "base.yaml")
ROWS = sorted(set(glob.glob(os.path.join(ROOT, "kinetics400", "*.yaml"))) - {BASE}) + \
    sorted(glob.glob(os.path.join(ROOT, "kinetics400", "ablations", "*.yaml")))
DEMO = os.path.join(ROOT, "demo")


def options(model: dict) -> dict:
    """The create_model overrides of a printed config's model section."""
    return {**BackboneOptions.of(model["backbone"]).overrides(), **BlockOptions.of(model["blocks"]).overrides()}


@pytest.mark.parametrize("path", ROWS, ids=lambda p: os.path.relpath(p, ROOT))
def test_kinetics_configs_parse_and_build(path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["fit", "--config", BASE, "--config", path, "--print_config"])
    assert done.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    model = printed["model"]
    spec = model_spec(model["model"], **options(model))      # options valid
    assert printed["trainer"]["max_epochs"] in (196, 100)
    assert printed["data"]["num_frames"] == 8 and printed["data"]["sampling_rate"] == 8
    assert model["lr"] == 0.1 and model["weight_decay"] == 1e-4 and model["momentum"] == 0.9
    if "ablations" in path:
        assert spec["block"] == "gc" and spec["dropout"] == 0.5


def test_ablation_configs_hold_only_their_difference():
    """Each Kinetics ablation file is the model and the one block option it changes; the
    backbone (dropout) comes from base.yaml by merging, not by repetition."""
    reference = model_spec("slow_r50_gc")
    for path in glob.glob(os.path.join(ROOT, "kinetics400", "ablations", "*.yaml")):
        model = yaml.safe_load(open(path))["model"]
        assert set(model) == {"model", "blocks"}, path
        changed = set(model["blocks"])
        assert len(changed) == 1, path
        create_model("slow_r50_gc", num_classes=10, depths=(1, 2, 2, 1), width=8, **model["blocks"])
        assert {k: v for k, v in model_spec("slow_r50_gc", **model["blocks"]).items()
                if reference.get(k) != v}.keys() == changed


@pytest.mark.parametrize("name", ["order", "relation"])
def test_demo_configs_parse(name, capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--config", os.path.join(DEMO, f"{name}.yaml"), "--print_config"])
    model = yaml.safe_load(capsys.readouterr().out)["model"]
    assert model["model"] == "slow_r50_gc" and options(model)["depths"] == [1, 1, 1, 1]


RELATION = sorted(glob.glob(os.path.join(DEMO, "ablations", "relation", "*.yaml")))
ORDER = sorted(glob.glob(os.path.join(DEMO, "ablations", "order", "*.yaml")))


@pytest.mark.parametrize("path", RELATION + ORDER, ids=lambda p: os.path.relpath(p, DEMO))
def test_demo_ablation_configs_merge_onto_their_base(path, capsys):
    base = os.path.join(DEMO, "relation.yaml" if path in RELATION else "order.yaml")
    assert "backbone" not in yaml.safe_load(open(path))["model"], "the backbone is the base's"
    with pytest.raises(SystemExit) as done:
        main(["fit", "--config", base, "--config", path, "--print_config"])
    assert done.value.code in (0, None)
    model = yaml.safe_load(capsys.readouterr().out)["model"]
    merged = options(model)
    # the demo's shrunk backbone arrives from the base file, field by field
    assert merged.pop("depths") == [1, 1, 1, 1] and merged.pop("width") == 16
    assert merged.pop("dropout") == yaml.safe_load(open(base))["model"]["backbone"]["dropout"]
    spec = model_spec(model["model"], **merged)
    name = os.path.basename(path)[:-5]
    expected = {"plain": None, "baseline": None, "se": "se", "se_all": "se", "snl": "snl", "snl_all": "snl",
                "nl": "nl"}.get(name, "gc")
    assert spec.get("block") == expected
    create_model(model["model"], num_classes=2, depths=(1, 1, 1, 1), width=4, **merged)


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
    assert model["model"] == name and model_spec(name, **options(model))["block"] == "gc"
    assert (data["num_frames"], data["sampling_rate"]) == (want["frames"], want["rate"])
    assert printed["trainer"]["max_epochs"] == model["max_epochs"] == want["epochs"]
    assert model["weight_decay"] == want["wd"] and model["lr"] == 0.1
    assert data["batch_size"] * printed["trainer"]["devices"] == model["reference_batch"] == want["batch"]


def test_a_typed_option_with_a_bad_value_is_refused_while_parsing(capsys):
    with pytest.raises(SystemExit) as done:
        main(["fit", "--config", os.path.join(DEMO, "relation.yaml"), "--model.blocks.pooling", "max",
              "--print_config"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert 'Parser key "model.blocks.pooling"' in err and "'att', 'avg'" in err and "max" in err
