"""JuPedSim crowds (`crowdpose3d synth --motion jupedsim`): nobody walks through anybody,
the body yaw turns at a bounded rate, standing people stand, and a seed gives one motion."""

import math

import numpy as np
import pytest

from crowdpose3d.data.synth import SynthConfig, generate_sequence
from crowdpose3d.data.synth.camera_sampling import GroundView, sample_camera
from crowdpose3d.data.synth.pedsim import MAX_YAW_RATE, PedSimCrowd

pytest.importorskip("jupedsim", reason="needs the 'crowd' extra (make .venv/.dev installs it)")

FPS = 10.0
FRAMES = 300


def _run(seed: int, people: int = 40):
    """Per frame: {id: (position (2,), heading, standing)} and the crowd's disc radii."""
    config = SynthConfig(min_people=people, max_people=people, stand_fraction=0.4)
    camera = sample_camera(config, np.random.default_rng(seed))
    view = GroundView.of(camera, config.distance_range_m)
    crowd = PedSimCrowd(
        view, people, np.random.default_rng([seed, 1]), np.random.default_rng([seed, 2]),
        stand_fraction=0.4,
    )  # fmt: skip
    frames = []
    for index in range(FRAMES):
        if index:
            crowd.step(1 / FPS)
        frames.append(
            {p.person_id: (p.position.copy(), p.heading, p.stand_time > 0) for p in crowd.people}
        )
    return frames, crowd


@pytest.fixture(scope="module")
def run():
    return _run(5)


def test_nobody_interpenetrates(run):
    frames, crowd = run
    closest = np.inf
    for frame in frames:
        ids = list(frame)
        xy = np.array([frame[i][0] for i in ids])
        radii = np.array([crowd.radius[i] for i in ids])
        gaps = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1)) - (
            radii[:, None] + radii[None]
        )
        np.fill_diagonal(gaps, np.inf)
        closest = min(closest, gaps.min())
    # The discs (shoulder half-width + 3 cm) may touch but never overlap by more than 5 cm.
    assert closest > -0.05, closest
    assert len(frames[-1]) >= 30  # the population is kept up as people leave


def test_yaw_rate_is_bounded_and_people_move_and_leave(run):
    frames, _ = run
    worst, moved, left = 0.0, 0, set()
    for before, after in zip(frames[:-1], frames[1:], strict=True):
        left |= set(before) - set(after)
        for pid in set(before) & set(after):
            turn = (after[pid][1] - before[pid][1] + math.pi) % (2 * math.pi) - math.pi
            worst = max(worst, abs(turn))
            moved += np.hypot(*(after[pid][0] - before[pid][0])) > 0.05
    assert worst <= MAX_YAW_RATE / FPS + 1e-9
    assert moved > 1000 and left  # they walk, and some reach an exit


def test_standing_people_stand(run):
    frames, _ = run
    drift = []  # metres moved per frame by people standing in both frames
    for before, after in zip(frames[:-1], frames[1:], strict=True):
        for pid in set(before) & set(after):
            if before[pid][2] and after[pid][2]:
                drift.append(np.hypot(*(after[pid][0] - before[pid][0])))
    assert len(drift) > 300
    # Standing (a walker covers about 0.13 m a frame): mostly still, at most the last few
    # centimetres of the arrival or a step aside for someone passing close.
    assert np.median(drift) < 0.002 and np.percentile(drift, 95) < 0.03 and max(drift) < 0.06


def test_same_seed_same_motion_other_seed_differs():
    a, _ = _run(9, people=15)
    b, _ = _run(9, people=15)
    c, _ = _run(10, people=15)
    for fa, fb in zip(a, b, strict=True):
        assert fa.keys() == fb.keys()
        for pid in fa:
            np.testing.assert_array_equal(fa[pid][0], fb[pid][0])
            assert fa[pid][1] == fb[pid][1]
    assert any(
        fa.keys() != fc.keys() or any(not np.array_equal(fa[i][0], fc[i][0]) for i in fa)
        for fa, fc in zip(a, c, strict=True)
    )


def test_sequence_with_jupedsim_motion_is_deterministic():
    config = SynthConfig(
        num_frames=6, fps=5, width=160, height=96, min_people=8, max_people=8, motion="jupedsim"
    )
    first = list(generate_sequence(config, 4))
    second = list(generate_sequence(config, 4))
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x.image, y.image)
        np.testing.assert_array_equal(x.joints3d, y.joints3d)


def test_without_jupedsim_synth_says_so_in_one_line_and_uses_the_procedural_motion(
    tmp_path, monkeypatch, capsys
):
    import json

    from crowdpose3d.cli import main
    from crowdpose3d.data.synth import pedsim

    monkeypatch.setattr(pedsim, "jupedsim_available", lambda: False)
    out = tmp_path / "o"
    args = ["synth", str(out), "--frames", "2", "--width", "64", "--height", "48",
            "--motion", "jupedsim", "--min-people", "2", "--max-people", "3"]  # fmt: skip
    assert main(args) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "jupedsim" in line.lower()]
    assert len(err) == 1 and "pip install --no-deps" in err[0]
    camera = json.loads((out / "cameras/train/seq_0.json").read_text())
    assert camera["settings"]["motion"] == "procedural"
