import pytest
import torch


@pytest.fixture
def clip():
    return torch.randn(2, 16, 3, 5, 4, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="session")
def bad_videos(tmp_path_factory):
    from videos import make_bad_videos
    return make_bad_videos(str(tmp_path_factory.mktemp("bad_videos")))


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """A small generated Kinetics-format dataset: 4 classes x 5 videos (3 train, 1 val, 1 test)."""
    from gcvideo.data.synth import synthesize
    root = str(tmp_path_factory.mktemp("synth"))
    synthesize(root, num_classes=4, videos_per_class=5, seconds=1.5, size=(64, 48), event_frames=4,
               seed=0, progress=False)
    return root
