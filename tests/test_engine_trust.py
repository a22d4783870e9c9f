"""A checkpoint runs no code when opened, and the number a command prints is the one asked for:
resume, option merging, divergence, signals, locks, retention, keyed re-runs."""
import json
import os

import pytest
import torch

from gcvideo.cli import main
from gcvideo.files import FolderLock
from helpers import tiny_args

EVAL = ["--data.test_views", "1x1", "--data.test_crop_size", "32"]


@pytest.fixture(scope="module")
def run(synth_root, tmp_path_factory):
    """A tiny GC network trained 2 epochs with default retention."""
    folder = tmp_path_factory.mktemp("trust") / "run"
    assert main(["fit", *tiny_args(synth_root, folder, epochs=2), *EVAL]) == 0
    return folder


def payload(path, marker):
    """A checkpoint whose unpickling would run ``touch marker``."""
    evil = type("Evil", (), {"__reduce__": lambda self: (os.system, (f"touch {marker}",))})
    torch.save({"state_dict": {}, "x": evil()}, path)
    return str(path)


def videos_of(synth_root) -> list:
    from gcvideo.data.records import load_records

    return list(load_records(os.path.join(synth_root, "test.csv"), synth_root))


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


COMMANDS_THAT_LOAD = ("predict", "export", "features", "visualize", "analyze nl-stats", "analyze lift",
                      "fit", "validate", "test")


@pytest.mark.parametrize("command", COMMANDS_THAT_LOAD)
def test_no_command_runs_a_checkpoints_code(synth_root, run, tmp_path, capsys, command):
    """Each command that loads a checkpoint refuses one that would run code, in one line naming
    the file, the offending global and the opt-in; the code never runs."""
    marker = tmp_path / "pwned"
    evil = payload(tmp_path / "evil.ckpt", marker)
    video = videos_of(synth_root)[0].path
    argv = {"predict": ["predict", video, "--ckpt_path", evil], "export": ["export", "--ckpt_path", evil],
            "features": ["features", "--ckpt_path", evil, "--data", synth_root, "--out", str(tmp_path / "f")],
            "visualize": ["visualize", "--ckpt_path", evil, "--video", video, "--out", str(tmp_path / "v")],
            "analyze nl-stats": ["analyze", "nl-stats", "--ckpt_path", evil, "--data", synth_root],
            "analyze lift": ["analyze", "lift", "--ckpt_path", evil, "--data", synth_root]}.get(command) or \
        [command, *tiny_args(synth_root, tmp_path / command, epochs=1), *EVAL, "--ckpt_path", evil]
    assert main(argv) == 2
    line = one_line(capsys)
    assert evil in line and "posix.system" in line and "--trust_checkpoint" in line, line
    assert not marker.exists()


def test_a_code_running_file_is_refused_by_the_loader_and_runs_only_when_trusted(synth_root, tmp_path, capsys):
    from gcvideo.engine.checkpoint import load_classifier, read_checkpoint

    marker = tmp_path / "pwned"
    evil = payload(tmp_path / "evil.ckpt", marker)
    with pytest.raises(ValueError, match="refused"):
        load_classifier(evil)
    # a raw pickle named .ckpt is refused too, as not a checkpoint
    import pickle

    raw = tmp_path / "raw.ckpt"
    raw.write_bytes(pickle.dumps({"state_dict": {}, "x": type("E2", (), {"__reduce__": lambda s: (
        os.system, (f"touch {marker}",))})()}))
    assert main(["predict", videos_of(synth_root)[0].path, "--ckpt_path", str(raw)]) == 2
    assert "not a readable checkpoint" in one_line(capsys) and not marker.exists()
    # the documented opt-in loads it anyway (and so runs it)
    read_checkpoint(evil, trust=True)
    assert marker.exists()


