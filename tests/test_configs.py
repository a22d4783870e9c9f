"""Every shipped config parses with the CLI, builds its model, and is found by name."""
import os

import pytest
import yaml

from gcvideo.cli import main
from gcvideo.configs import FOLDER, find_config, list_configs, shipped
from gcvideo.models import BackboneOptions, BlockOptions, create_model, model_spec
from gcvideo.tools.ablate import RELATION_ABLATION

MODELS = [c for c in list_configs() if c.startswith("models/")]
BASES = ["kinetics400/base.yaml", "demo/relation.yaml", "demo/order.yaml"]


def options(model: dict) -> dict:
    """The create_model overrides of a printed config's model section."""
    return {**BackboneOptions.of(model["backbone"]).overrides(), **BlockOptions.of(model["blocks"]).overrides()}


def printed_config(capsys, *configs: str) -> dict:
    with pytest.raises(SystemExit) as done:
        main(["fit", *[a for c in configs for a in ("--config", c)], "--print_config"])
    assert done.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("name", MODELS)
def test_kinetics_rows_parse_and_build(name, capsys):
    printed = printed_config(capsys, "kinetics400/base.yaml", name)      # found by name, not by path
    model = printed["model"]
    model_spec(model["model"], **options(model))      # options valid
    assert printed["trainer"]["max_epochs"] == 196 and model["max_epochs"] is None
    assert printed["data"]["num_frames"] == 8 and printed["data"]["sampling_rate"] == 8
    assert model["lr"] == 0.1 and model["weight_decay"] == 1e-4 and model["momentum"] == 0.9
    assert options(model)["dropout"] == 0.5          # the base's backbone arrives by merging


def test_model_configs_hold_only_the_network():
    """A model config is its network and at most the block options that make it: the backbone
    and the recipe come from the base; the gc_* variants change one option of ``slow_r50_gc``."""
    reference = model_spec("slow_r50_gc")
    for name in MODELS:
        text = yaml.safe_load(open(shipped(name)))
        assert set(text) == {"model"} and set(text["model"]) <= {"model", "blocks"}, name
        model = text["model"]
        create_model(model["model"], num_classes=10, depths=(1, 4, 6, 1), width=4, **model.get("blocks", {}))
        if os.path.basename(name).startswith("gc_"):
            changed = set(model["blocks"])
            assert model["model"] == "slow_r50_gc" and len(changed) == 1, name
            assert {k: v for k, v in model_spec("slow_r50_gc", **model["blocks"]).items()
                    if reference.get(k) != v}.keys() == changed


@pytest.mark.parametrize("base", BASES[1:])
def test_demo_configs_parse(base, capsys):
    model = printed_config(capsys, base)["model"]
    assert model["model"] == "slow_r50_gc" and options(model)["depths"] == [1, 1, 1, 1]


@pytest.mark.parametrize("name", [f"models/{n}.yaml" for n in RELATION_ABLATION])
def test_model_configs_merge_onto_a_demo_base(name, capsys):
    base = "demo/relation.yaml"
    model = printed_config(capsys, base, name)["model"]
    merged = options(model)
    # the demo's shrunk backbone arrives from the base file, field by field
    assert merged.pop("depths") == [1, 1, 1, 1] and merged.pop("width") == 16
    assert merged.pop("dropout") == yaml.safe_load(open(shipped(base)))["model"]["backbone"]["dropout"]
    spec = model_spec(model["model"], **merged)
    stem = os.path.basename(name)[:-5]
    assert spec.get("block") == {"plain": None, "se": "se", "snl": "snl", "nl": "nl"}.get(stem, "gc")
    create_model(model["model"], num_classes=2, depths=(1, 1, 1, 1), width=4, **merged)


def test_relation_ablation_covers_the_papers_variants():
    assert set(RELATION_ABLATION) == {"plain", "gc", "gc_avg_pool", "gc_mul_fusion", "gc_no_layernorm", "gc_r4",
                                      "gc_r64", "gc_c3", "gc_c5", "gc_after_add", "se", "snl", "nl"}
    assert all(f"models/{n}.yaml" in MODELS for n in RELATION_ABLATION)


