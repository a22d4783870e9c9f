"""``gcvideo report run RUN_DIR [--compare RUN_DIR ...]``: one self-contained HTML page per run.

A run folder is a ``trainer.default_root_dir``: ``checkpoints/``, ``csv/version_N/`` (``metrics.csv``,
``config.yaml``) and the test reports ``test_<views>/`` (``metrics.json``, ``predictions.csv``,
``failures.csv``). The page embeds every image (PNG/GIF as data URIs): it needs no network and no
other file.
"""
import base64
import csv
import glob
import html
import io
import json
import math
import os
import sys
from typing import Optional

import numpy as np

WORST = 6          # worst-classified videos shown per run
THUMBS = 4         # frames per video strip


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _file_uri(path: str, kind: str) -> str:
    with open(path, "rb") as f:
        return f"data:image/{kind};base64," + base64.b64encode(f.read()).decode()


def _checkpoint(run: str, trust: bool):
    from ..engine.checkpoint import read_checkpoint

    for name in ("best.ckpt", "last.ckpt"):
        path = os.path.join(run, "checkpoints", name)
        if os.path.exists(path):
            return path, read_checkpoint(path, trust)
    raise FileNotFoundError(f"{run}: no checkpoints/best.ckpt or last.ckpt (is it a run folder?)")


def _cost(hp: dict, frames: int, crop: int) -> dict:
    from ..models import MODELS, create_model
    from ..models.cost import model_cost
    from .info import cost_change

    from ..models.options import BackboneOptions, BlockOptions

    backbone = BackboneOptions.of(hp.get("backbone")).overrides()
    blocks = BlockOptions.of(hp.get("blocks")).overrides()
    cost = model_cost(create_model(hp["model"], num_classes=hp["num_classes"], **backbone, **blocks), frames, crop)
    baseline = MODELS[hp["model"]].baseline
    base = model_cost(create_model(baseline, num_classes=hp["num_classes"], **backbone), frames, crop)
    return {**cost, "baseline": baseline, **cost_change(cost, base)}


def _strip(path: str, data: dict, size: int = 96) -> Optional[str]:
    """A strip of ``THUMBS`` frames spread over the video, as a PNG data URI (None if unreadable)."""
    from PIL import Image

    from ..data import decode

    try:
        info = decode.probe(path)
        times = np.linspace(0, max(info.duration - 1.0 / info.fps, 0), THUMBS)
        frames = decode.decode_at(path, times, data.get("backend", "pyav"), max_short_side=decode.working_size(size))
    except Exception:                  # a thumbnail is not worth a failed report
        return None
    images = [Image.fromarray(f) for f in frames]
    scale = size / min(images[0].size)
    images = [im.resize((round(im.width * scale), round(im.height * scale))) for im in images]
    strip = Image.new("RGB", (sum(im.width for im in images) + 4 * (len(images) - 1), images[0].height), "white")
    x = 0
    for im in images:
        strip.paste(im, (x, 0))
        x += im.width + 4
    buffer = io.BytesIO()
    strip.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _video_path(path: str, data: dict) -> str:
    """A report's video path (as the test saw it, relative to where it ran) or below the data root."""
    if os.path.exists(path) or os.path.isabs(path):
        return path
    below = os.path.join(data.get("root", ""), path)
    return below if os.path.exists(below) else path


def _top1_right(p: dict, multi_label: bool = False) -> bool:
    """Whether a prediction row's top class is its label (multi-label: one of its ';'-joined classes)."""
    return p["top1"] in p["label"].split(";") if multi_label else p["top1"] == p["label"]


def _worst(predictions: list[dict], classes: list[str], n: int = WORST, multi_label: bool = False) -> list[dict]:
    """Confidently wrong first (highest top-1 score on a wrong class), then the least sure right ones."""
    wrong = sorted((p for p in predictions if not _top1_right(p, multi_label)), key=lambda p: -float(p["score1"]))
    right = sorted((p for p in predictions if _top1_right(p, multi_label)), key=lambda p: float(p["score1"]))
    return (wrong + right)[:n]


def main_score(metrics: dict) -> tuple[str, float]:
    """An evaluation's headline number: ("mAP", ...) for multi-label data, else ("top-1", ...)."""
    return ("mAP", metrics["mAP"]) if "mAP" in metrics else ("top-1", metrics["top1"])