def test_a_trained_checkpoint_holds_only_plain_types(run):
    """Why the allow-list is empty: everything gcvideo saves loads with weights_only=True."""
    for name in ("best.ckpt", "last.ckpt"):
        checkpoint = torch.load(run / "checkpoints" / name, weights_only=True)
        assert checkpoint["hyper_parameters"]["model"] == "slow_r50_gc"


def test_resume_keeps_the_best_score(run):
    """Every checkpoint holds the best score so far (the best callback saves first), so a
    resumed run replaces best.ckpt only with a better model."""
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    best = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    states = {k: v for k, v in last["callbacks"].items() if "'monitor': 'val/top1'" in k}
    (state,) = states.values()
    assert state["best_model_score"] is not None and state["best_model_path"].endswith("best.ckpt")
    assert float(state["best_model_score"]) == max(
        float(v["best_model_score"]) for k, v in best["callbacks"].items() if "val/top1" in k)


def test_retention_keeps_best_last_and_every_nth_epoch(synth_root, tmp_path, run):
    assert sorted(os.listdir(run / "checkpoints")) == ["best.ckpt", "last.ckpt"]     # default: every 20
    folder = tmp_path / "every2"
    assert main(["fit", *tiny_args(synth_root, folder, epochs=3), *EVAL, "--checkpoint_every_n_epochs", "2"]) == 0
    assert sorted(os.listdir(folder / "checkpoints")) == ["best.ckpt", "epoch001.ckpt", "last.ckpt"]


def test_evaluation_options_follow_the_command_line_and_network_conflicts_are_refused(
        synth_root, run, tmp_path, capsys):
    ckpt = str(run / "checkpoints" / "best.ckpt")
    out = tmp_path / "test"
    assert main(["test", *tiny_args(synth_root, out), *EVAL, "--ckpt_path", ckpt, "--model.view_batch", "7",
                 "--model.view_average", "logits"]) == 0
    import yaml

    saved = yaml.safe_load(open(next(out.glob("csv/version_*/config.yaml"))))["model"]
    assert saved["view_batch"] == 7 and saved["view_average"] == "logits"
    capsys.readouterr()
    for option, value, words in (("--model.model", "slow_r50", "model.model is slow_r50 here but slow_r50_gc"),
                                 ("--model.blocks.where", "[c3]", "model.blocks.where is ['c3'] here but unset"),
                                 ("--model.backbone.width", "8", "model.backbone.width is 8 here but 4")):
        assert main(["test", *tiny_args(synth_root, out), *EVAL, "--ckpt_path", ckpt, option, value]) == 2
        line = one_line(capsys)
        assert ckpt in line and words in line, line
    # the default model (slow_r50_gc) given explicitly against a plain checkpoint: refused as well
    plain = torch.load(ckpt, weights_only=True)
    plain["hyper_parameters"]["model"] = "slow_r50"
    torch.save(plain, tmp_path / "plain.ckpt")
    assert main(["test", *tiny_args(synth_root, out), *EVAL, "--ckpt_path", str(tmp_path / "plain.ckpt")]) == 2
    assert "model.model is slow_r50_gc here but slow_r50" in one_line(capsys)


