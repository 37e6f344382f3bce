"""Exact resume of the regions stage and the events sink (issue 15 part 2, issue 17): the
regions' state (who is inside a zone since when, each track's side of each line, the open
occupancy interval) is saved beside each complete Parquet part like the tracker's, the
events sink tells the plan how far its complete parts reach, and the events of a killed
and resumed file run equal an uninterrupted run's (and so do its MOT segments)."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from test_operations import cli, wait_for
from test_resume import kill_when

from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import BaseStage, StageParams
from crowdpose3d.poses import Poses
from crowdpose3d.stages.mot import segments
from crowdpose3d.tracks.events import Event
from crowdpose3d.tracks.regions import Line, RegionCounter, Zone

WIDTH, HEIGHT = 96, 48  # of the test images (pixels)
FRAMES = 160  # images; 16 s at the image source's 10 fps
LINE_X = 40.0  # a vertical line the walkers cross both ways (pixels)
ZONE_X = (52.0, 90.0)  # a zone on the right of the image (pixels)


class WalkingPeopleParams(StageParams):
    people: int = 4
    sleep_s: float = 0.0  # per frame, so that a test can kill the run half way
    joints: int = 22


class WalkingPeople(BaseStage):
    """``people`` boxes swinging left and right across `LINE_X` and into the zone at their
    own pace; each is hidden for 30 frames every 60 (forgotten by the regions, a new track)."""

    Params = WalkingPeopleParams

    def open(self, context):
        super().open(context)
        context.facts.joint_names = [f"j{k}" for k in range(self.params.joints)]

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        n, k = self.params.people, self.params.joints
        for frame in frames:
            time.sleep(self.params.sleep_s)
            t, i = frame.index, np.arange(n)
            shown = ((t + 15 * i) // 30) % 2 == 0  # (n,) each person: 30 frames in, 30 out
            i = i[shown]
            x = 45 + 40 * np.sin(t * (0.05 + 0.02 * i) + i)  # (m,) box centres, pixels
            y = 8.0 + 4 * i
            boxes = np.stack([x - 4, y, x + 4, y + 30], 1)  # (m, 4)
            m = len(i)
            frame.poses = Poses(
                boxes=boxes,
                scores=np.full(m, 0.9),
                kp2d=np.broadcast_to(boxes[:, None, :2], (m, k, 2)).copy(),
                kp3d_rel=np.zeros((m, k, 3)),
                kp3d=np.full((m, k, 3), 1.5),
                root=np.stack([x / 50, 0 * x, 5 + 0 * x], 1),
                track_id=np.full(m, -1),
            )
            yield frame


def write_images(folder: Path, count: int = FRAMES) -> Path:
    folder.mkdir()
    for index in range(count):
        cv2.imwrite(str(folder / f"{index:04d}.png"), np.full((HEIGHT, WIDTH, 3), 7, np.uint8))
    return folder


def regions_pipeline(images: Path, out: Path, sleep_s: float = 0.0, hold: bool = True) -> dict:
    x0, x1 = ZONE_X
    return {
        "source": {"type": "images", "path": str(images)},
        "stages": [
            {"type": "test_regions_resume:WalkingPeople", "sleep_s": sleep_s},
            {
                "type": "track",
                "min_hits_to_confirm": 2,
                **({} if hold else {"fill_gaps_s": 0, "smooth_tracks_s": 0}),
            },
            {
                "type": "regions",
                "interval_s": 2.0,
                "lines": [{"name": "middle", "a": [LINE_X, 0], "b": [LINE_X, HEIGHT]}],
                "zones": [{"name": "right", "polygon": [[x0, 0], [x1, 0], [x1, 60], [x0, 60]]}],
            },
        ],
        "sinks": [
            {"type": "parquet", "path": str(out / "tracks"), "rows_per_part": 30},
            {"type": "events", "path": str(out / "events"), "events_per_part": 4},
            {"type": "mot", "path": str(out / "mot.txt"), "segment_s": 1.0},
        ],
    }


def run_cli(pipeline: Path, *extra: str):
    return cli("run", str(pipeline), "--allow-custom-stages", "--quiet", *extra)


def sorted_events(folder: Path) -> pd.DataFrame:
    events = pd.read_parquet(folder).drop(columns=["wall_time"])
    keys = ["frame", "time_s", "kind", "region", "track_id"]
    return events.sort_values(keys, kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("cut", [5, 33, 61])
def test_a_region_counter_continues_exactly_from_its_saved_state(cut):
    """Old code: RegionCounter had no state to save, so a resumed counter started empty."""
    line = Line("middle", (LINE_X, 0.0), (LINE_X, float(HEIGHT)))
    zone = Zone("right", ((ZONE_X[0], 0.0), (ZONE_X[1], 0.0), (ZONE_X[1], 60.0), (ZONE_X[0], 60.0)))
    walk = [(np.arange(3), 45 + 40 * np.sin(t * 0.1 + np.arange(3))) for t in range(80)]

    def feed(counter: RegionCounter, steps) -> list[Event]:
        events = []
        for t, (ids, x) in steps:
            points = {"image": np.stack([x, np.full(len(x), 30.0)], 1)}
            events += counter.update(t, t / 10, ids, points)
        return events

    whole = RegionCounter("cam", [line], [zone], interval_s=2.0)
    expected = feed(whole, enumerate(walk)) + whole.finish()
    first = RegionCounter("cam", [line], [zone], interval_s=2.0)
    events = feed(first, list(enumerate(walk))[:cut])
    saved = json.loads(json.dumps(first.state_dict()))  # what a state file keeps
    resumed = RegionCounter("cam", [line], [zone], interval_s=2.0)
    resumed.load_state_dict(saved)
    events += feed(resumed, list(enumerate(walk))[cut:]) + resumed.finish()
    assert len(expected) > 10 and events == expected
    with pytest.raises(ValueError, match="lines"):
        RegionCounter("cam", [], [zone]).load_state_dict(saved)


def clean_run_and_slow_pipeline(tmp_path: Path, hold: bool = True) -> tuple[Path, Path]:
    """Runs the regions pipeline uninterrupted into ``tmp_path/clean`` and writes a slow
    copy (for a test to stop half way) -> (its pipeline file, its output folder)."""
    images = write_images(tmp_path / "images")
    clean_file, cut_file = tmp_path / "clean.yaml", tmp_path / "cut.yaml"
    clean = regions_pipeline(images, tmp_path / "clean", hold=hold)
    clean_file.write_text(yaml.safe_dump(clean))
    cut = tmp_path / "cut"
    slow = regions_pipeline(images, cut, sleep_s=0.03, hold=hold)
    cut_file.write_text(yaml.safe_dump(slow))
    clean = run_cli(clean_file)
    _, stderr = clean.communicate(timeout=300)
    assert clean.returncode == 0, stderr
    return cut_file, cut


@pytest.mark.slow
def test_a_run_killed_twice_resumes_to_the_events_of_an_uninterrupted_run(tmp_path):
    """SIGKILL after the 2nd events part, again (resumed) after the 5th, then resume to the
    end: the events dataset equals an uninterrupted run's. Old code: the resumed regions
    started empty (people inside entered again, crossings right after the resume point were
    missed) and the events still waiting in the killed run's memory were lost."""
    cut_file, cut = clean_run_and_slow_pipeline(tmp_path)
    kill_when(cut / "events" / "part-000001.parquet", run_cli(cut_file))
    kill_when(cut / "events" / "part-000004.parquet", run_cli(cut_file, "--resume"))
    assert not (cut / "tracks" / "part-000009.parquet").exists()  # killed before the end
    last = run_cli(cut_file, "--resume")
    _, stderr = last.communicate(timeout=300)
    assert last.returncode == 0, stderr
    # Each resume continued from saved states (no run started over: the first parts stay).
    assert (cut / "tracks" / "part-000000.parquet").exists()
    assert (cut / "events" / "part-000000.parquet").exists()
    expected = sorted_events(tmp_path / "clean" / "events")
    kinds = set(expected["kind"])
    assert {"line_crossing", "zone_enter", "zone_leave", "zone_occupancy"} <= kinds
    pd.testing.assert_frame_equal(sorted_events(cut / "events"), expected)
    # MOT segments (any run can ask for them): in order, the same lines as the clean run's.
    assert mot_text(cut) == mot_text(tmp_path / "clean") and len(mot_text(cut)) > 100
    assert not list(cut.glob(".*partial"))


