"""Real-camera effects as training transforms: the image changes, the labels and the
intrinsics do not, the same generator gives the same image, and configs switch them on."""

import numpy as np
import pytest
from pydantic import ValidationError

from crowdpose3d.core.skeleton import JTA22
from crowdpose3d.data.camera_effects import (
    CameraEffects,
    DefocusBlur,
    H264Compression,
    JpegCompression,
    LowResolution,
    MotionBlur,
    SensorNoise,
    WhiteBalance,
)
from crowdpose3d.data.dataset import random_sample
from crowdpose3d.engine.trainer import TrainConfig, training_transform

EFFECTS = [
    WhiteBalance(),
    MotionBlur(),
    DefocusBlur(),
    LowResolution(),
    SensorNoise(),
    JpegCompression(),
    H264Compression(),
    CameraEffects({name: 1.0 for name in CameraEffects().probabilities}),
]


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(3)
    s = random_sample(rng, height=96, width=160, num_people=3, skeleton=JTA22)
    # A smooth image with edges (noise would hide what blurs and codecs do).
    y, x = np.mgrid[0:96, 0:160]
    image = np.stack((x * 1.5, y * 2.5, 128 + 60 * np.sign(np.sin(x / 7.0))), -1)
    s.image = np.clip(image, 0, 255).astype(np.uint8)
    return s


@pytest.mark.parametrize("effect", EFFECTS, ids=lambda e: type(e).__name__)
def test_image_changes_labels_and_intrinsics_do_not(sample, effect):
    out = effect(sample, np.random.default_rng(1))
    assert out.image.shape == sample.image.shape and out.image.dtype == np.uint8
    assert np.abs(out.image.astype(int) - sample.image).mean() > 0.2
    assert out.intrinsics == sample.intrinsics
    for name in ("boxes", "kp2d", "kp3d", "kp2d_valid", "kp3d_valid", "visible", "person_ids"):
        np.testing.assert_array_equal(getattr(out, name), getattr(sample, name))
    again = effect(sample, np.random.default_rng(1))
    np.testing.assert_array_equal(out.image, again.image)  # deterministic per seed


def test_blurs_keep_the_mean_colour(sample):
    for effect in (MotionBlur(), DefocusBlur(), LowResolution()):
        out = effect(sample, np.random.default_rng(2))
        assert abs(out.image.mean() - sample.image.mean()) < 1.5


def test_probabilities_are_checked_and_config_switches_effects_on():
    with pytest.raises(ValueError, match="unknown camera effect"):
        CameraEffects({"fisheye": 0.5})
    config = TrainConfig(output_dir="x", data=[{"root": "x"}], augment={"camera_effects": True})
    assert "CameraEffects" in repr(training_transform(config))
    config = TrainConfig(output_dir="x", data=[{"root": "x"}])
    assert "CameraEffects" not in repr(training_transform(config))
    with pytest.raises(ValidationError):
        TrainConfig(output_dir="x", data=[{"root": "x"}], augment={"camera_effects": {"x": 2}})