def test_a_diverging_run_stops_and_keeps_the_last_finite_checkpoint(synth_root, run, tmp_path, capsys):
    """A NaN loss stops the run before any checkpoint of the diverged weights is written."""
    folder = tmp_path / "diverge"
    assert main(["fit", *tiny_args(synth_root, folder, epochs=3), *EVAL, "--model.lr", "1e6",
                 "--model.warmup_epochs", "0"]) == 1
    line = one_line(capsys)
    assert "NaN or infinite by epoch 0" in line and "--model.lr" in line, line
    assert not (folder / "checkpoints").exists() or not os.listdir(folder / "checkpoints")
    # diverging in epoch 1: epoch 0's checkpoints stay as they were
    folder = tmp_path / "later"
    assert main(["fit", *tiny_args(synth_root, folder, epochs=3), *EVAL,
                 "--trainer.callbacks+=helpers.PoisonAt"]) == 1
    assert "by epoch 1" in one_line(capsys)
    last = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0 and all(torch.isfinite(v).all() for v in last["state_dict"].values()
                                      if v.is_floating_point())
    assert sorted(os.listdir(folder / "checkpoints")) == ["best.ckpt", "last.ckpt"]
    # resuming with another lr is refused: the checkpoint's optimiser state would silently keep the old one
    assert main(["fit", *tiny_args(synth_root, folder, epochs=3), *EVAL, "--model.lr", "0.05",
                 "--ckpt_path", "last"]) == 2
    assert "model.lr is 0.05 here but 0.1 in the checkpoint" in one_line(capsys)
    # a checkpoint with non-finite weights is refused for evaluation
    checkpoint = torch.load(folder / "checkpoints" / "best.ckpt", weights_only=True)
    key = next(k for k in checkpoint["state_dict"] if k.endswith("proj.weight"))
    checkpoint["state_dict"][key][0, 0] = float("nan")
    torch.save(checkpoint, tmp_path / "nan.ckpt")
    video = videos_of(synth_root)[0].path
    assert main(["predict", video, "--ckpt_path", str(tmp_path / "nan.ckpt")]) == 2
    assert "non-finite weights" in one_line(capsys)
    assert main(["test", *tiny_args(synth_root, tmp_path / "t"), *EVAL, "--ckpt_path",
                 str(tmp_path / "nan.ckpt")]) == 2
    assert "non-finite weights" in one_line(capsys)