def run_inputs(run: str) -> list[str]:
    """What the report of ``run`` reads (never written over by its ``--out``): the checkpoints,
    the logs and every evaluation's reports."""
    return ["checkpoints", "csv", "tensorboard", LIFT, *sorted(os.path.basename(f) for pattern in ("test_*", "val_*")
                                                             for f in glob.glob(os.path.join(run, pattern)))]


def read_metrics(path: str) -> dict:
    """An evaluation's ``metrics.json``; a damaged file is one line naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            metrics = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not readable JSON ({err}): run the evaluation again to rewrite it") from None
    confusion = metrics.get("confusion") if isinstance(metrics, dict) else None
    multi_label = isinstance(metrics, dict) and all(k in metrics for k in ("mAP", "per_class_ap"))
    if not isinstance(metrics, dict) or not multi_label and (
            not all(k in metrics for k in ("top1", "confusion", "per_class_accuracy"))
            or not (isinstance(confusion, list) and all(isinstance(r, list) and len(r) == len(confusion)
                                                        for r in confusion))):
        raise ValueError(f"{path} is not a gcvideo metrics.json (top1, a square confusion matrix, per_class_accuracy; "
                         "or mAP, per_class_ap): run the evaluation again to rewrite it")
    return metrics


def scored_checkpoint(metrics: dict, run: str, path: str) -> dict:
    """Which checkpoint an evaluation scored (recorded in its ``metrics.json``: path and sha256),
    and whether that is still this run's checkpoint: ``{"text", "ok"}``. A report whose checkpoint
    is another run's, or was replaced since, is flagged on the page and printed as a warning."""
    from ..files import file_sha256

    record = metrics.get("checkpoint")
    if not isinstance(record, dict):
        return {"text": "checkpoint not recorded (an evaluation by gcvideo 0.2 or older)", "ok": True}
    scored = record.get("path")
    if not scored:
        return {"text": "the untrained network" + (f" (pretrained from {record['pretrained']})"
                                                  if record.get("pretrained") else ""), "ok": True}
    mine = os.path.realpath(os.path.join(run, "checkpoints"))
    problem = None
    if not os.path.realpath(scored).startswith(mine + os.sep):
        problem = f"{scored} is not a checkpoint of this run"
    elif not os.path.isfile(scored):
        problem = f"{scored} no longer exists"
    elif file_sha256(scored) != record.get("sha256"):
        problem = f"{scored} has changed since it was scored"
    if problem:
        print(f"warning: {path}: {problem}; these numbers may not be this run's", file=sys.stderr)
    return {"text": f"{scored} (sha256 {str(record.get('sha256'))[:12]})" + (f": {problem}" if problem else ""),
            "ok": problem is None}


