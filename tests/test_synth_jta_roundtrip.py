"""The JTA loader reads the generator's files back: same people, joints, flags and camera."""

import numpy as np
import pytest

from crowdpose3d.data.common import inside_image
from crowdpose3d.data.jta import JTADataset
from crowdpose3d.data.synth import SynthConfig, generate_dataset, generate_sequence, sequence_seed


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    config = SynthConfig(num_frames=6, width=320, height=192, min_people=4, max_people=8)
    generate_dataset(root, config, {"train": 1}, seed=5, progress=False)
    return root, config


def test_jta_loader_round_trips_generated_sequence(generated):
    root, config = generated
    dataset = JTADataset(root, split="train")
    frames = list(generate_sequence(config, seed=sequence_seed(5, 0)))
    with_people = [f for f in frames if len(f.person_ids)]
    assert len(dataset) == len(with_people) > 0
    camera = generate_sequence(config, seed=sequence_seed(5, 0)).camera
    for sample, frame in zip(dataset, with_people, strict=True):
        assert sample.frame == frame.frame  # JTA frame numbers, counted from 1
        assert sample.intrinsics == camera.intrinsics
        visible = ~(frame.occluded | frame.self_occluded)
        inside = inside_image(frame.joints2d, config.width, config.height)
        kept = (visible & inside).any(axis=1)  # the loader keeps people with a visible joint
        assert sample.person_ids.tolist() == frame.person_ids[kept].tolist()
        np.testing.assert_allclose(sample.kp2d, frame.joints2d[kept], atol=1e-3)
        np.testing.assert_allclose(sample.kp3d, frame.joints3d[kept], atol=1e-4)
        np.testing.assert_array_equal(sample.visible, (visible & inside)[kept])
        # The video is H.264: pixels agree up to compression noise.
        error = np.abs(sample.image.astype(int) - frame.image.astype(int)).mean()
        assert error < 6.0, f"mean absolute pixel error {error:.1f}"
        projected = sample.intrinsics.project(sample.kp3d)
        np.testing.assert_allclose(projected, sample.kp2d, atol=0.5)
