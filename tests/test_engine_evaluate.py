"""Multi-view test end to end: reports, failures, DDP exactness, gcvideo predict."""
import csv
import json
import os
import subprocess
import sys

import pytest
import torch

from gcvideo.cli import main
from gcvideo.data.records import load_records
from helpers import tiny_args

EVAL = ["--data.test_views", "2x3", "--data.test_crop_size", "32"]


@pytest.fixture(scope="module")
def trained(synth_root, tmp_path_factory):
    """A tiny model trained one epoch, and an odd-sized test list with one missing video."""
    run = tmp_path_factory.mktemp("eval_run")
    assert main(["fit", *tiny_args(synth_root, run / "fit", epochs=1), *EVAL]) == 0
    records = load_records(os.path.join(synth_root, "test.csv"), synth_root)
    listing = run / "odd_test.txt"
    lines = [f"{r.path} {r.label}" for r in records] + [f"{run}/gone.mp4 {records[0].label}"]
    listing.write_text("\n".join(lines) + "\n")
    assert len(lines) % 2 == 1
    return {"ckpt": str(run / "fit" / "checkpoints" / "last.ckpt"), "list": str(listing), "run": run,
            "videos": [r.path for r in records]}


def eval_args(synth_root, trained, out):
    return [*tiny_args(synth_root, out), *EVAL, "--data.test", trained["list"], "--ckpt_path", trained["ckpt"]]


def read(folder):
    preds = list(csv.DictReader(open(os.path.join(folder, "predictions.csv"))))
    fails = list(csv.DictReader(open(os.path.join(folder, "failures.csv"))))
    metrics = json.load(open(os.path.join(folder, "metrics.json")))
    return preds, fails, metrics


def test_single_process_reports(synth_root, trained, capsys):
    out = trained["run"] / "single"
    assert main(["test", *eval_args(synth_root, trained, out)]) == 0
    assert "2x3 views of 4x2 frames, short side 32, 32-px crops, 4/5 videos readable" in capsys.readouterr().out
    preds, fails, metrics = read(out / "test_2x3")
    assert len(preds) == 4 and [f["video_id"] for f in fails] == ["gone"]
    assert fails[0]["reason"] == "missing"
    assert metrics["top1_all"] == pytest.approx(metrics["top1"] * 4 / 5)
    assert {"top1", "top5", "mean_class_accuracy", "per_class_accuracy", "confusion"} <= set(metrics)
    assert metrics["view"] == {"views": "2x3", "num_frames": 4, "sampling_rate": 2, "target_fps": 30.0,
                               "short_side": 32, "crop": 32, "train_crop": 32, "protocol": "gcvideo"}


def test_fewer_views_and_the_data_fingerprint_come_with_every_test(synth_root, trained, capsys):
    """Accuracy for fewer views from the same pass (the full entry is the main
    result) and which copy of the data produced the number, in metrics.json and printed."""
    import torch

    out = trained["run"] / "views"
    assert main(["test", *eval_args(synth_root, trained, out)]) == 0
    printed = capsys.readouterr().out
    _, _, metrics = read(out / "test_2x3")
    assert list(metrics["views"]) == ["1x1", "1x3", "2x3"]
    assert metrics["views"]["2x3"] == {"top1": metrics["top1"], "top5": metrics["top5"]}
    assert os.path.getsize(out / "test_2x3" / "views.png") > 0
    data = metrics["data"]
    assert (data["rows"], data["present"], data["readable"]) == (5, 4, 4) and len(data["sha256"]) == 16
    assert f"data: 5 rows, 4 present, 4 readable, sha256 {data['sha256']}" in printed
    # the checkpoint knows which copy trained it; another copy (one video fewer) has another hash
    state = torch.load(trained["ckpt"], map_location="cpu", weights_only=False)["KineticsDataModule"]
    train = state["fingerprints"]["train"]
    assert train["rows"] == train["present"] == 12
    from gcvideo.data.records import fingerprint, load_records

    records = load_records(os.path.join(synth_root, "train.csv"), synth_root)
    assert fingerprint(records) == train
    records.present[3] = False
    assert fingerprint(records)["sha256"] != train["sha256"]