def collect(run: str, trust: bool = False, attention: bool = True) -> dict:
    """Everything the page shows about one run, figures as data URIs."""
    from ..engine.figures import confusion_figure, most_confused, per_class_figure, read_epoch_metrics, views_figure
    from ..data.spec import InputSpec
    from ..engine.report import run_versions

    if not os.path.isdir(run):
        raise FileNotFoundError(f"run folder not found: {run}")
    ckpt_path, checkpoint = _checkpoint(run, trust)
    hp, data = checkpoint.get("hyper_parameters", {}), checkpoint.get("datamodule_hyper_parameters", {})
    classes = list(hp.get("classes") or [str(i) for i in range(hp["num_classes"])])
    spec = InputSpec.from_options(data, f"{ckpt_path}: data")
    frames, crop = spec.num_frames, spec.crop_size
    result = {"run": run, "name": os.path.basename(os.path.abspath(run)), "checkpoint": ckpt_path,
              "model": hp.get("model"), "hp": hp, "data": data, "classes": classes,
              "cost": _cost(hp, frames, crop), "clip": f"{frames}×{crop}²"}
    versions = run_versions(run)
    configs = [os.path.join(v, "config.yaml") for v in versions if os.path.exists(os.path.join(v, "config.yaml"))]
    result["config"] = open(configs[0], encoding="utf-8").read() if configs else ""
    epochs = read_epoch_metrics([os.path.join(v, "metrics.csv") for v in versions
                                 if os.path.exists(os.path.join(v, "metrics.csv"))])
    result["epoch_metrics"] = epochs
    monitor = "val/mAP" if hp.get("multi_label") else "val/top1"
    vals = [e[monitor][-1] for e in epochs.values() if monitor in e]
    result["best_val"] = max(vals) if vals else None
    result["val_metric"] = "mAP" if hp.get("multi_label") else "top-1"
    result["epochs"] = len(epochs)
    tests = []
    for folder in sorted(glob.glob(os.path.join(run, "test_*"))):
        path = os.path.join(folder, "metrics.json")
        if not os.path.exists(path):
            continue
        metrics = read_metrics(path)
        names = metrics.get("classes", classes)
        with open(os.path.join(folder, "predictions.csv"), newline="", encoding="utf-8", errors="surrogateescape") as f:
            predictions = list(csv.DictReader(f))
        failures = []
        if os.path.exists(os.path.join(folder, "failures.csv")):
            with open(os.path.join(folder, "failures.csv"), newline="", encoding="utf-8", errors="surrogateescape") as f:
                failures = list(csv.DictReader(f))
        multi_label = "mAP" in metrics
        worst = _worst(predictions, names, multi_label=multi_label)
        for p in worst:
            p["strip"] = _strip(_video_path(p["path"], data), data)
        test = {"views": os.path.basename(folder)[len("test_"):], "metrics": metrics, "failures": failures,
                "scored": scored_checkpoint(metrics, run, path), "worst": worst, "multi_label": multi_label,
                "views_plot": _png(views_figure(metrics["views"], len(names), "mAP" if multi_label else "accuracy"))
                if metrics.get("views") else None}
        if multi_label:       # per-class average precision (no confusion matrix: a video has several classes)
            test.update(confused=[], confusion=None, per_class_ap=list(zip(names, metrics["per_class_ap"],
                                                                           metrics.get("positives") or [None] * len(names))),
                        per_class=_png(per_class_figure(metrics["per_class_ap"], names, metrics["mAP"], "AP")))
        else:
            test.update(confused=most_confused(metrics["confusion"], names),
                        confusion=_png(confusion_figure(metrics["confusion"], names)),
                        per_class=_png(per_class_figure(metrics["per_class_accuracy"], names,
                                                        metrics["mean_class_accuracy"])))
        tests.append(test)
    result["tests"] = tests
    result["attention"] = _attention(ckpt_path, tests, data, trust) if attention else None
    lift = os.path.join(run, LIFT)
    result["lift"] = None
    if os.path.exists(lift):
        try:
            with open(lift, encoding="utf-8") as f:
                measured = json.load(f)
            blocks = {str(k): {m: float(v[m]) for m in ("mass", "area", "lift")} for k, v in measured["blocks"].items()}
            measured = {**measured, "blocks": blocks, "videos": int(measured["videos"])}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"{lift} is not a gcvideo lift record ({type(err).__name__}: {err}): run the demo "
                             "again to rewrite it") from None
        result["lift"] = {**measured, "scored": scored_checkpoint(measured, run, lift)}
    return result


LIFT = "lift.json"     # a run's attention on the relation task's cues (written by the demo)


def _attention(ckpt_path: str, tests: list, data: dict, trust: bool) -> Optional[dict]:
    """For a network with GC/SNL blocks: ``gcvideo visualize`` of the first worst-classified test
    video (the grid and each block's GIF)."""
    import contextlib
    import tempfile

    from ..engine.figures import stage_label
    from .analyze import run_visualize

    videos = [_video_path(p["path"], data) for t in tests for p in t["worst"]]
    video = next((v for v in videos if os.path.exists(v)), None)
    if video is None:
        return None
    with tempfile.TemporaryDirectory() as out:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                run_visualize(ckpt_path=ckpt_path, video=video, out=out, trust_checkpoint=trust)
        except ValueError:                  # no GC or SNL block
            return None
        gifs = sorted(glob.glob(os.path.join(out, "*.gif")))
        return {"video": video, "grid": _file_uri(os.path.join(out, "attention_grid.png"), "png"),
                "gifs": [(stage_label(os.path.basename(g)[:-4]), _file_uri(g, "gif")) for g in gifs]}


STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1800px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.runs { display: grid; gap: 24px; } .run { min-width: 0; } img { max-width: 100%; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; font-size: 12px; }
.strip { height: 72px; } .small { color: #666; font-size: 13px; } .warn { color: #b00; font-weight: bold; }
.headline { font-size: 17px; background: #f3f7ff; border-left: 4px solid #36c; padding: 8px 12px; }
img.wide { width: 100%; max-width: 1300px; }
"""

CHECK = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  document.body.dataset.images = images.length + " " + broken;
});
</script>"""


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _summary_table(runs: list[dict]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(r['name'])}</th>" for r in runs)
    rows = [("model", [f"<code>{e(r['model'])}</code>" for r in runs]),
            ("clip", [r["clip"] for r in runs]),
            ("params", [f"{r['cost']['params_m']:.3f} M" for r in runs]),
            ("GFLOPs", [f"{r['cost']['gflops']:.4f}" for r in runs]),
            ("Δ params / Δ FLOPs vs plain", [f"{r['cost']['d_params_pct']:+.2f} % / {r['cost']['d_flops_pct']:+.3f} %"
                                             f" (<code>{e(r['cost']['baseline'])}</code>)" for r in runs]),
            ("epochs trained", [str(r["epochs"]) for r in runs]),
            ("best val top-1 / mAP (single view)", [(_pct(r["best_val"]) + (" mAP" if r["val_metric"] == "mAP" else ""))
                                                    if r["best_val"] is not None else "—" for r in runs])]
    views = sorted({t["views"] for r in runs for t in r["tests"]})
    for v in views:
        cells = []
        for r in runs:
            t = next((t for t in r["tests"] if t["views"] == v), None)
            m = t["metrics"] if t else None
            cells.append("—" if m is None else
                         f"mAP {_pct(m['mAP'])} (random predictor {_pct(m.get('chance_mAP'))}), "
                         f"{m['readable']}/{m['videos']} readable" if "mAP" in m else
                         f"top-1 {_pct(m['top1'])}, top-5 {_pct(m['top5'])}, "
                         f"mean class {_pct(m['mean_class_accuracy'])}, {m['readable']}/{m['videos']} readable")
        rows.append((f"test, {v} views", cells))
        subsets = sorted({s for r in runs for t in r["tests"] if t["views"] == v
                          for s in (t["metrics"].get("views") or {})}, key=lambda s: [int(x) for x in s.split("x")])
        for s in subsets:
            rows.append((f"&nbsp;&nbsp;its {s} views", [
                next((_pct(main_score(t["metrics"]["views"][s])[1]) for t in r["tests"]
                      if t["views"] == v and s in (t["metrics"].get("views") or {})), "—") for r in runs]))
    body = "".join(f"<tr><th>{k}</th>" + "".join(f"<td class='num'>{c}</td>" for c in cells) + "</tr>"
                   for k, cells in rows)
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _run_section(r: dict) -> str:
    e = html.escape
    parts = [f"<div class='run'><h2>{e(r['name'])}: <code>{e(r['model'])}</code></h2>",
             f"<p class='small'>{e(os.path.abspath(r['run']))} — checkpoint {e(os.path.basename(r['checkpoint']))}</p>"]
    for t in r["tests"]:
        m = t["metrics"]
        parts.append(f"<h3>Test, {e(t['views'])} views</h3>")
        scored = t["scored"]
        parts.append(f"<p class='small{'' if scored['ok'] else ' warn'}'>scored: {e(scored['text'])}</p>")
        if t["views_plot"]:
            parts.append(f"<img alt='accuracy vs views' src='{t['views_plot']}'>")
        if t.get("confusion"):
            parts.append(f"<img alt='confusion matrix' src='{t['confusion']}'>")
        if t["confused"]:
            parts.append("<p>Most confused pairs:</p><table><tr><th>true</th><th>predicted</th><th>videos</th>"
                         "<th>share of the true class</th></tr>" + "".join(
                             f"<tr><td>{e(c['true'])}</td><td>{e(c['predicted'])}</td><td class='num'>{c['videos']}</td>"
                             f"<td class='num'>{_pct(c['share'])}</td></tr>" for c in t["confused"]) + "</table>")
        multi_label = t.get("multi_label", False)
        if multi_label:
            parts.append(f"<p>mAP {_pct(m['mAP'])} over the {m['classes_with_positives']} classes with a positive "
                         f"test video (a random predictor's: {_pct(m.get('chance_mAP'))})</p>")
            parts.append(f"<img alt='per-class AP' src='{t['per_class']}'>")
            ranked = sorted((row for row in t["per_class_ap"] if row[1] is not None), key=lambda row: row[1])
            parts.append("<details><summary>Per-class AP, lowest first</summary><table><tr><th>class</th><th>AP</th>"
                         "<th>positive videos</th></tr>" + "".join(
                             f"<tr><td>{e(name)}</td><td class='num'>{_pct(ap)}</td><td class='num'>{n}</td></tr>"
                             for name, ap, n in ranked) + "</table></details>")
        else:
            parts.append(f"<img alt='per-class accuracy' src='{t['per_class']}'>")
        wrong = sum(not _top1_right(p, multi_label) for p in t["worst"])
        heading = ("Videos whose top class is none of theirs, the most confident first; then the least confident "
                   "right ones" if multi_label else
                   "Misclassified videos, the most confidently wrong first" if wrong == len(t["worst"]) else
                   f"{wrong} misclassified video(s) (most confidently wrong first), then the least confident "
                   "correct ones" if wrong else "No test video was misclassified; the least confident correct ones")
        parts.append(f"<p>{heading}:</p><table><tr><th>video</th>"
                     "<th>frames</th><th>true</th><th>top-5 (score)</th></tr>")
        for p in t["worst"]:
            top = ", ".join(f"{e(p[f'top{i}'])} ({float(p[f'score{i}']):.2f})" for i in range(1, 6) if p.get(f"top{i}"))
            strip = f"<img class='strip' alt='frames of {e(p['video_id'])}' src='{p['strip']}'>" if p.get("strip") else "—"
            parts.append(f"<tr><td>{e(p['video_id'])}</td><td>{strip}</td><td>{e(p['label'])}</td><td>{top}</td></tr>")
        parts.append("</table>")
        failures = t["failures"]
        parts.append(f"<p>Unreadable videos: {len(failures)}</p>")
        if failures:
            parts.append("<table><tr><th>video</th><th>reason</th></tr>" + "".join(
                f"<tr><td>{e(f['path'])}</td><td>{e(f['reason'])}</td></tr>" for f in failures[:50]) + "</table>")
        d = m.get("data")
        if d:
            parts.append(f"<p class='small'>Data: {d['rows']} rows, {d['present']} present, {d['readable']} readable, "
                         f"sha256 {e(d['sha256'])}</p>")
    lift = r["lift"]
    if lift:
        scored = lift["scored"]
        parts.append("<h3>Attention on the cues</h3><p class='small'>share of each block's attention on the "
                     f"relation task's cue boxes, their share of the positions, and the ratio (lift; 1 = no "
                     f"preference), over the centre clips of {lift['videos']} test videos</p>"
                     f"<p class='small{'' if scored['ok'] else ' warn'}'>measured: {e(scored['text'])}</p>"
                     "<table><tr><th>block</th><th>attention on cues</th><th>cue area</th><th>lift</th></tr>"
                     + "".join(f"<tr><td><code>{e(name)}</code></td><td class='num'>{_pct(b['mass'])}</td>"
                               f"<td class='num'>{_pct(b['area'])}</td><td class='num'>{b['lift']:.1f}×</td></tr>"
                               for name, b in lift["blocks"].items()) + "</table>")
    a = r["attention"]
    if a:
        parts.append(f"<h3>Where GC/SNL attends</h3><p class='small'>{e(a['video'])}</p>"
                     f"<img alt='attention grid' src='{a['grid']}'><p>"
                     + "".join(f"<figure style='display:inline-block'><img alt='{e(n)}' src='{g}'>"
                               f"<figcaption class='small'>{e(n)}</figcaption></figure>" for n, g in a["gifs"]) + "</p>")
    parts.append(f"<details><summary>Resolved config</summary><pre>{e(r['config'])}</pre></details></div>")
    return "".join(parts)


def _view_count(views: str) -> int:
    """Views of a ``CLIPSxCROPS`` test (``10x3``: 30)."""
    return math.prod(int(v) for v in views.split("x"))


def _best_test(r: dict) -> Optional[dict]:
    """The run's test with the most views, or None."""
    return max(r["tests"], key=lambda t: _view_count(t["views"]), default=None)


def headline(runs: list[dict]) -> str:
    """One sentence on what the page shows: a run's test top-1 at its cost, and for compared runs,
    the change against the reference (the plain network of the others' family when it is among
    them, else the first run) on the views both were tested with, at what change in FLOPs and
    parameters."""
    # the reference: a run of another's plain network (its registered baseline), else the first
    first = next((r for r in runs if any(o is not r and o["cost"]["baseline"] == r["model"] for o in runs)), runs[0])
    if len(runs) == 1:
        t = _best_test(first)
        name, value = main_score(t["metrics"]) if t else ("", 0.0)
        score = f"test {name} {_pct(value)} ({t['views']} views)" if t else "no test report yet"
        return f"{first['name']} (<code>{html.escape(first['model'])}</code>): {score} at " \
               f"{first['cost']['gflops']:.4g} GFLOPs per clip."
    parts = []
    for r in (r for r in runs if r is not first):
        theirs = {t["views"]: t for t in r["tests"]}
        common = [t for t in first["tests"] if t["views"] in theirs]
        flops = 100 * (r["cost"]["flops"] / first["cost"]["flops"] - 1)
        params = 100 * (r["cost"]["params"] / first["cost"]["params"] - 1)
        cost = f"at {flops:+.2f} % FLOPs and {params:+.2f} % parameters"
        if not common:
            parts.append(f"{html.escape(r['name'])} vs {html.escape(first['name'])}: no test views in common, {cost}")
            continue
        mine = max(common, key=lambda t: _view_count(t["views"]))
        views = mine["views"]
        (name, a), (_, b) = main_score(mine["metrics"]), main_score(theirs[views]["metrics"])
        parts.append(f"{html.escape(r['name'])} vs {html.escape(first['name'])}: {100 * (b - a):+.1f} points test "
                     f"{name} ({_pct(b)} vs {_pct(a)}, {views} views) {cost}")
    return "; ".join(parts) + "."


def render(runs: list[dict]) -> str:
    from ..engine.figures import curves_figure

    title = "gcvideo run report: " + " vs ".join(r["name"] for r in runs)
    columns = f"grid-template-columns: repeat({len(runs)}, minmax(0, 1fr));"
    trained = {r["name"]: r["epoch_metrics"] for r in runs if r["epoch_metrics"]}
    curves = ""
    if trained:       # one full-width figure: compared runs on shared axes
        figure = curves_figure(next(iter(trained.values())), trained if len(runs) > 1 else None)
        curves = f"<h2>Training curves</h2><img class='wide' alt='training curves' src='{_png(figure)}'>"
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p class='headline'>{headline(runs)}</p>{_summary_table(runs)}{curves}"
            f"<div class='runs' style='{columns}'>" + "".join(_run_section(r) for r in runs) + f"</div>{CHECK}</body></html>")


def run_report(run_dir: str, /, *, compare: list[str] = (), out: Optional[str] = None,
               trust_checkpoint: bool = False, overwrite: bool = False) -> int:
    """one self-contained HTML page of a run, or of runs side by side

    For a run folder (trainer.default_root_dir): the model's cost (params, GFLOPs, Δ vs its plain
    network), training curves, test metrics for every view count, confusion matrix and the most
    confused pairs, per-class accuracy, the worst-classified videos with frame strips and their
    top-5, unreadable videos, the data fingerprint, the resolved config and, for networks with
    GC/SNL blocks, where their attention goes. With --compare, the runs side by side (one column
    each). Every image is embedded: the page needs no other file and no network.

    Args:
        run_dir: a run folder (checkpoints/, csv/, test_*/)
        compare: more run folders, shown side by side
        out: the HTML file (default: RUN_DIR/report.html)
        trust_checkpoint: read checkpoints holding other objects than tensors, numbers and strings
            with full pickle, which can run code (refused otherwise): trusted files only
        overwrite: replace an existing --out file (never a file the report reads)
    """
    from ..progress import progress_bar

    from ..files import check_outputs, write_atomic

    folders = [run_dir, *compare]
    out = out or os.path.join(run_dir, "report.html")
    check_outputs(out, inputs=[os.path.join(folder, name) for folder in folders for name in run_inputs(folder)],
                  overwrite=overwrite)
    runs = [collect(r, trust_checkpoint) for r in progress_bar(folders, desc="reading runs", unit="run",
                                                        disable=len(folders) < 2)]
    # a file name that is not UTF-8 (a surrogate-escaped byte) is shown as its escape, e.g. caf\udce9
    write_atomic(out, render(runs).encode("utf-8", "backslashreplace"))
    print(f"wrote {out}")
    return 0