@pytest.mark.slow
def test_a_run_stopped_cleanly_resumes_to_the_events_of_an_uninterrupted_run(tmp_path):
    """SIGTERM half way (a clean stop writes the closing events: people inside leave with
    reason "end", the open interval ends), then `--resume` to the end: the events equal an
    uninterrupted run's; a second `--resume` with no frame left changes nothing. Old code:
    the resumed run kept the first run's closing events beside the real leaves. (No gap
    filling nor smoothing: the frames they hold would move the stop to a moment when nobody
    is inside.)"""
    cut_file, cut = clean_run_and_slow_pipeline(tmp_path, hold=False)
    first = run_cli(cut_file)
    wait_for(cut / "events" / "part-000002.parquet", first, timeout=300)
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 143, stderr
    stopped = pd.read_parquet(cut / "events")
    assert (stopped["reason"] == "end").any()  # the stop closed the zone
    for _ in range(2):  # to the end, then once more with nothing left
        resumed = run_cli(cut_file, "--resume")
        _, stderr = resumed.communicate(timeout=300)
        assert resumed.returncode == 0, stderr
        pd.testing.assert_frame_equal(
            sorted_events(cut / "events"), sorted_events(tmp_path / "clean" / "events")
        )


def mot_text(out: Path) -> str:
    return "".join(path.read_text() for path in segments(out / "mot.txt"))


def test_the_regions_stage_puts_its_state_on_each_frame(tmp_path):
    """Old code: only the tracker's state reached the Parquet sink's state files."""
    from crowdpose3d.pipeline.config import validate_pipeline
    from crowdpose3d.pipeline.runner import PipelineRunner
    from crowdpose3d.pipeline.stage import StageContext
    from crowdpose3d.stages.parquet import load_states

    images = write_images(tmp_path / "images", 40)
    runner = PipelineRunner(validate_pipeline(regions_pipeline(images, tmp_path)), StageContext())
    runner.open()
    runner.run()
    states = sorted((tmp_path / "tracks").glob(".part-*.state.npz"))
    assert states
    names = set(load_states(states[-1]))
    assert any(name.endswith(":regions") for name in names), names