def test_sigterm_is_not_success_and_resumes_exactly(synth_root, tmp_path, capsys):
    """SIGTERM exits 143 (Lightning's own SystemExit has no code); fit saves last.ckpt at the step
    reached, and the resumed run ends with the weights of a run that was never stopped."""
    folder, straight = tmp_path / "term", tmp_path / "straight"
    assert main(["fit", *tiny_args(synth_root, straight, epochs=2), *EVAL]) == 0
    argv = [*tiny_args(synth_root, folder, epochs=2), *EVAL, "--trainer.callbacks+=helpers.TerminateAt",
            "--trainer.callbacks.epoch", "1"]
    capsys.readouterr()
    assert main(["fit", *argv]) == 143
    line = one_line(capsys)
    assert "SIGTERM during epoch 1, at step 4" in line and "--ckpt_path last" in line, line
    last = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 4 and last["KineticsDataModule"]["position"] == {"epoch": 1, "batches": 1}
    assert main(["fit", *tiny_args(synth_root, folder, epochs=2), *EVAL, "--ckpt_path", "last"]) == 0
    a = torch.load(straight / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 6
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key
    # multi-view test: one video per batch, stopped after the first
    assert main(["test", *tiny_args(synth_root, tmp_path / "t"), *EVAL, "--data.test_views", "2x1", "--ckpt_path",
                 str(straight / "checkpoints" / "best.ckpt"), "--trainer.callbacks+=helpers.TerminateAt"]) == 143
    assert "test stopped by SIGTERM" in one_line(capsys)
    assert not list((tmp_path / "t").glob("test_*/metrics.json"))         # no report of a partial test


def test_a_second_run_into_a_busy_folder_is_refused(synth_root, tmp_path, capsys):
    folder = tmp_path / "busy"
    with FolderLock(str(folder), "test"):
        assert main(["fit", *tiny_args(synth_root, folder, epochs=1), *EVAL]) == 2
        line = one_line(capsys)
        assert f"{folder} is in use by another run (pid {os.getpid()}" in line, line
    assert not (folder / "checkpoints").exists()


def test_features_rerun_only_what_matches(synth_root, run, tmp_path, capsys):
    from gcvideo.tools.features import load_features

    ckpt = str(run / "checkpoints" / "best.ckpt")
    records = videos_of(synth_root)
    paths = [r.path for r in records]
    listing = tmp_path / "list.txt"
    # a duplicate row, and a video that is missing now and appears later
    listing.write_text("\n".join([f"{r.path} {r.label}" for r in records] + [f"{paths[0]} {records[0].label}",
                                                                         f"{tmp_path}/late.mp4 {records[0].label}"]) + "\n")
    out = tmp_path / "features"
    args = ["features", "--ckpt_path", ckpt, "--data", str(listing), "--out", str(out), "--root", synth_root]
    assert main(args) == 1
    got, vectors = load_features(str(out))
    assert len(got) == len(paths) + 1 and len(vectors) == len(paths)     # the duplicate is one video
    assert main(args) == 1
    assert len(load_features(str(out))[0]) == len(paths) + 1             # a rerun adds nothing
    os.link(paths[0], tmp_path / "late.mp4")                              # the failure is retried
    assert main(args) == 0
    assert [r["status"] for r in load_features(str(out))[0]] == ["ok"] * (len(paths) + 1)
    other = torch.load(ckpt, weights_only=True)
    other["state_dict"] = {k: v * 1.01 if v.is_floating_point() else v for k, v in other["state_dict"].items()}
    torch.save(other, tmp_path / "other.ckpt")
    capsys.readouterr()
    for changed, words in ((["--layer", "c5"], "layer 'pre_logits' there vs 'c5' now"),
                           (["--views", "2x1"], "views '1x1' there vs '2x1' now"),
                           (["--ckpt_path", str(tmp_path / "other.ckpt")], "checkpoint_sha256")):
        assert main([*args, *changed]) == 2, changed
        line = one_line(capsys)
        assert "holds features of another run" in line and words in line, line
    listing.write_text(f"{paths[1]} {records[1].label}\n")
    assert main(args) == 2 and "rows" in one_line(capsys)


def test_ablate_keys_runs_by_content_and_labels_them_uniquely(tmp_path, monkeypatch, capsys):
    from gcvideo.tools import ablate

    seen = []
    monkeypatch.setattr(ablate, "run_one", lambda base, config, seed, run_dir, extra: seen.append(run_dir) or {
        "top1": len(seen) / 10, "top5": 1.0, "params_m": 1.0, "gflops": 1.0})
    base = tmp_path / "base.yaml"
    base.write_text("data:\n  root: " + str(tmp_path) + "\n")
    (tmp_path / "train.csv").write_text("")
    monkeypatch.setattr(ablate, "data_ready", lambda root: True)
    for folder, where in (("x", "[c3]"), ("y", "[c4]")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "gc.yaml").write_text(f"model:\n  blocks:\n    where: {where}\n")
    configs = [str(tmp_path / "x" / "gc.yaml"), str(tmp_path / "y" / "gc.yaml")]
    out = tmp_path / "out"
    assert ablate.run_ablate(configs, seeds=1, base=str(base), out=str(out)) == 0
    rows = json.load(open(out / "results.json"))
    assert [r["config"] for r in rows] == ["x/gc", "y/gc"] and rows[0]["runs"][0]["top1"] != rows[1]["runs"][0]["top1"]
    assert len(set(seen)) == 2
    # an edited config is another run; an unchanged one (comments aside) the same
    (tmp_path / "x" / "gc.yaml").write_text("# note\nmodel:\n  blocks:\n    where: [c3]\n")
    assert ablate.run_key(str(base), configs[0], [], 0) == rows[0]["runs"][0]["key"]
    (tmp_path / "x" / "gc.yaml").write_text("model:\n  blocks:\n    where: [c5]\n")
    assert ablate.run_key(str(base), configs[0], [], 0) != rows[0]["runs"][0]["key"]
    with pytest.raises(ValueError, match="listed twice"):
        ablate.run_ablate([configs[0], configs[0]], seeds=1, base=str(base), out=str(out))
    # without configs: the relation ablation, each found by its shipped name
    seen.clear()
    assert ablate.run_ablate(seeds=1, base=str(base), out=str(tmp_path / "default")) == 0
    assert [os.path.basename(os.path.dirname(d)) for d in seen] == list(ablate.RELATION_ABLATION)


def test_non_finite_weights_with_a_finite_loss_are_divergence(synth_root, tmp_path, capsys):
    """Divergence is non-finite weights (or val loss), not only a non-finite training loss: no
    checkpoint of them is written, and the message says which."""
    folder = tmp_path / "weights"
    assert main(["fit", *tiny_args(synth_root, folder, epochs=1), *EVAL,
                 "--trainer.callbacks+=helpers.PoisonBufferAtEnd"]) == 1
    assert "the weights became NaN or infinite by epoch 0" in one_line(capsys)
    assert not (folder / "checkpoints").exists() or not os.listdir(folder / "checkpoints")
    folder = tmp_path / "huge_lr"                     # the hostile round's command
    assert main(["fit", *tiny_args(synth_root, folder, epochs=1), *EVAL, "--model.lr", "1e6",
                 "--model.warmup_epochs", "0", "--trainer.limit_train_batches", "3"]) == 1
    assert "NaN or infinite" in one_line(capsys)
    assert not (folder / "checkpoints").exists() or not os.listdir(folder / "checkpoints")


def test_resuming_with_options_that_change_the_schedule_is_refused(synth_root, tmp_path, capsys):
    """The restored optimiser and lr schedule were made for a total batch and a length: a resume
    that changes either is refused, naming both values; the same options resume."""
    folder = tmp_path / "run"
    assert main(["fit", *tiny_args(synth_root, folder, epochs=1), *EVAL]) == 0
    capsys.readouterr()
    resume = [*tiny_args(synth_root, folder, epochs=1), *EVAL, "--ckpt_path", "last"]
    for extra, said in ((["--data.batch_size", "2"], "data.batch_size 4 there, 2 here"),
                        (["--data.clips_per_video", "2"], "4 clips per step there (the lr was scaled for them), 8 here"),
                        (["--trainer.max_epochs", "2"], "an lr schedule of 1 epochs there, 2 here")):
        assert main(["fit", *resume, *extra]) == 2
        assert said in one_line(capsys)
    before = os.path.getmtime(folder / "checkpoints" / "last.ckpt")
    assert main(["fit", *resume]) == 0                   # nothing left to train: the same options resume
    assert os.path.getmtime(folder / "checkpoints" / "last.ckpt") == before


@pytest.mark.parametrize("extra, said", [
    (["--model.warmup_epochs", "34"], "model.warmup_epochs 34 is as long as the whole lr schedule (1 epochs"),
    (["--model.max_epochs", "1", "--trainer.max_epochs", "2"], "model.max_epochs 1 (where the cosine lr schedule "
                                                               "ends) is shorter than trainer.max_epochs 2"),
    (["--trainer.limit_train_batches", "0"], "--trainer.limit_train_batches 0 would train no batch"),
    (["--data.val", "missing.csv"], "data.val: list not found"),
    (["--data.clips_per_video", "100000"], "data.clips_per_video must be 1-16"),
])
def test_fit_options_that_cannot_give_the_run_asked_for_stop_before_any_folder(synth_root, tmp_path, capsys,
                                                                             extra, said):
    folder = tmp_path / "run"
    assert main(["fit", *tiny_args(synth_root, folder, epochs=1), *EVAL, *extra]) == 2
    assert said in one_line(capsys)
    assert not folder.exists()


def test_evaluation_of_no_batch_is_refused(synth_root, run, tmp_path, capsys):
    ckpt = str(run / "checkpoints" / "last.ckpt")
    for command, limit in (("test", "limit_test_batches"), ("validate", "limit_val_batches")):
        assert main([command, *tiny_args(synth_root, tmp_path / command), *EVAL, "--ckpt_path", ckpt,
                     f"--trainer.{limit}", "0"]) == 2
        assert f"--trainer.{limit} 0 would score no batch" in one_line(capsys)


@pytest.mark.parametrize("option, value, said", [("eval_short_side", 60000, "data.eval_short_side must be"),
                                                 ("target_fps", 0, "data.target_fps must be > 0"),
                                                 ("sampling_rate", 0, "data.sampling_rate must be")])
def test_a_checkpoint_with_unusable_data_options_is_refused_on_load(synth_root, run, tmp_path, capsys,
                                                                    option, value, said):
    """A checkpoint's data options are checked as the command line's are: no 8 copies of one frame."""
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["datamodule_hyper_parameters"][option] = value
    path = tmp_path / "edited.ckpt"
    torch.save(checkpoint, path)
    video = videos_of(synth_root)[0].path
    assert main(["predict", video, "--ckpt_path", str(path)]) == 2
    line = one_line(capsys)
    assert str(path) in line and said in line, line


def test_sigterm_to_the_process_group_stops_fit_like_sigterm_to_it(synth_root, tmp_path):
    """Schedulers signal the whole process group: the loader workers must not die first with a
    traceback; fit saves last.ckpt at the step reached and exits 143."""
    import subprocess
    import sys

    folder = tmp_path / "group"
    argv = [*tiny_args(synth_root, folder, epochs=2), *EVAL, "--data.num_workers", "2",
            "--trainer.callbacks+=helpers.TerminateGroupAt", "--trainer.callbacks.epoch", "1"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "gcvideo.cli", "fit", *argv], capture_output=True, text=True,
                          timeout=300, start_new_session=True, env=env)
    assert done.returncode == 143, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "SIGTERM during epoch 1" in done.stderr, done.stderr[-2000:]
    assert torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1


