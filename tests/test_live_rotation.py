"""Bounded disk for a live run's overlay and MOT outputs (issue 15 part 5): both are written
in segments, and the complete segments are kept within the same retention as the Parquet
parts (parts / bytes / age, the live defaults of `crowdpose3d.pipeline.defaults`); the
segment being written is never removed. File runs keep their one MOT file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
from test_operations_long_run import live_file_config, start
from test_pipeline import write_clip

from crowdpose3d.pipeline.defaults import LIVE_RETAIN_AGE_S, LIVE_RETAIN_BYTES
from crowdpose3d.pipeline.plan import ResumePoint, RunPlan
from crowdpose3d.pipeline.stage import StageContext
from crowdpose3d.stages import mot as mot_module
from crowdpose3d.stages.mot import MOTSink
from crowdpose3d.stages.overlay import OverlaySink, playable_frames, segments
from crowdpose3d.stages.retention import beyond_retention


def touch(path: Path, size: int, age_s: float) -> Path:
    path.write_bytes(b"x" * size)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_retention_removes_the_oldest_by_count_age_and_bytes_never_the_newest(tmp_path):
    files = [touch(tmp_path / f"f{i}", 10, 100 - i) for i in range(5)]  # oldest first
    assert beyond_retention(files, retain_parts=2) == files[:3]
    assert beyond_retention(files, retain_age_s=97.5) == files[:3]
    assert beyond_retention(files, retain_bytes=25) == files[:3]
    assert beyond_retention(files, retain_bytes=1, retain_age_s=1) == files[:4]  # newest stays
    assert beyond_retention(files) == []


def rows_reached(tracks: Path) -> pd.Series:
    return pd.read_parquet(tracks)["frame"]


def test_a_live_overlay_keeps_only_its_newest_segments(tmp_path):
    """Old code: the segments were never deleted (``retain_parts`` was refused)."""
    clip = write_clip(tmp_path / "clip.mp4", frames=60)
    config = live_file_config(clip, tmp_path / "tracks", reconnect=False)
    overlay = tmp_path / "overlay.mp4"
    config["sinks"].append(
        {"type": "overlay", "path": str(overlay), "segment_s": 0.5, "retain_parts": 2}
    )
    report = start(config).run()
    files = segments(overlay)
    removed = report.stages[-1]["segments_removed"]
    assert len(files) == 2 and removed >= 2  # 6 s of video at 10 fps: about 12 segments
    assert all(playable_frames(path) > 0 for path in files)
    reached = rows_reached(tmp_path / "tracks")
    assert int(files[-1].stem.rsplit("-", 1)[1]) <= reached.max()  # the last one stays
    assert not list(tmp_path.glob(".overlay*partial*"))


def test_a_live_run_gives_its_overlay_and_mot_the_live_retention_by_default(tmp_path):
    for sink in (
        OverlaySink(OverlaySink.Params(path=str(tmp_path / "o.mp4"))),
        MOTSink(MOTSink.Params(path=str(tmp_path / "m.txt"))),
    ):
        context = StageContext()
        context.facts.live = True
        sink.open(context)
        assert (sink.params.retain_bytes, sink.params.retain_age_s) == (
            LIVE_RETAIN_BYTES,
            LIVE_RETAIN_AGE_S,
        )
        sink.close()


def read_mot(path: Path) -> pd.DataFrame:
    """A MOTChallenge file as TrackEval reads it: 10 comma-separated columns per line."""
    names = ["frame", "id", "x", "y", "w", "h", "conf", "a", "b", "c"]
    return pd.read_csv(path, header=None, names=names)


def test_a_live_mot_file_is_written_in_rotating_segments(tmp_path):
    """Old code: one ever-growing ``mot.txt``, renamed only when the run ended."""
    clip = write_clip(tmp_path / "clip.mp4", frames=60)
    tracks = tmp_path / "tracks"
    config = live_file_config(clip, tracks, reconnect=False)
    mot = tmp_path / "mot.txt"
    config["sinks"][1].update(segment_s=0.5)
    start(config).run()
    files = mot_module.segments(mot)
    assert len(files) >= 4 and files[0].name == "mot-from-0.txt" and not mot.exists()
    starts = [int(f.stem.rsplit("-", 1)[1]) for f in files] + [10**9]
    for file, first, end in zip(files, starts, starts[1:], strict=False):
        table = read_mot(file)  # a valid MOTChallenge file of its own frames
        assert len(table) and table["frame"].between(first + 1, end).all()
        assert (table[["a", "b", "c"]] == -1).all().all()
    joined = pd.concat([read_mot(file) for file in files])["frame"]
    assert sorted(joined - 1) == sorted(rows_reached(tracks))  # nothing lost, nothing twice
    # A restart of the live run appends new segments after the kept ones.
    config["sinks"][1].update(retain_parts=3)
    start(config).run()
    again = mot_module.segments(mot)
    assert len(again) == 3 and int(again[0].stem.rsplit("-", 1)[1]) > starts[-2]
    assert read_mot(again[-1])["frame"].max() - 1 == rows_reached(tracks).max()


def test_a_killed_live_run_s_partial_mot_segment_is_kept_on_restart(tmp_path):
    mot = tmp_path / "mot.txt"
    partial = tmp_path / ".mot-from-10.txt.partial"
    line = "{},3,1.00,2.00,3.00,4.00,0.9000,-1,-1,-1\n"
    partial.write_text(line.format(11) + line.format(12) + "13,3,1.0")  # cut by a kill
    sink = MOTSink(MOTSink.Params(path=str(mot)))
    # Frame 12 (index 11) may have lost lines after the cut one: the plan starts with it.
    assert sink.resume_point() == ResumePoint(after_frame=10, after_track_id=3)
    context = StageContext(resume=True, plan=RunPlan(ResumePoint(10, 3)))
    context.facts.live = True
    sink.open(context)
    sink.close()
    assert not partial.exists()
    assert (tmp_path / "mot-from-10.txt").read_text() == line.format(11)


def test_a_file_run_still_writes_one_mot_file(tmp_path):
    from test_operations import image_folder_config, run, write_images

    folder = write_images(tmp_path / "images", 12)
    mot = tmp_path / "mot.txt"
    run(image_folder_config(folder, tmp_path / "tracks", mot, mot_first=False))
    assert mot.exists() and not mot_module.segments(mot)
    assert sorted(set(read_mot(mot)["frame"])) == list(range(1, 13))


def test_the_track_command_s_retention_bounds_its_overlay_and_mot_segments_too(tmp_path):
    """Old code: `--retain-*` reached the Parquet sink only; a live camera's overlay and MOT
    segments kept the 20 GiB / 30 days defaults whatever the operator asked for."""
    from crowdpose3d.api import track_pipeline

    config = track_pipeline(
        "rtsp://camera.local/stream",
        tmp_path / "tracks",
        overlay=tmp_path / "overlay.mp4",
        mot=tmp_path / "mot.txt",
        parquet={"retain_parts": 12, "retain_age_s": 3600.0, "rows_per_part": 500},
    )
    sinks = {sink.type: sink.options for sink in config.sinks}
    for kind in ("parquet", "overlay", "mot"):
        assert (sinks[kind]["retain_parts"], sinks[kind]["retain_age_s"]) == (12, 3600.0), kind
    assert sinks["parquet"]["rows_per_part"] == 500 and "rows_per_part" not in sinks["mot"]
    from crowdpose3d.pipeline.stage import build_stage

    for kind in ("overlay", "mot"):  # and the sinks take them
        assert build_stage(kind, sinks[kind]).params.retain_parts == 12