NETWORKS = {"slowfast_r50_gc": dict(frames=32, rate=2, epochs=196, wd=1e-4, batch=64),
            "i3d_r50_gc": dict(frames=8, rate=8, epochs=196, wd=1e-4, batch=64),
            "x3d_m_gc": dict(frames=16, rate=5, epochs=300, wd=5e-5, batch=128)}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_other_network_configs_follow_slowfasts_recipes(name, capsys):
    """SlowFast's configs/Kinetics recipes for SLOWFAST_8x8_R50, I3D_8x8_R50, X3D_M."""
    printed = printed_config(capsys, "kinetics400/base.yaml", f"kinetics400/networks/{name}.yaml")
    want = NETWORKS[name]
    model, data = printed["model"], printed["data"]
    assert model["model"] == name and model_spec(name, **options(model))["block"] == "gc"
    assert (data["num_frames"], data["sampling_rate"]) == (want["frames"], want["rate"])
    assert printed["trainer"]["max_epochs"] == want["epochs"]
    assert model["max_epochs"] is None          # one source for the schedule's length: trainer.max_epochs
    assert model["weight_decay"] == want["wd"] and model["lr"] == 0.1
    assert data["batch_size"] * printed["trainer"]["devices"] == model["reference_batch"] == want["batch"]


def test_a_typed_option_with_a_bad_value_is_refused_while_parsing(capsys):
    with pytest.raises(SystemExit) as done:
        main(["fit", "--config", "demo/relation.yaml", "--model.blocks.pooling", "max", "--print_config"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert 'Parser key "model.blocks.pooling"' in err and "'att', 'avg'" in err and "max" in err


def test_a_config_name_finds_the_shipped_file_unless_a_local_file_has_it(tmp_path, monkeypatch):
    assert find_config("models/gc.yaml") == os.path.join(FOLDER, "models", "gc.yaml")
    assert find_config("configs/models/gc.yaml") == find_config("models/gc") == find_config("models/gc.yaml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "gc.yaml").write_text("model:\n  model: slow_r50\n")
    assert find_config("models/gc.yaml") == "models/gc.yaml"      # the user's own file wins
    for name in ("models/nope.yaml", "../setup.py", "/etc/passwd.yaml"):
        with pytest.raises(FileNotFoundError, match="gcvideo configs"):
            find_config(name)


def test_a_missing_config_is_one_line_without_usage(capsys):
    assert main(["fit", "--config", "kinetics400/nope.yaml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "kinetics400/nope.yaml" in err[0] and "gcvideo configs" in err[0]


def test_configs_command_lists_shows_and_copies(tmp_path, capsys):
    assert main(["configs"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in list_configs()) and "Slow-only ResNet-50" in listed
    assert main(["configs", "models/gc_r4.yaml"]) == 0
    assert "reduction: 4" in capsys.readouterr().out
    assert main(["configs", "demo/relation.yaml", "--copy", str(tmp_path)]) == 0
    copied = tmp_path / "relation.yaml"
    assert copied.read_text() == open(shipped("demo/relation.yaml")).read()
    assert main(["configs", "demo/relation.yaml", "--copy", str(copied)]) == 2      # never replaced
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("base, model, frames, classes_from", [
    ("ssv2/base.yaml", "slowfast_r50", 64, "train.json"),
    ("ucf101/finetune.yaml", "slow_r50", 8, "trainlist01.txt"),
    ("hmdb51/finetune.yaml", "slow_r50", 8, "train_split1"),
    ("charades/base.yaml", "slow_r50", 8, "Charades_v1_train.csv"),
])
def test_dataset_recipes_parse_and_take_a_gc_model(base, model, frames, classes_from, capsys):
    """The dataset recipes (each number's source is in its file) parse alone and with a GC model
    after them; SSv2's takes one frame per segment and never flips."""
    printed = printed_config(capsys, base)
    assert printed["model"]["model"] == model and printed["data"]["num_frames"] == frames
    assert printed["data"]["train"].endswith(classes_from)
    if base.startswith("ssv2"):
        assert printed["data"]["sampling"] == "segments" and printed["data"]["flip"] is False
        assert printed["model"]["lr"] == 0.03 and printed["model"]["reference_batch"] == 128
        gc = printed_config(capsys, base, "ssv2/gc.yaml")
    elif base.startswith("charades"):      # PySlowFast's Slow 8x8 Charades recipe: views by max
        assert printed["model"]["view_average"] == "max" and printed["data"]["test_views"] == "10x3"
        assert printed["model"]["lr"] == 0.25 and printed["trainer"]["max_epochs"] == 60
        gc = printed_config(capsys, base, "models/gc.yaml")
    else:
        assert printed["data"]["test_views"] == "10x3" and printed["trainer"]["max_epochs"] == 64
        gc = printed_config(capsys, base, "models/gc.yaml")
    assert gc["model"]["model"].endswith("_gc")