def test_foreign_files_as_weights_are_one_line_naming_what_they_are(synth_root, run, tmp_path, capsys):
    text = tmp_path / "notes.ckpt"
    text.write_text("hello world\nthese are notes\n")
    video = videos_of(synth_root)[0].path
    assert main(["predict", video, "--ckpt_path", str(text)]) == 2
    assert "notes.ckpt is a text file (it starts 'hello world'), not a checkpoint" in one_line(capsys)
    marker = tmp_path / "ran"
    evil = payload(tmp_path / "evil.pt", marker)
    assert main(["fit", *tiny_args(synth_root, tmp_path / "f", epochs=1), *EVAL, "--model.pretrained", evil]) == 2
    line = one_line(capsys)
    assert "holds a posix.system object" in line and "weights_only" not in line and not marker.exists(), line
    ckpt = str(run / "checkpoints" / "last.ckpt")
    assert main(["export", "--ckpt_path", ckpt, "--size", "20000", "--out", str(tmp_path / "x.ts")]) == 2
    assert "--size 16-2048" in one_line(capsys)


def test_onnx_export_without_its_packages_names_the_extra(run, tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert main(["export", "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--format", "onnx",
                 "--out", str(tmp_path / "x.onnx")]) == 2
    assert "pip install 'gcvideo[export]'" in one_line(capsys) and not (tmp_path / "x.onnx").exists()


def test_damaged_files_a_command_reads_are_one_line_naming_them(synth_root, run, tmp_path, capsys):
    import shutil

    odd = tmp_path / "odd.ckpt"
    torch.save({"state_dict": 5}, odd)
    assert main(["predict", videos_of(synth_root)[0].path, "--ckpt_path", str(odd)]) == 2
    assert "odd.ckpt is not a usable checkpoint: its state_dict is a int" in one_line(capsys)
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "test_1x1").mkdir(exist_ok=True)
    (copy / "test_1x1" / "metrics.json").write_text("{\n")
    assert main(["report", "run", str(copy)]) == 2
    line = one_line(capsys)
    assert str(copy / "test_1x1" / "metrics.json") in line and "not readable JSON" in line, line
