"""gcvideo.data.spec: one object for a network's clip, scale and evaluation view."""
import warnings

import pytest

from gcvideo.data.spec import InputSpec, parse_views


def test_the_evaluation_view_follows_the_training_scale_unless_given():
    assert InputSpec.from_options({}) == InputSpec()                     # the paper: 256-320 / 224, 256 / 256
    small = InputSpec.from_options({"train_short_side": [48, 60], "crop_size": 48})
    assert (small.eval_short_side, small.test_crop_size) == (48, 48)
    given = InputSpec.from_options({"train_short_side": [48, 60], "crop_size": 48, "eval_short_side": 56,
                                    "test_crop_size": None, "test_views": "3x1", "root": "ignored"})
    assert (given.eval_short_side, given.test_crop_size, given.test_views) == (56, 56, (3, 1))
    assert given.describe() == "3x1 views of 8 frames every 8 at 30 fps, short side 56, 56-px crops"
    assert InputSpec.from_options(given.options()) == given              # what a checkpoint stores reads back


def test_a_test_crop_far_from_the_training_crop_is_named():
    with pytest.warns(UserWarning, match=r"data.test_crop_size 256 is 5.3x data.crop_size 48 .* 28x the compute"):
        InputSpec.from_options({"train_short_side": [48, 60], "crop_size": 48, "test_crop_size": 256})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        InputSpec.from_options({"test_crop_size": 256})                   # the recipe's 1.14x: silent


@pytest.mark.parametrize("options, said", [
    ({"eval_short_side": 60000}, "data.eval_short_side must be a whole number from 1 to 2048, got 60000"),
    ({"target_fps": 0}, "data.target_fps must be > 0"),
    ({"target_fps": float("nan")}, "data.target_fps must be > 0"),
    ({"sampling_rate": 0}, "data.sampling_rate must be a whole number from 1"),
    ({"num_frames": 2.5}, "data.num_frames must be a whole number"),
    ({"crop_size": 400}, "data.crop_size 400 is larger than the smallest training short side 256"),
    ({"train_short_side": [320, 256]}, "data.train_short_side is [min, max]"),
    ({"train_short_side": "big"}, "data.train_short_side must be [min, max]"),
    ({"test_views": "0x3"}, "views must be 1-100 clips x 1-10 crops"),
])
def test_bad_values_are_one_line_naming_the_option(options, said):
    with pytest.raises(ValueError) as err:
        InputSpec.from_options(options)
    assert said in str(err.value) and "\n" not in str(err.value)


def test_views():
    assert parse_views("10x3") == (10, 3) and parse_views((2, 1)) == (2, 1)
    with pytest.raises(ValueError, match="CLIPSxCROPS"):
        parse_views("ten")