def test_view_subsets_pick_spread_clips_and_the_centre_crop():
    from gcvideo.data.multiview import view_subsets

    subsets = view_subsets(10, 3)
    assert list(subsets) == ["1x1", "1x3", "3x3", "5x3", "10x3"]
    assert subsets["1x1"] == [5 * 3 + 1] and subsets["1x3"] == [15, 16, 17]
    assert [i // 3 for i in subsets["3x3"][::3]] == [0, 5, 9]
    assert [i // 3 for i in subsets["5x3"][::3]] == [0, 2, 5, 7, 9]
    assert subsets["10x3"] == list(range(30))


@pytest.mark.slow
def test_two_processes_give_the_same_results(synth_root, trained):
    single = trained["run"] / "single" / "test_2x3"
    if not single.exists():
        assert main(["test", *eval_args(synth_root, trained, trained["run"] / "single")]) == 0
    out = trained["run"] / "ddp"
    args = eval_args(synth_root, trained, out)
    args[args.index("--trainer.devices") + 1] = "2"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "gcvideo.cli", "test", *args, "--trainer.strategy", "ddp"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("videos readable") == 1                      # reported once
    (p1, f1, m1), (p2, f2, m2) = read(single), read(out / "test_2x3")
    assert [r["video_id"] for r in p1] == [r["video_id"] for r in p2]   # every video exactly once
    assert [r["top1"] for r in p1] == [r["top1"] for r in p2]
    for a, b in zip(p1, p2):
        assert float(a["score1"]) == pytest.approx(float(b["score1"]), abs=1e-5)
    assert f1 == f2
    assert {k: m1[k] for k in ("top1", "top5", "top1_all", "videos")} == \
        {k: m2[k] for k in ("top1", "top5", "top1_all", "videos")}


@pytest.mark.slow
def test_two_nodes_under_torchrun_give_the_same_results(synth_root, trained):
    """The README's multi-node path tried on one machine: two `torchrun --nnodes 2` launchers (node
    ranks 0 and 1, one process each, gloo over 127.0.0.1) score the checkpoint exactly as one
    process does, every video once, the reports written once (by the first node's rank 0)."""
    import socket
    import shutil

    single = trained["run"] / "single" / "test_2x3"
    if not single.exists():
        assert main(["test", *eval_args(synth_root, trained, trained["run"] / "single")]) == 0
    out = trained["run"] / "two_nodes"
    args = eval_args(synth_root, trained, out)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or "torchrun"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen([torchrun, "--nnodes", "2", "--node_rank", str(rank), "--nproc_per_node", "1",
                               "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "gcvideo.cli", "test",
                               *args, "--trainer.num_nodes", "2", "--trainer.strategy", "ddp"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in (0, 1)]
    logs = [node.communicate(timeout=300)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in logs[1]
    assert sum(log.count("videos readable") for log in logs) == 1                  # reported once
    (p1, f1, m1), (p2, f2, m2) = read(single), read(out / "test_2x3")
    assert [r["video_id"] for r in p1] == [r["video_id"] for r in p2]
    assert [r["top1"] for r in p1] == [r["top1"] for r in p2]
    for a, b in zip(p1, p2):
        assert float(a["score1"]) == pytest.approx(float(b["score1"]), abs=1e-5)
    assert f1 == f2 and m1["top1"] == m2["top1"]


def test_predict_prints_top_classes(synth_root, trained, capsys):
    single = trained["run"] / "single" / "test_2x3"
    if not single.exists():
        assert main(["test", *eval_args(synth_root, trained, trained["run"] / "single")]) == 0
    capsys.readouterr()
    video = trained["videos"][0]
    assert main(["predict", video, "--ckpt_path", trained["ckpt"], "--views", "2x3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    classes = sorted(os.listdir(synth_root))
    assert len(result["top"]) == 4 and all(name in classes for name, _ in result["top"])
    assert sum(p for _, p in result["top"]) == pytest.approx(1.0, abs=1e-4)
    row = next(r for r in read(single)[0] if r["path"] == video)
    assert result["top"][0][0] == row["top1"]
    assert result["top"][0][1] == pytest.approx(float(row["score1"]), abs=1e-4)
    assert main(["predict", "/nonexistent.mp4", "--ckpt_path", trained["ckpt"]]) == 1
    assert "missing" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["torchscript", "onnx", "export"])
def test_export_matches_eager(trained, tmp_path, capsys, recwarn, fmt):
    out = str(tmp_path / f"net.{fmt}")
    assert main(["export", "--ckpt_path", trained["ckpt"], "--format", fmt, "--out", out]) == 0
    ours = [w for w in recwarn if issubclass(w.category, torch.jit.TracerWarning) and "gcvideo" in w.filename]
    assert not ours, [f"{w.filename}:{w.lineno}" for w in ours]      # no warning a user cannot act on
    text = capsys.readouterr().out
    assert "max abs diff vs eager" in text and os.path.getsize(out) > 0
    diff = float(text.rsplit(":", 1)[1])
    assert diff < 1e-4


def test_validate_command_uses_the_multiview_protocol(synth_root, trained, capsys):
    out = trained["run"] / "validate"
    args = [*tiny_args(synth_root, out), *EVAL, "--ckpt_path", trained["ckpt"]]
    assert main(["validate", *args]) == 0
    assert "val (2x3 views of 4x2 frames, short side 32, 32-px crops, 4/4 videos readable)" in capsys.readouterr().out
    preds, fails, metrics = read(out / "val_2x3")
    assert len(preds) == 4 and not fails and metrics["videos"] == 4


@pytest.mark.parametrize("command", ["test", "validate"])
def test_evaluation_without_weights_is_refused_unless_asked(synth_root, tmp_path, capsys, command):
    out = tmp_path / command
    reports = out / f"{'val' if command == 'validate' else 'test'}_2x3"
    args = [*tiny_args(synth_root, out), *EVAL]
    assert main([command, *args]) == 2
    err = capsys.readouterr().err
    assert "no --ckpt_path" in err and "--untrained true" in err
    assert not os.path.exists(reports)                                     # no report written
    assert main([command, *args, "--untrained", "true"]) == 0             # explicit: allowed
    assert os.path.exists(reports / "metrics.json")


def test_predict_and_export_name_a_bad_checkpoint_in_one_line(trained, tmp_path, capsys):
    """predict/export name what in a bad checkpoint does not fit, in one line."""
    import torch

    good = torch.load(trained["ckpt"], map_location="cpu", weights_only=False)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(open(trained["ckpt"], "rb").read()[:1000])
    plain = tmp_path / "plain.pt"
    torch.save(good["state_dict"], plain)
    other = tmp_path / "other_classes.ckpt"
    head = next(k for k in good["state_dict"] if k.endswith("proj.weight"))
    torch.save({**good, "state_dict": {**good["state_dict"], head: torch.zeros(7, good["state_dict"][head].shape[1])}},
               other)
    missing = tmp_path / "missing_key.ckpt"
    torch.save({**good, "state_dict": {k: v for k, v in good["state_dict"].items() if k != head}}, missing)
    expected = {truncated: "not a readable checkpoint", plain: "not a Lightning checkpoint",
                other: f"{head} is (7, ", missing: f"the file lacks {head}"}
    video = trained["videos"][0]
    for path, words in expected.items():
        for argv in (["predict", video, "--ckpt_path", str(path)], ["export", "--ckpt_path", str(path)]):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and str(path) in err[0] and words in err[0], (argv, err)
    (tmp_path / "a_file").write_text("")
    assert main(["export", "--ckpt_path", trained["ckpt"], "--out", str(tmp_path / "a_file" / "net.ts")]) == 2
    assert "a_file is a file, not a folder" in capsys.readouterr().err


def direct_features(trained, path, layer):
    """The same vector computed without the tool: the centre view through the network's blocks."""
    import torch

    from gcvideo.data.multiview import decode_views, iter_views
    from gcvideo.engine.checkpoint import load_classifier

    module, spec = load_classifier(trained["ckpt"])
    decoded = decode_views(path, num_frames=spec.num_frames, sampling_rate=spec.sampling_rate,
                           clips=1, crops=1, short_side=spec.eval_short_side, crop=spec.test_crop_size)
    x = next(iter_views(decoded["frames"], decoded["boxes"], 1))
    blocks = module.model.eval().blocks
    with torch.no_grad():
        for block in blocks[:-1]:
            x = block(x)
        return (blocks[-1].pool(x) if layer == "pre_logits" else x).flatten(2).mean(-1)[0].numpy()


def test_features_match_a_direct_forward_list_failures_and_resume(synth_root, trained, tmp_path, capsys):
    """Per-video vectors in shards with an index; bad videos listed; resumable."""
    import numpy as np

    from gcvideo.tools.features import load_features

    out = tmp_path / "features"
    args = ["features", "--ckpt_path", trained["ckpt"], "--data", trained["list"], "--out", str(out),
            "--shard-size", "2"]
    assert main(args) == 1                                         # one video is missing
    assert "4 feature vectors, 1 videos failed" in capsys.readouterr().out
    rows, vectors = load_features(str(out))
    assert [r["status"] for r in rows] == ["ok"] * 4 + ["failed"] and rows[-1]["reason"] == "missing"
    assert sorted(os.listdir(out)) == ["features-00000.npy", "features-00001.npy", "features.json", "index.csv"]
    for row, vector in zip(rows, vectors):
        assert np.allclose(vector, direct_features(trained, row["path"], "pre_logits"), atol=1e-4)
    # interrupted before the second shard: the re-run writes exactly what is missing
    os.remove(out / "features-00001.npy")
    index = (out / "index.csv").read_text().splitlines()
    (out / "index.csv").write_text("\n".join(index[:3]) + "\n")
    assert main(args) == 1
    rows2, vectors2 = load_features(str(out))
    assert [r["path"] for r in rows2] == [r["path"] for r in rows] and np.allclose(vectors2, vectors, atol=1e-6)
    # c5: the last stage's output averaged over T x H x W; 10x3-style multi-view averaging runs too
    out5 = tmp_path / "c5"
    assert main(["features", "--ckpt_path", trained["ckpt"], "--data", trained["list"], "--out", str(out5),
                 "--layer", "c5", "--views", "2x3"]) == 1
    rows5, vectors5 = load_features(str(out5))
    assert vectors5.shape[0] == 4 and vectors5.shape[1] == vectors.shape[1]


def test_features_resume_a_distributed_run_that_stopped_before_its_merge(synth_root, trained, tmp_path):
    """Two ranks' indexes left unmerged (one rank had finished, the other had one shard): a rerun
    in one process keeps their vectors, computes only the rest and writes one complete index."""
    import numpy as np

    from gcvideo.engine.features import load_features, read_index, write_index

    out = tmp_path / "features"
    args = ["features", "--ckpt_path", trained["ckpt"], "--data", trained["list"], "--out", str(out),
            "--shard-size", "1"]
    assert main(args) == 1
    rows, vectors = load_features(str(out))
    ok = [r for r in rows if r["status"] == "ok"]
    write_index(str(out / "index-rank0.csv"), ok[0::2])
    write_index(str(out / "index-rank1.csv"), ok[1:2])
    os.remove(out / "index.csv")
    os.remove(out / ok[3]["shard"])                  # rank 1's second shard never written
    kept = {r["path"]: r["shard"] for r in ok[:3]}
    assert main(args) == 1
    rows2, vectors2 = load_features(str(out))
    assert [r["path"] for r in rows2] == [r["path"] for r in rows]
    assert all(r["shard"] == kept[r["path"]] for r in rows2 if r["path"] in kept)       # not computed again
    assert np.allclose(vectors2, vectors, atol=1e-6)
    assert len(read_index(str(out / "index.csv"))) == len(rows)


def test_features_rerun_of_a_finished_folder_computes_nothing(synth_root, trained, tmp_path, capsys):
    """Every video done: a rerun gives the trainer no video, keeps the shards and reports the run."""
    from gcvideo.engine.features import load_features

    listing = tmp_path / "ok.txt"
    listing.write_text("".join(line + "\n" for line in open(trained["list"]).read().splitlines()
                               if "gone.mp4" not in line))
    out = tmp_path / "features"
    args = ["features", "--ckpt_path", trained["ckpt"], "--data", str(listing), "--out", str(out)]
    assert main(args) == 0
    rows, vectors = load_features(str(out))
    stamps = {name: os.stat(out / name).st_mtime_ns for name in os.listdir(out)}
    capsys.readouterr()
    assert main(args) == 0
    assert f"{len(rows)} feature vectors, 0 videos failed" in capsys.readouterr().out
    assert {name: os.stat(out / name).st_mtime_ns for name in os.listdir(out) if name != "index.csv"} == \
        {k: v for k, v in stamps.items() if k != "index.csv"}            # no shard written again
    rows2, vectors2 = load_features(str(out))
    assert rows2 == rows and (vectors2 == vectors).all()


@pytest.mark.slow
def test_features_with_two_processes_handle_each_video_once(synth_root, trained, tmp_path):
    import numpy as np

    from gcvideo.tools.features import load_features

    single, ddp = tmp_path / "single", tmp_path / "ddp"
    base = ["features", "--ckpt_path", trained["ckpt"], "--data", trained["list"], "--shard-size", "2"]
    assert main([*base, "--out", str(single)]) == 1
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29533",
           "WORLD_SIZE": "2"}
    procs = [subprocess.Popen([sys.executable, "-m", "gcvideo.cli", *base, "--out", str(ddp)],
                              env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for r in range(2)]
    for p in procs:
        p.wait(timeout=300)
        assert p.returncode == 1, p.stderr.read()[-2000:]
    (r1, v1), (r2, v2) = load_features(str(single)), load_features(str(ddp))
    assert [r["path"] for r in r1] == [r["path"] for r in r2]              # every video exactly once
    assert [r["status"] for r in r1] == [r["status"] for r in r2]
    assert np.allclose(v1, v2, atol=1e-5)


def test_export_never_writes_over_its_checkpoint_or_an_existing_file(trained, tmp_path, capsys):
    before = open(trained["ckpt"], "rb").read()
    link = tmp_path / "link.ckpt"
    link.symlink_to(trained["ckpt"])
    for out in (trained["ckpt"], str(link)):
        assert main(["export", "--ckpt_path", trained["ckpt"], "--out", out, "--overwrite"]) == 2
        assert "one of the inputs" in capsys.readouterr().err
    assert open(trained["ckpt"], "rb").read() == before
    other = tmp_path / "notes.ts"
    other.write_text("mine")
    assert main(["export", "--ckpt_path", trained["ckpt"], "--out", str(other)]) == 2
    assert "--overwrite" in capsys.readouterr().err and other.read_text() == "mine"
    assert main(["export", "--ckpt_path", trained["ckpt"], "--out", str(other), "--overwrite"]) == 0


def test_report_run_never_writes_over_what_it_reads(trained, capsys):
    run = os.path.dirname(os.path.dirname(trained["ckpt"]))
    before = open(trained["ckpt"], "rb").read()
    assert main(["report", "run", run, "--out", trained["ckpt"], "--overwrite"]) == 2
    assert "a file of the input" in capsys.readouterr().err
    assert open(trained["ckpt"], "rb").read() == before


def test_evaluation_reports_go_beside_the_checkpoints_run_never_over_another(synth_root, trained, tmp_path, capsys):
    """A config naming another run's folder does not send a checkpoint's reports there; an
    explicit other run's folder, or another checkpoint's reports, are refused; metrics.json
    records the checkpoint scored (path, sha256) and report run checks it."""
    import shutil

    from gcvideo.files import file_sha256
    from gcvideo.tools.run_report import read_metrics, scored_checkpoint

    other = tmp_path / "other"                        # another run, with reports of its own
    (other / "checkpoints").mkdir(parents=True)
    shutil.copy(trained["ckpt"], other / "checkpoints" / "best.ckpt")
    mine = tmp_path / "mine"
    (mine / "checkpoints").mkdir(parents=True)
    ckpt = mine / "checkpoints" / "best.ckpt"
    shutil.copy(trained["ckpt"], ckpt)
    config = tmp_path / "config.yaml"
    config.write_text(f"trainer:\n  default_root_dir: {other}\n")
    args = [*[a for a in eval_args(synth_root, trained, tmp_path / "unused") if a != str(tmp_path / "unused")
              and a != "--trainer.default_root_dir"]]
    args[args.index("--ckpt_path") + 1] = str(ckpt)
    assert main(["test", "--config", str(config), *args]) == 0
    assert "reports in " + str(os.path.relpath(mine)) in capsys.readouterr().out
    assert not os.path.exists(other / "test_2x3")
    metrics = read_metrics(str(mine / "test_2x3" / "metrics.json"))
    assert metrics["checkpoint"] == {"path": str(ckpt), "sha256": file_sha256(str(ckpt))}
    assert scored_checkpoint(metrics, str(mine), "m")["ok"]

    assert main(["test", *args, "--trainer.default_root_dir", str(other)]) == 2        # asked, but another run's
    assert "another run's folder" in capsys.readouterr().err
    shutil.copy(ckpt, mine / "checkpoints" / "epoch000.ckpt")
    args[args.index("--ckpt_path") + 1] = str(mine / "checkpoints" / "epoch000.ckpt")
    assert main(["test", *args]) == 2                                                  # best.ckpt's reports there
    assert "holds the reports of " + str(ckpt) in capsys.readouterr().err
    assert read_metrics(str(mine / "test_2x3" / "metrics.json"))["checkpoint"]["path"] == str(ckpt)

    with open(ckpt, "ab") as f:                      # the scored file replaced since: flagged
        f.write(b"\0")
    assert not scored_checkpoint(metrics, str(mine), "m")["ok"]
    assert "has changed" in capsys.readouterr().err
    assert "not a checkpoint of this run" in scored_checkpoint(metrics, str(other), "m")["text"]


def test_the_pyslowfast_protocol_runs_end_to_end_and_is_recorded(synth_root, trained, capsys):
    out = trained["run"] / "pyslowfast"
    assert main(["test", *eval_args(synth_root, trained, out), "--data.protocol", "pyslowfast"]) == 0
    assert "32-px crops, the pyslowfast protocol" in capsys.readouterr().out
    _, _, metrics = read(out / "test_2x3")
    assert metrics["view"]["protocol"] == "pyslowfast" and metrics["readable"] == 4


def test_evaluation_takes_the_backbone_and_block_options_from_the_checkpoint(synth_root, trained, capsys):
    """`test --ckpt_path` without the model options builds the checkpoint's network: its backbone
    (depths, width) and block options too, not only its model name (they were dropped once: a
    tiny backbone was refused, and a block option that changes no shape would have been lost)."""
    args = tiny_args(synth_root, trained["run"] / "no_model_options")
    pairs = [args[i:i + 2] for i in range(0, len(args), 2)]
    without_model = [x for pair in pairs if not pair[0].startswith("--model.") for x in pair]
    assert main(["test", *without_model, *EVAL, "--data.test_views", "1x1", "--data.test", trained["list"],
                 "--ckpt_path", trained["ckpt"]]) == 0
    assert "4/5 videos readable" in capsys.readouterr().out
