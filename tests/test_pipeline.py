"""The pipeline framework: config validation, the threaded runner, sources and sinks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from crowdpose3d.pipeline.config import (
    ConfigError,
    fill_variables,
    load_pipeline,
    validate_pipeline,
)
from crowdpose3d.pipeline.plan import ResumePoint, RunPlan
from crowdpose3d.pipeline.runner import PipelineError, PipelineRunner
from crowdpose3d.pipeline.stage import StageContext, StageError
from crowdpose3d.stages.source import redact_url
from crowdpose3d.tracks.schema import read_part_metadata


def write_clip(path: Path, frames: int = 20, width: int = 64, height: int = 48, fps: int = 10):
    """A small H.264 clip (MP4 or MPEG-TS by suffix); frame i is grey level 10 * i."""
    container_format = "mpegts" if path.suffix == ".ts" else None
    with av.open(str(path), mode="w", format=container_format) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.full((height, width, 3), (10 * i) % 250, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "clip.mp4")


def pipeline(uri, output, *stages, **sink_options):
    return {
        "source": {"type": "video", "uri": str(uri)},
        "stages": [{"type": "pipeline_helpers:FakePeople"}, *stages],
        "sinks": [{"type": "parquet", "path": str(output), **sink_options}],
    }


def run(config, **context):
    runner = PipelineRunner(validate_pipeline(config), StageContext(**context))
    runner.open()
    return runner.run()


def test_variables_are_filled_and_a_missing_one_is_named():
    assert fill_variables("a: ${x}\nb: ${y:-builtin:m}", {"x": "1"}) == "a: 1\nb: builtin:m"
    with pytest.raises(ConfigError, match=r"--set x=VALUE"):
        fill_variables("a: ${x}", {})


@pytest.mark.parametrize(
    "change, message",
    [
        ({"source": {"type": "nope", "uri": "x"}}, "unknown stage type 'nope'"),
        ({"stages": [{"type": "track", "max_agee": 3}]}, r"stages\[0\] \(track\): max_agee"),
        ({"sinks": []}, "sinks"),
        ({"extra": 1}, "extra"),
        ({"stages": [{"type": "pandanet", "batch_size": 0}]}, "batch_size"),
        ({"source": {"type": "no_such_module:Stage"}}, "cannot import no_such_module"),
    ],
)
def test_invalid_configs_are_one_line_naming_the_key(change, message, tmp_path):
    config = pipeline("x.mp4", tmp_path / "out")
    config.update(change)
    with pytest.raises(ConfigError, match=message) as error:
        validate_pipeline(config)
    assert "\n" not in str(error.value)


def test_shipped_pipeline_files_validate(tmp_path):
    root = Path(__file__).resolve().parent.parent / "pipelines"
    load_pipeline(root / "video_to_parquet.yaml", {"input": "a.mp4", "output": str(tmp_path)})
    live = load_pipeline(root / "rtsp_live.yaml", {"url": "rtsp://h/s", "output": str(tmp_path)})
    assert live.sinks[0].options["retain_parts"] == 10080


def test_file_run_writes_every_frame_and_rows_read_back_with_pandas(clip, tmp_path):
    output = tmp_path / "tracks"
    report = run(pipeline(clip, output, rows_per_part=7))
    assert report.frames == 20
    table = pd.read_parquet(output)
    assert len(table) == 40 and sorted(table["track_id"].unique()) == [100, 101]
    assert table["frame"].min() == 0 and table["frame"].max() == 19
    np.testing.assert_allclose(sorted(table["time_s"].unique()), np.arange(20) / 10, atol=1e-6)
    assert table["j3_u"].dtype == np.float32 and table["root_z_m"].iloc[0] == 5.0
    parts = sorted(output.glob("part-*.parquet"))
    assert len(parts) == 5  # a part is written once 7 rows wait: every 4 frames (8 rows)
    info = read_part_metadata(parts[0])
    assert info["fps"] == 10 and info["first_frame"] == 0 and info["joint_names"][0] == "j0"
    stages = {s["stage"]: s for s in report.stages}
    assert stages["source:video"]["frames"] == 20
    assert stages["sinks[0]:parquet"]["latency_p95_ms"] >= 0


def test_a_failing_stage_is_named_and_earlier_frames_are_kept(clip, tmp_path):
    output = tmp_path / "tracks"
    config = pipeline(clip, output, {"type": "pipeline_helpers:FailAt", "index": 5})
    with pytest.raises(PipelineError, match=r"stages\[1\]:pipeline_helpers:FailAt.*boom"):
        run(config)
    table = pd.read_parquet(output)
    assert sorted(table["frame"].unique()) == [0, 1, 2, 3, 4]


def test_existing_results_are_refused_then_overwritten_or_resumed(clip, tmp_path):
    output = tmp_path / "tracks"
    config = pipeline(clip, output, rows_per_part=8)
    config["source"]["max_frames"] = 8
    run(config)
    with pytest.raises(StageError, match="--overwrite"):
        run(config)
    config["source"]["max_frames"] = None
    run(config, resume=True)  # continues after frame 7
    table = pd.read_parquet(output)
    assert sorted(table["frame"]) == sorted(list(range(20)) * 2)
    run(config, overwrite=True)
    assert len(pd.read_parquet(output)) == 40


def test_source_errors_are_one_line(tmp_path, clip):
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("hello")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    cases = [
        (tmp_path / "missing.mp4", "video file not found"),
        (not_video, "cannot read .* as a video"),
        (empty, "cannot read .* as a video"),
        ("rtsp://user:secret@127.0.0.1:9/none", r"cannot open rtsp://\*\*\*@127.0.0.1:9/none"),
    ]
    for uri, message in cases:
        config = pipeline(uri, tmp_path / "out")
        config["source"]["open_timeout_s"] = 2
        with pytest.raises(StageError, match=message) as error:
            run(config)
        assert "secret" not in str(error.value)


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_video_keeps_the_frames_that_decode(tmp_path, damage):
    clip = write_clip(tmp_path / "long.ts", frames=60)  # MPEG-TS: readable up to the damage
    data = clip.read_bytes()
    half = len(data) // 2
    damaged = tmp_path / f"{damage}.ts"
    if damage == "truncated":
        damaged.write_bytes(data[:half])
    else:
        damaged.write_bytes(data[:half] + bytes(range(256)) * 40 + data[half:])
    output = tmp_path / "tracks"
    try:
        run(pipeline(damaged, output))
    except (PipelineError, StageError) as error:
        assert "\n" not in str(error)
    frames = sorted(pd.read_parquet(output)["frame"].unique())
    assert len(frames) >= 10 and frames[:10] == list(range(10))


def test_redact_url():
    assert redact_url("rtsp://admin:pw@cam:554/s?x=1") == "rtsp://***@cam:554/s?redacted=12c091ef"
    assert redact_url("/videos/a@b.mp4") == "/videos/a@b.mp4"
    assert redact_url("error 'rtsp://u:p@h/s'") == "error 'rtsp://***@h/s'"
    assert redact_url("rtsp://admin:p@ss@10.0.0.1/x") == "rtsp://***@10.0.0.1/x"
    assert redact_url("http://h/s?user=a&pwd=secret&x=1") == "http://h/s?redacted=346963a1"


def test_http_video_files_are_read_like_files():
    from crowdpose3d.stages.source import is_live

    assert not is_live("https://host/videos/clip.mp4?sig=1")
    assert is_live("http://camera/mjpeg") and is_live("rtsp://cam/stream")


def test_cli_run_reports_errors_as_one_line(tmp_path, clip):
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: {type: video, uri: x}\nsinks: [{type: parquet, path: o}]\nfoo: 1\n")
    for args in (
        ["run", str(bad)],
        ["run", str(tmp_path / "missing.yaml")],
        ["track", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o")],
        ["track", str(clip), "-o", str(tmp_path / "o"), "--model", str(clip)],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "crowdpose3d.cli", *args], capture_output=True, text=True
        )
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.strip().count("\n") == 0, result.stderr
        assert "Traceback" not in result.stderr


def test_a_video_without_frames_is_one_line(tmp_path):
    empty = tmp_path / "no_frames.mp4"
    with av.open(str(empty), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()  # a header and nothing else: no frame, no video track
    with pytest.raises((StageError, PipelineError), match="no video stream|no decodable") as error:
        run(pipeline(empty, tmp_path / "out"))
    assert "\n" not in str(error.value)


def test_image_folder_source(tmp_path):
    import cv2

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"{i:03d}.png"), np.full((40, 60, 3), 20 * i, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    output = tmp_path / "tracks"
    config = pipeline(folder, output)
    config["source"] = {"type": "images", "path": str(folder), "fps": 5}
    assert run(config).frames == 5
    table = pd.read_parquet(output)
    np.testing.assert_allclose(sorted(table["time_s"].unique()), np.arange(5) / 5)
    with pytest.raises(StageError, match="holds no image"):
        config["source"]["path"] = str(tmp_path)
        run(config, overwrite=True)


@pytest.mark.slow
def test_cli_track_and_demo_succeed(tmp_path):
    from crowdpose3d.demo import make_sample_clip

    clip = make_sample_clip(tmp_path / "clip", frames=12)
    output = tmp_path / "tracks"
    command = [sys.executable, "-m", "crowdpose3d.cli"]
    result = subprocess.run(
        [
            *command,
            "track",
            str(clip.video),
            "-o",
            str(output),
            "--camera",
            str(clip.camera),
            "--overlay",
            str(tmp_path / "overlay.mp4"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert read_part_metadata(sorted(output.glob("part-*.parquet"))[0])["ground_plane"] is True
    assert (tmp_path / "overlay.mp4").stat().st_size > 0
    again = subprocess.run(
        [*command, "track", str(clip.video), "-o", str(output)], capture_output=True, text=True
    )
    assert again.returncode == 2 and "--overwrite" in again.stderr
    demo = subprocess.run(
        [*command, "demo", "--out", str(tmp_path / "demo")], capture_output=True, text=True
    )
    assert demo.returncode == 0, demo.stderr
    assert "MOTA" in demo.stdout and "root position error" in demo.stdout
    assert pd.read_parquet(tmp_path / "demo" / "tracks")["track_id"].min() >= 1


def test_overlay_draws_tracked_people_only():
    from crowdpose3d.core.skeleton import JTA22
    from crowdpose3d.pipeline.frame import Frame
    from crowdpose3d.poses import Poses
    from crowdpose3d.stages.overlay import draw_frame, track_colour

    image = np.zeros((100, 120, 3), np.uint8)
    poses = Poses(
        boxes=[[10, 10, 40, 90], [70, 10, 100, 90]],
        scores=[0.9, 0.9],
        kp2d=np.full((2, 22, 2), 50.0),
        kp3d_rel=np.zeros((2, 22, 3)),
        track_id=[7, -1],
    )
    drawn = draw_frame(Frame("s", 0, 0.0, image, poses=poses), JTA22.bones)
    assert tuple(drawn[50, 10]) == track_colour(7)  # the tracked person's box edge
    assert not drawn[50, 70].any()  # the untracked one is not drawn
    assert not image.any()  # the frame's own image is left alone
    assert track_colour(7) != track_colour(8)


def test_set_values_are_not_parsed_as_yaml(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        'source: {type: video, uri: "${url}"}\n'
        'sinks: [{type: parquet, path: out, rows_per_part: "${rows:-5}"}]\n'
    )
    url = 'rtsp://u:a\\nb"c@h/x'
    config = load_pipeline(path, {"url": url})
    assert config.source.options["uri"] == url and config.sinks[0].options["rows_per_part"] == 5


def test_a_stage_that_stops_reading_early_ends_the_run(clip, tmp_path):
    config = pipeline(clip, tmp_path / "out", {"type": "pipeline_helpers:FirstFrames"})
    config["runner"] = {"queue_size": 1}
    report = run(config)  # would hang if the source stayed blocked on a full queue
    assert report.frames == 3


def test_mot_resume_keeps_whole_lines_up_to_the_resume_point(tmp_path):
    from crowdpose3d.stages.mot import MOTParams, MOTSink

    path = tmp_path / "run.txt"
    path.write_text("1,1,0,0,1,1,0.9,0,0,0\n")  # an older, shorter complete output
    partial = tmp_path / ".run.txt.partial"  # a killed run's longer file, cut mid-line
    partial.write_text("1,1,0,0,1,1,0.9,0,0,0\n2,1,0,0,1,1,0.9,0,0,0\n3,1,0,0,1,1,0.9,0,0,0\n4,1,0")
    sink = MOTSink(MOTParams(path=str(path)))
    plan = RunPlan(ResumePoint(after_frame=1))
    sink.open(StageContext(resume=True, plan=plan))  # frames 0-1 kept
    sink.close()
    assert path.read_text().splitlines() == ["1,1,0,0,1,1,0.9,0,0,0", "2,1,0,0,1,1,0.9,0,0,0"]


def test_resume_does_not_depend_on_the_order_of_the_sinks(clip, tmp_path):
    output, mot = tmp_path / "tracks", tmp_path / "run.txt"
    config = pipeline(clip, output, rows_per_part=8)
    config["sinks"].insert(0, {"type": "mot", "path": str(mot)})  # before the Parquet sink
    config["source"]["max_frames"] = 8
    run(config)
    config["source"]["max_frames"] = None
    run(config, resume=True)  # the runner's plan: continue after frame 7, whatever opens first
    frames = [int(line.split(",")[0]) for line in mot.read_text().splitlines()]
    assert frames == [f for f in range(1, 21) for _ in range(2)]  # 2 people, each frame once
    assert sorted(pd.read_parquet(output)["frame"]) == sorted(list(range(20)) * 2)


def test_the_plan_resumes_after_what_every_sink_holds():
    from crowdpose3d.pipeline.plan import FRESH, plan_run

    class Holding:
        def __init__(self, point):
            self.point = point

        def resume_point(self):
            return self.point

    stages = [Holding(ResumePoint(7, 3)), object(), Holding(None), Holding(ResumePoint(5, 9))]
    assert plan_run(stages, resume=True).resume_point == ResumePoint(5, 9)
    assert plan_run(stages, resume=False).resume_point == FRESH
    assert not plan_run([Holding(None)], resume=True).resuming
    assert ResumePoint(5, 9).first_frame == 6


def test_source_filters_keep_every_nth_frame_after_the_resume_point_and_carry_gaps():
    from crowdpose3d.pipeline.frame import Frame
    from crowdpose3d.stages.source import keep_frames

    frames = [Frame("s", i, i / 10, None) for i in range(10)]
    frames[5].data["gap_before_s"] = 2.5  # dropped by the step: the next kept frame tells
    kept = list(keep_frames(iter(frames), frame_step=2, after_frame=2))
    assert [f.index for f in kept] == [4, 6, 8]
    assert kept[1].data == {"gap_before_s": 2.5} and kept[0].data == kept[2].data == {}


def test_one_backoff_policy_doubles_up_to_its_cap_and_starts_over_after_a_frame():
    from crowdpose3d.stages.source import Backoff

    backoff = Backoff(0.5, 3.0, max_attempts=4)
    waits = []
    for _ in range(4):
        waits.append(backoff.delay_s)
        backoff.attempt()
    assert waits == [0.5, 1.0, 2.0, 3.0] and backoff.exhausted
    backoff.reset()
    assert backoff.delay_s == 0.5 and not backoff.exhausted
    assert not Backoff(0.5, 3.0, max_attempts=None).exhausted


def test_track_builds_the_default_pipeline_from_the_shipped_yaml_file(tmp_path):
    from crowdpose3d.pipeline.defaults import DEFAULT_MODEL, default_pipeline

    root = Path(__file__).resolve().parents[1]
    from_file = load_pipeline(
        root / "pipelines" / "video_to_parquet.yaml", {"input": "a.mp4", "output": "out"}
    )
    from_code = validate_pipeline(default_pipeline("a.mp4", "out"))
    assert from_code == from_file
    assert [entry.type for _, entry in from_file.entries()] == [
        "video",
        "pandanet",
        "verify",
        "lift",
        "track",
        "pose_lifter",
        "parquet",
    ]
    assert from_file.stages[0].options["model"] == DEFAULT_MODEL
    # What `crowdpose3d track` adds: camera options on the lift, overlay and MOT sinks.
    extended = default_pipeline(
        "a.mp4", "out", device="cpu", camera={"fov_deg": 70}, overlay="o.mp4", mot="m.txt"
    )
    assert extended["stages"][0]["device"] == "cpu" and extended["stages"][2]["fov_deg"] == 70
    assert [sink["type"] for sink in extended["sinks"]] == ["parquet", "overlay", "mot"]
