"""The run's figures: titled, labelled, legible; the 400-class case stays readable and fast."""
import numpy as np
import pytest

from gcvideo.engine import figures


def texts(fig) -> list[str]:
    found = [fig._suptitle.get_text()] if fig._suptitle else []
    for ax in fig.axes:
        found += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()] + [t.get_text() for t in ax.texts]
    return [t for t in found if t]


def test_a_small_confusion_matrix_shows_counts_names_and_a_colour_bar():
    classes = ["a", "b", "c"]
    fig = figures.confusion_figure([[5, 1, 0], [0, 6, 0], [2, 0, 4]], classes)
    words = texts(fig)
    assert any("confusion matrix" in w for w in words) and "predicted class" in words and "true class" in words
    assert {"5", "1", "6", "2", "4"} <= set(words)
    assert len(fig.axes) == 2                                   # the matrix and its colour bar
    width, height = fig.get_size_inches() * fig.dpi
    assert width >= 500 and height >= 400


def test_four_hundred_classes_stay_readable():
    rng = np.random.default_rng(0)
    classes = [f"class {i:03d}" for i in range(400)]
    confusion = rng.integers(0, 3, (400, 400)) + np.diag(rng.integers(5, 50, 400))
    fig = figures.confusion_figure(confusion, classes)
    assert not fig.axes[0].get_xticks().size and not [t for t in texts(fig) if t.isdigit()]   # no 160k labels
    pairs = figures.most_confused(confusion, classes, 10)
    assert len(pairs) == 10 and pairs[0]["videos"] >= pairs[-1]["videos"] and pairs[0]["true"] != pairs[0]["predicted"]
    per_class = figures.per_class_figure(confusion.diagonal() / confusion.sum(1), classes, 0.5)
    assert any("20 least accurate" in t for t in texts(per_class))


def test_per_class_accuracy_is_by_class_name_and_says_so():
    fig = figures.per_class_figure([0.9, 0.1, 0.5], ["zebra", "ant", "moth"], 0.5)
    ax = fig.axes[0]
    assert "by name" in ax.get_title()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["zebra", "moth", "ant"]     # top to bottom: a, m, z


@pytest.mark.parametrize("classes, lines", [(2, 1), (10, 2)])
def test_views_plot_has_a_fixed_axis_and_no_top5_for_five_classes_or_fewer(classes, lines):
    views = {"1x1": {"top1": 0.995, "top5": 1.0}, "10x3": {"top1": 1.0, "top5": 1.0}}
    ax = figures.views_figure(views, classes).axes[0]
    assert ax.get_ylim() == (0, 105) and len(ax.get_lines()) == lines


def test_curves_read_every_version_of_a_resumed_run(tmp_path):
    first, second = tmp_path / "v0.csv", tmp_path / "v1.csv"
    first.write_text("epoch,step,train/loss,val/top1,lr-SGD\n0,4,1.5,,0.1\n0,9,,0.4,\n1,14,1.2,,0.09\n")
    second.write_text("epoch,step,train/loss,val/top1,lr-SGD\n1,19,,0.5,\n2,24,0.9,,0.05\n2,29,,0.7,\n")
    epochs = figures.read_epoch_metrics([str(first), str(second)])
    assert sorted(epochs) == [0, 1, 2] and epochs[1]["val/top1"] == [0.5] and epochs[2]["lr-SGD"] == [0.05]
    fig = figures.curves_figure(epochs)
    assert [ax.get_title() for ax in fig.axes][0] == "loss" and len(fig.axes) == 3


def test_compared_runs_share_axes_and_one_epoch_is_a_point():
    """Two runs on one figure (a line per run and split, shared axes); a run of one epoch has the
    epoch as its only tick, not an axis of fractions around it."""
    one = {0: {"train/loss": [0.7], "val/loss": [0.69], "val/top1": [0.5], "lr-SGD": [0.01]}}
    two = {0: {"train/loss": [0.9], "val/loss": [0.8], "val/top1": [0.4]},
           1: {"train/loss": [0.5], "val/loss": [0.4], "val/top1": [0.9]}}
    fig = figures.curves_figure(one, {"gc": one, "plain": two})
    loss = fig.axes[0]
    assert sorted(line.get_label() for line in loss.get_lines()) == ["gc train", "gc val", "plain train", "plain val"]
    assert list(loss.get_xticks()) == [0, 1] and loss.get_xlim() == (-0.5, 1.5)
    alone = figures.curves_figure(one)
    assert list(alone.axes[0].get_xticks()) == [0] and alone.axes[0].get_xlim() == (-0.5, 0.5)


def test_attention_is_one_scale_in_units_of_uniform():
    import torch

    frames = np.zeros((2, 32, 32, 3), np.uint8)
    uniform = torch.full((2, 4, 4), 1 / 32)
    peaked = torch.zeros(2, 2, 2)
    peaked[1, 0, 0] = 1.0                                           # all weight on one of 8 positions: 8x
    fig = figures.attention_figure(frames, {"blocks.2.res_blocks.0.branch2.context": uniform,
                                            "blocks.4.res_blocks.0.branch2.context": peaked}, [0.0, 0.5],
                                   cue_boxes=[[(0, 0, 7, 7)], []])
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert "c3 block 0" in labels and "c5 block 0" in labels
    bar = fig.axes[-1]
    assert "× uniform" in bar.get_ylabel() and bar.get_ylim()[1] == pytest.approx(8.0)
    assert "t = 0.50 s" in [ax.get_title() for ax in fig.axes]
