"""The demos' generated datasets (``gcvideo demo``, ``ablate``): their sizes, and making them when missing."""
import os

# The generated dataset of the demo: 6 classes (cyclic colour orders of 4 colours),
# 150 videos each (90 train / 30 val / 30 test), 2 s at 30 fps, 80x64.
DEMO_DATA = dict(num_classes=6, videos_per_class=150, seconds=2.0, fps=30, size=(80, 64),
                 event_frames=4, seed=0)
# ``gcvideo demo --task relation`` (``synthesize_relation``): same_colour / different_colour,
# 500 videos each (300 train / 100 val / 100 test), 16 frames at 30 fps, 32x32, 2 colours.
RELATION_DATA = dict(videos_per_class=500, frames=16, fps=30, size=(32, 32), colours=2, cue_frames=4, seed=0)

# The benchmarks' collection: 4 classes of 10 s videos at 340x256, the frame size of a prepared
# Kinetics copy (``gcvideo data prepare``), so decoding costs what it costs on real data.
KINETICS_SIZE_DATA = dict(num_classes=4, seconds=10.0, size=(340, 256), event_frames=12, seed=0)
TRAIN_SHARE = 0.6       # synthesize's train split: 60 % of each class


def kinetics_size_data(root: str, train_videos: int, progress: bool = True) -> None:
    """At least ``train_videos`` training videos of :data:`KINETICS_SIZE_DATA` in ``root``, made
    when ``root`` holds no generated dataset yet."""
    from ..data.synth import synthesize

    if not data_ready(root):
        per_class = max(3, round(train_videos / TRAIN_SHARE / KINETICS_SIZE_DATA["num_classes"]))
        synthesize(root, videos_per_class=per_class, progress=progress, **KINETICS_SIZE_DATA)


def data_ready(root: str) -> bool:
    return all(os.path.exists(os.path.join(root, f)) for f in ("train.csv", "val.csv", "test.csv", "classes.txt"))


def generate_demo_data(config: str, root: str) -> None:
    """Generate the videos that a demo config (``demo/order.yaml``: the order task,
    ``demo/relation.yaml``: the relation task) reads from ``root``; other configs
    (real data) are left to the data module, which names what is missing."""
    from ..data.synth import synthesize, synthesize_relation

    folder, name = os.path.split(os.path.abspath(config))
    if os.path.basename(folder) != "demo":
        return
    if name == "order.yaml":
        synthesize(root, **DEMO_DATA)
    elif name == "relation.yaml":
        synthesize_relation(root, **RELATION_DATA)
