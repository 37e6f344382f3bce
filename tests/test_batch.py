"""`crowdpose3d batch`: many videos as Ray tasks, one hive partition per source."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowdpose3d.batch import (
    RECORD,
    BatchOptions,
    VideoJob,
    partition_dir,
    plan_jobs,
    process_video,
    staging_dir,
)
from crowdpose3d.cli import main
from crowdpose3d.demo import make_sample_clip
from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.defaults import default_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner


@pytest.fixture
def local_ray():
    """A real local cluster with two CPUs (`crowdpose3d batch` uses a connection it finds)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    """Three short synthetic street clips, all named seq_1.mp4 (as make_sample_clip names
    them), so their partition ids must be told apart."""
    folder = tmp_path_factory.mktemp("clips")
    return [
        make_sample_clip(folder / f"clip{seed}", seed=seed, frames=8, size=(160, 256)).video
        for seed in (1, 2, 3)
    ]


def single_run(video: Path, output: Path) -> pd.DataFrame:
    """The default pipeline on one video, as `crowdpose3d track --device cpu` runs it."""
    config = validate_pipeline(default_pipeline(str(video), str(output), device="cpu"))
    runner = PipelineRunner(config)
    runner.open()
    runner.run()
    return pd.read_parquet(output)


def sorted_rows(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame.drop(columns=["source"]).sort_values(["frame", "track_id"])
    return rows.reset_index(drop=True)


@pytest.mark.ray
@pytest.mark.slow
def test_batch_equals_single_runs_reports_the_corrupt_input_and_skips_on_rerun(
    local_ray, clips, tmp_path, capsys
):
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video\n")
    out = tmp_path / "tracks"
    inputs = [str(clip) for clip in clips]

    code = main(["batch", *inputs, str(broken), "-o", str(out), "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 1
    failures = [line for line in captured.err.splitlines() if line.startswith("crowdpose3d:")]
    assert len(failures) == 1
    assert "broken.mp4 failed after 2 attempts: cannot read" in failures[0]
    assert len(re.findall(r"^\[\d/4\] ", captured.err, re.MULTILINE)) == 4  # one per video
    assert "3 done, 0 skipped (already complete), 1 failed" in captured.out

    ids = [job.source_id for job in plan_jobs(inputs)]
    assert len(set(ids)) == 3 and all(re.fullmatch(r"seq_1-[0-9a-f]{8}", i) for i in ids)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"source={i}" for i in ids)
    dataset = pd.read_parquet(out)
    assert list(dataset.columns).count("source") == 1
    assert set(dataset["source"].astype(str)) == set(ids)
    for clip, source_id in zip(clips, ids, strict=True):
        assert json.loads((partition_dir(out, source_id) / RECORD).read_text())["frames"] == 8
        single = sorted_rows(single_run(clip, tmp_path / f"single-{source_id}"))
        batched = sorted_rows(dataset[dataset["source"] == source_id])
        assert len(single) > 8  # people were found, so the comparison means something
        assert batched.columns.tolist() == single.columns.tolist()
        assert np.array_equal(batched["frame"], single["frame"])
        assert np.array_equal(batched["track_id"], single["track_id"])
        numbers = [c for c in single.columns if c not in ("frame", "track_id", "wall_time")]
        np.testing.assert_allclose(
            batched[numbers].to_numpy(float), single[numbers].to_numpy(float), atol=1e-3
        )

    parts = {path: path.stat().st_mtime_ns for path in out.rglob("part-*.parquet")}
    assert main(["batch", *inputs, "-o", str(out), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "0 done, 3 skipped (already complete), 0 failed" in captured.out
    assert captured.err.count("is complete") == 3
    # Alone, a clip keeps the id it got beside the others: skipped, not run again.
    assert main(["batch", inputs[0], "-o", str(out)]) == 0
    assert "0 done, 1 skipped" in capsys.readouterr().out
    assert {path: path.stat().st_mtime_ns for path in out.rglob("part-*.parquet")} == parts


def test_partition_ids_are_safe_unique_and_independent_of_order(tmp_path):
    inputs = [
        str(tmp_path / "a" / "cam.mp4"),
        str(tmp_path / "b" / "cam.mp4"),
        str(tmp_path / "_hidden name=1.mp4"),
        "rtsp://user:secret@10.0.0.5/live/main",
        str(tmp_path / "a" / "cam.mp4"),  # the same input twice: run once
    ]
    jobs = plan_jobs(inputs)
    ids = [job.source_id for job in jobs]
    assert len(jobs) == 4 and len(set(ids)) == 4
    assert ids[0].startswith("cam-") and ids[1].startswith("cam-")
    assert ids[2] == "hidden_name_1"  # readers skip names starting with _ or .; no '='
    assert ids[3] == "10.0.0.5_live_main" and "secret" not in jobs[3].name
    reverse = plan_jobs(inputs[::-1])  # a/cam.mp4, rtsp, _hidden, b/cam.mp4
    assert [job.source_id for job in reverse] == [ids[0], ids[3], ids[2], ids[1]]


def test_an_input_keeps_the_id_of_its_partition(tmp_path):
    out = tmp_path / "tracks"
    video = tmp_path / "a" / "cam.mp4"
    (out / "source=cam-old").mkdir(parents=True)
    (out / "source=cam-old" / RECORD).write_text(json.dumps({"uri": str(video)}))
    (out / "source=other").mkdir()  # a partition without record still takes its name
    jobs = plan_jobs([str(video), str(tmp_path / "other.mp4")], out)
    assert jobs[0].source_id == "cam-old"
    assert jobs[1].source_id.startswith("other-")


def test_a_failed_video_leaves_no_partition_and_no_staging(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video\n")
    out = tmp_path / "tracks"
    job = VideoJob(uri=str(broken), name="broken.mp4", source_id="broken")
    stale = staging_dir(out, "broken")
    stale.mkdir(parents=True)
    (stale / "part-000000.parquet").write_text("half of a killed attempt")
    result = process_video(job, out, BatchOptions(device="cpu"))
    assert result.status == "failed" and "cannot read" in result.error
    assert not stale.exists() and not partition_dir(out, "broken").exists()


def test_without_ray_the_command_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert main(["batch", str(tmp_path / "x.mp4"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'crowdpose3d[ray]'" in err


@pytest.mark.parametrize(
    "option, message",
    [
        (["--cpus-per-video", "0"], "--cpus-per-video must be > 0"),
        (["--retries", "-1"], "--retries must be >= 0"),
        (["--ray-address", "127.0.0.1:1"], "cannot reach the Ray cluster at 127.0.0.1:1"),
    ],
)
def test_bad_options_are_one_line(option, message, tmp_path, capsys):
    pytest.importorskip("ray")
    args = ["batch", str(tmp_path / "x.mp4"), "-o", str(tmp_path / "out"), *option]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def truncated_copy(video: Path, path: Path, keep: float = 0.6) -> Path:
    """``video`` re-muxed with its index first (faststart), then cut: the header still
    announces every frame, the data of the last ones is missing."""
    import av

    whole = path.with_name(f"whole-{path.name}")
    with (
        av.open(str(video)) as source,
        av.open(str(whole), "w", options={"movflags": "faststart"}) as target,
    ):
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    data = whole.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.mark.slow
def test_a_truncated_video_keeps_its_rows_marked_partial_and_other_options_redo_it(tmp_path):
    """Old code: a truncated video lost all its rows (failed, retried); a rerun with another
    camera (or model) said "skipped (complete)", since the record held no options."""
    from crowdpose3d.batch import changed_options, completed, format_summary

    clip = make_sample_clip(tmp_path / "clip", seed=4, frames=20, size=(160, 256)).video
    video = truncated_copy(clip, tmp_path / "cut.mp4")
    out = tmp_path / "tracks"
    job = VideoJob(uri=str(video), name="cut.mp4", source_id="cut")
    options = BatchOptions(device="cpu")
    result = process_video(job, out, options)
    assert result.status == "done" and "truncated" in result.partial, result
    assert 0 < result.frames < 20
    record = json.loads((partition_dir(out, "cut") / RECORD).read_text())
    assert "truncated" in record["partial"] and record["options"]["camera"] == {}
    rows = pd.read_parquet(partition_dir(out, "cut"))
    assert len(rows) > 0 and rows["frame"].max() < result.frames
    assert "PARTIAL" in format_summary([result]) and "1 partial" in format_summary([result])
    assert completed(job, out, options).partial == result.partial  # a rerun skips it

    wider = BatchOptions(device="cpu", camera={"fov_deg": 75.0})
    assert changed_options(job, out, wider) == ["camera"] and completed(job, out, wider) is None
    redone = process_video(job, out, wider)
    assert redone.note == "redone: its camera changed"
    record = json.loads((partition_dir(out, "cut") / RECORD).read_text())
    assert record["options"]["camera"] == {"fov_deg": 75.0}
    assert completed(job, out, wider) is not None
    assert not list((out / ".staging").glob("*"))  # the replaced partition is gone
    assert len(pd.read_parquet(partition_dir(out, "cut"))) == len(rows)  # no rows twice
