"""Exact resume (issue 14 part 3, issue 15 part 2): the tracker's state is saved beside each
complete Parquet part, and a resumed run equals an uninterrupted one row for row."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from test_operations import cli, wait_for

from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.plan import ResumePoint, plan_run
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext
from crowdpose3d.stages.overlay import playable_frames, segments


def write_images(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.full((48, 96, 3), i, np.uint8))
    return folder


def tracked_config(folder: Path, output: Path, mot: Path | None = None) -> dict:
    sinks = [{"type": "parquet", "path": str(output), "rows_per_part": 7}]
    if mot is not None:
        sinks.append({"type": "mot", "path": str(mot)})
    return {
        "source": {"type": "images", "path": str(folder)},
        "stages": [
            {"type": "pipeline_helpers:FakePeople", "people": 3},
            {"type": "track", "min_hits_to_confirm": 3},
        ],
        "sinks": sinks,
    }


def run(config: dict, **context) -> None:
    runner = PipelineRunner(validate_pipeline(config), StageContext(**context))
    runner.open()
    runner.run()


def sorted_rows(output: Path) -> pd.DataFrame:
    rows = pd.read_parquet(output)
    return rows.sort_values(["frame", "track_id"]).reset_index(drop=True)


@pytest.mark.parametrize("kept_parts", [1, 3])
def test_a_resumed_run_continues_the_tracks_exactly(tmp_path, kept_parts):
    """Old code: the resumed tracker started empty, so its tracks waited
    ``min_hits_to_confirm`` frames again (rows lost) and took new, offset ids."""
    folder = write_images(tmp_path / "images", 30)
    clean, cut = tmp_path / "clean", tmp_path / "cut"
    run(tracked_config(folder, clean))
    run(tracked_config(folder, cut))
    parts = sorted(cut.glob("part-*.parquet"))
    assert len(parts) > kept_parts and len(list(cut.glob(".part-*.state.npz"))) == len(parts)
    for part in parts[kept_parts:]:  # a killed run: only the first parts were complete
        part.unlink()
    run(tracked_config(folder, cut), resume=True)
    pd.testing.assert_frame_equal(sorted_rows(cut), sorted_rows(clean))


def test_the_plan_moves_back_to_the_newest_saved_state_and_hands_it_over(tmp_path):
    folder = write_images(tmp_path / "images", 30)
    output, mot = tmp_path / "tracks", tmp_path / "mot.txt"
    config = tracked_config(folder, output, mot)
    run(config)
    runner = PipelineRunner(validate_pipeline(config), StageContext(resume=True))
    from crowdpose3d.pipeline.stage import build_stage

    stages = [build_stage(e.type, e.options) for _, e in runner.config.entries()]
    for name, stage in zip(runner.names, stages, strict=True):
        stage.run_name = name
    # The MOT file holds frames up to 15 only: the plan goes back to the part ending at or
    # before it, with the tracker state saved after that part's last frame.
    lines = [ln for ln in mot.read_text().splitlines(True) if int(ln.split(",")[0]) <= 16]
    mot.unlink()
    (tmp_path / ".mot.txt.partial").write_text("".join(lines))
    plan = plan_run(stages, resume=True)
    assert plan.resume_point.after_frame <= 14
    assert set(plan.stage_state) == {"stages[1]:track"}
    assert int(plan.stage_state["stages[1]:track"]["next_id"]) == 4
    run(config, resume=True)
    clean = tmp_path / "clean"
    run(tracked_config(folder, clean, tmp_path / "clean_mot.txt"))
    pd.testing.assert_frame_equal(sorted_rows(output), sorted_rows(clean))
    assert mot.read_text() == (tmp_path / "clean_mot.txt").read_text()
    assert plan.resume_point != ResumePoint()


@pytest.fixture(scope="module")
def people_clip(tmp_path_factory):
    from crowdpose3d.demo import make_sample_clip

    return make_sample_clip(tmp_path_factory.mktemp("clip"), frames=60).video


def kill_when(path: Path, process: subprocess.Popen, timeout: float = 300) -> None:
    """SIGKILL ``process`` (no flush, no rename: a power cut) once ``path`` exists."""
    wait_for(path, process, timeout)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)


@pytest.mark.slow
def test_a_track_command_killed_twice_resumes_to_the_rows_of_an_uninterrupted_run(
    tmp_path, people_clip
):
    """SIGKILL after the 2nd part, again (resumed) after the 5th, then resume to the end:
    the tracks and the MOT file equal an uninterrupted run's (old code: every resume
    restarted the tracks, losing rows and changing ids)."""

    def track(output: Path, mot: Path, *extra: str) -> subprocess.Popen:
        return cli(
            "track", str(people_clip), "-o", str(output), "--mot", str(mot), "--device", "cpu",
            "--threads", "1", "--rows-per-part", "40", "--quiet",
            "--overlay", str(output.parent / f"{output.name}.mp4"), *extra,
        )  # fmt: skip

    clean = track(tmp_path / "clean", tmp_path / "clean.txt")
    _, stderr = clean.communicate(timeout=600)
    assert clean.returncode == 0, stderr
    output, mot = tmp_path / "tracks", tmp_path / "mot.txt"
    kill_when(output / "part-000001.parquet", track(output, mot))
    kill_when(output / "part-000004.parquet", track(output, mot, "--resume"))
    assert not mot.exists()  # killed: never renamed
    last = track(output, mot, "--resume")
    _, stderr = last.communicate(timeout=600)
    assert last.returncode == 0, stderr
    pd.testing.assert_frame_equal(sorted_rows(output), sorted_rows(tmp_path / "clean"))
    assert mot.read_text() == (tmp_path / "clean.txt").read_text()
    # The overlay: the killed runs' files play (fragmented MP4), the last one continues from
    # the frame the tracks resumed at, and no temporary file is left.
    overlay = tmp_path / "tracks.mp4"
    assert not list(tmp_path.glob(".*partial*"))
    drawn = [path for path in [overlay, *segments(overlay)] if path.exists()]
    assert drawn and all(playable_frames(path) > 0 for path in drawn)
    last_overlay = segments(overlay)[-1]
    first = int(last_overlay.stem.rsplit("-", 1)[1])
    assert playable_frames(last_overlay) == 60 - first
