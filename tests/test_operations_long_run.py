"""What a run left going for weeks needs (issue 15, parts 5, 6 and 8): bounded disk (retention
by parts, bytes and age; a free-space guard; ENOSPC without losing rows), gaps and changes
of a stream recorded, a live run restarted onto its output, and a Prometheus endpoint."""

from __future__ import annotations

import errno
import os
import time
import urllib.request
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext
from crowdpose3d.stages.parquet import ParquetSink
from crowdpose3d.tracks.schema import read_part_metadata


def write_segment(path: Path, first_pts: int, frames: int, width: int, fps: int = 10) -> bytes:
    """An MPEG-TS segment whose frame i has the timestamp (first_pts + i) / fps."""
    with av.open(str(path), mode="w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, 48, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, width, 3), 9 * i, np.uint8), "rgb24")
            frame.pts, frame.time_base = first_pts + i, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path.read_bytes()


def images_config(folder: Path, output: Path, **sink) -> dict:
    return {
        "source": {"type": "images", "path": str(folder)},
        "stages": [{"type": "pipeline_helpers:FakePeople", "people": 1}],
        "sinks": [{"type": "parquet", "path": str(output), "rows_per_part": 2, **sink}],
    }


def write_images(folder: Path, count: int) -> Path:
    import cv2

    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.full((24, 32, 3), i, np.uint8))
    return folder


def start(config: dict, **context) -> PipelineRunner:
    runner = PipelineRunner(validate_pipeline(config), StageContext(**context))
    runner.open()
    return runner


def test_a_timestamp_jump_and_a_resolution_change_are_recorded(tmp_path):
    """Old code: both passed silently (no event, no count, nothing in the tracks)."""
    data = write_segment(tmp_path / "a.ts", 0, 10, 64)
    data += write_segment(tmp_path / "b.ts", 60, 10, 96)  # 5 s later, wider
    clip = tmp_path / "jump.ts"
    clip.write_bytes(data)
    output = tmp_path / "tracks"
    config = {
        "source": {"type": "video", "uri": str(clip)},
        "stages": [{"type": "pipeline_helpers:FakePeople", "people": 1}],
        "sinks": [{"type": "parquet", "path": str(output)}],
    }
    report = start(config).run()
    source = report.stages[0]
    assert source["timestamp_jumps"] == 1 and source["resolution_changes"] == 1
    events = read_part_metadata(next(output.glob("part-*.parquet")))["stream_events"]
    kinds = {event["kind"]: event for event in events}
    assert set(kinds) == {"timestamp_jump", "resolution_change"}
    assert kinds["timestamp_jump"]["frame"] == 10 == kinds["resolution_change"]["frame"]
    assert kinds["timestamp_jump"]["gap_s"] == pytest.approx(5.0, abs=0.3)
    assert kinds["resolution_change"]["width"] == 96


def test_retention_by_bytes_and_by_age_keeps_the_newest_parts(tmp_path):
    """Old code: only retention by count existed (``retain_bytes`` was refused)."""
    folder = write_images(tmp_path / "images", 12)
    output = tmp_path / "tracks"
    start(images_config(folder, output, retain_bytes=1)).run()
    assert [p.name for p in output.glob("part-*.parquet")] == ["part-000005.parquet"]
    assert pd.read_parquet(output)["frame"].tolist() == [10, 11]
    old = time.time() - 3600
    for part in output.glob("part-*.parquet"):
        os.utime(part, (old, old))
    more = write_images(tmp_path / "more", 16)
    start(images_config(more, output, retain_age_s=60), resume=True).run()
    assert sorted(p.name for p in output.glob("part-*.parquet")) == [
        "part-000006.parquet",
        "part-000007.parquet",
    ]


def test_a_live_run_gets_bounded_retention_by_default(tmp_path):
    from crowdpose3d.pipeline.defaults import LIVE_RETAIN_AGE_S, LIVE_RETAIN_BYTES

    sink = ParquetSink(ParquetSink.Params(path=str(tmp_path / "t")))
    context = StageContext()
    context.facts.live = True
    sink.open(context)
    assert (sink.params.retain_bytes, sink.params.retain_age_s) == (
        LIVE_RETAIN_BYTES,
        LIVE_RETAIN_AGE_S,
    )


class FullDisk:
    """The seams of `ParquetSink`: a disk that is full for the first ``attempts`` part
    writes the sink tries (``attempts=None``: for ever)."""

    def __init__(self, fail_writes: bool, attempts: int | None = 4) -> None:
        self.fail_writes, self.attempts = fail_writes, attempts

    def full(self) -> bool:
        if self.attempts is None:
            return True
        self.attempts -= 1
        return self.attempts >= 0

    def install(self, monkeypatch) -> None:
        original = ParquetSink.write_part
        disk = self

        def write_part(sink, table, path):
            if disk.fail_writes and disk.full():
                Path(path).write_bytes(b"half a part")  # what a write cut by ENOSPC leaves
                raise OSError(errno.ENOSPC, "No space left on device")
            original(sink, table, path)

        def free_bytes(sink):
            return 0 if not disk.fail_writes and disk.full() else 10 * 2**30

        monkeypatch.setattr(ParquetSink, "write_part", write_part)
        monkeypatch.setattr(ParquetSink, "free_bytes", free_bytes)
        monkeypatch.setattr("crowdpose3d.stages.parquet.DISK_RETRY_S", 0.0)


@pytest.mark.parametrize("fail_writes", [False, True], ids=["free-space guard", "ENOSPC"])
def test_a_full_disk_loses_no_row_when_space_returns(tmp_path, monkeypatch, caplog, fail_writes):
    """Old code: ENOSPC lost the buffered rows (and left the temporary file); no guard."""
    FullDisk(fail_writes).install(monkeypatch)
    folder = write_images(tmp_path / "images", 20)
    output = tmp_path / "tracks"
    report = start(images_config(folder, output, min_free_bytes=1)).run()
    rows = pd.read_parquet(output)
    assert sorted(rows["frame"]) == list(range(20))  # every row, written after the wait
    assert not list(output.glob(".*tmp"))
    assert ("disk full" if fail_writes else "no part is written until") in caplog.text
    assert "writing parts again" in caplog.text or fail_writes
    sink = report.stages[2]
    assert sink["rows_dropped_disk_full"] == 0
    assert sink["part_write_failures"] == (4 if fail_writes else 0)
    assert sink["parts_written"] < 10  # the rows waited: fewer, larger parts


def test_a_disk_still_full_at_the_end_fails_with_one_line(tmp_path, monkeypatch):
    from crowdpose3d.pipeline.runner import PipelineError

    FullDisk(fail_writes=True, attempts=None).install(monkeypatch)
    folder = write_images(tmp_path / "images", 5)
    with pytest.raises(PipelineError, match="could not be written: the disk .* is full"):
        start(images_config(folder, tmp_path / "tracks")).run()


def live_file_config(clip: Path, output: Path, reconnect: bool) -> dict:
    """A file read as a live stream: with ``reconnect`` it replays forever, a "camera" that
    drops at each end of the file."""
    return {
        "source": {
            "type": "video", "uri": str(clip), "live": True, "reconnect": reconnect,
            "reconnect_initial_delay_s": 0.05,
        },
        "stages": [{"type": "pipeline_helpers:FakePeople", "people": 1}],
        "sinks": [
            {"type": "parquet", "path": str(output), "rows_per_part": 5},
            {"type": "mot", "path": str(output.parent / "mot.txt")},
        ],
        # 64 frames may wait: a short clip is never dropped for reading faster than real time
        "runner": {"report_every_s": 0.5, "queue_size": 64},
    }  # fmt: skip


def test_a_restarted_live_run_appends_to_its_output(tmp_path):
    """Old code: a second live run without --resume was refused ("already holds ...")."""
    from test_pipeline import write_clip

    clip = write_clip(tmp_path / "clip.mp4", frames=12)
    output = tmp_path / "tracks"
    start(live_file_config(clip, output, reconnect=False)).run()
    start(live_file_config(clip, output, reconnect=False)).run()  # no --resume
    frames = pd.read_parquet(output)["frame"].tolist()
    assert sorted(frames) == list(range(24))  # numbered on after the first run's frames
    numbers = sorted(int(p.stem.split("-")[1]) for p in output.glob("part-*.parquet"))
    assert numbers == list(range(len(numbers))) and len(numbers) >= 4
    from crowdpose3d.stages.mot import segments

    mot = [line for path in segments(tmp_path / "mot.txt") for line in path.read_text().split()]
    assert sorted(int(line.split(",")[0]) for line in mot) == list(range(1, 25))


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("crowdpose3d_")
    }


@pytest.mark.slow
def run_with_metrics_port(path: Path):
    """``crowdpose3d run PATH --metrics-port PORT`` (a free port) in a subprocess, the tests'
    custom stages allowed -> (the process, its port)."""
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tests = str(Path(__file__).resolve().parent)
    process = subprocess.Popen(
        [sys.executable, "-m", "crowdpose3d.cli", "run", str(path), "--allow-custom-stages",
         "--metrics-port", str(port), "--quiet"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": tests},
    )  # fmt: skip
    return process, port


def test_the_metrics_endpoint_serves_the_run_s_figures_over_http(tmp_path):
    """Old code: no --metrics-port. A real `crowdpose3d run` on a looping "camera"."""
    import signal

    import yaml
    from test_pipeline import write_clip

    clip = write_clip(tmp_path / "clip.mp4", frames=10)
    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump(live_file_config(clip, tmp_path / "tracks", reconnect=True)))
    process, port = run_with_metrics_port(path)
    try:
        deadline, figures = time.monotonic() + 120, {}
        source = '{stage="source:video"}'
        while time.monotonic() < deadline:
            try:
                figures = scrape(port)
            except OSError:
                figures = {}
            if figures.get(f"crowdpose3d_reconnects{source}", 0) >= 2 and figures.get(
                'crowdpose3d_parts_written{stage="sinks[0]:parquet"}', 0
            ):
                break
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.3)
        assert figures[f"crowdpose3d_stage_frames_total{source}"] >= 20
        assert figures[f"crowdpose3d_reconnects{source}"] >= 2
        attempts = figures[f"crowdpose3d_reconnect_attempts{source}"]
        assert attempts >= figures[f"crowdpose3d_reconnects{source}"]
        sink = '{stage="sinks[0]:parquet"}'
        assert figures[f"crowdpose3d_parts_written{sink}"] >= 1
        assert figures[f"crowdpose3d_disk_free_bytes{sink}"] > 0
        time.sleep(1.5)  # three report periods (report_every_s 0.5): the log line is due
        assert f"crowdpose3d_stage_latency_p50_seconds{sink}" in figures
        assert f"crowdpose3d_stage_last_frame_age_seconds{source}" in figures
        assert f"crowdpose3d_stage_dropped_frames_total{source}" in figures
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "reconnects" in stderr and "parts_written" in stderr  # the periodic log line


def test_a_disk_full_for_long_keeps_the_newest_waiting_rows_within_the_bound(
    tmp_path, monkeypatch, caplog
):
    FullDisk(fail_writes=False, attempts=12).install(monkeypatch)
    folder = write_images(tmp_path / "images", 20)
    output = tmp_path / "tracks"
    config = images_config(folder, output, min_free_bytes=1, max_waiting_rows=4)
    report = start(config).run()
    sink = report.stages[2]
    frames = sorted(pd.read_parquet(output)["frame"])
    assert sink["rows_dropped_disk_full"] > 0
    assert len(frames) == 20 - sink["rows_dropped_disk_full"]
    assert frames[-1] == 19 and frames == sorted(set(frames))  # the oldest went, no repeats


def test_a_live_overlay_is_written_in_playable_segments(tmp_path):
    """Old code: one ever-growing file, renamed (playable) only when the run ended."""
    from test_pipeline import write_clip

    from crowdpose3d.stages.overlay import playable_frames, segments

    clip = write_clip(tmp_path / "clip.mp4", frames=30)
    config = live_file_config(clip, tmp_path / "tracks", reconnect=False)
    overlay = tmp_path / "overlay.mp4"
    config["sinks"].append({"type": "overlay", "path": str(overlay), "segment_s": 1.0})
    start(config).run()
    files = segments(overlay)
    assert len(files) >= 2 and files[0].name == "overlay-from-0.mp4"
    # A file read as live runs faster than real time, so the runner drops frames: each
    # segment holds the frames that reached the sinks from its first frame to the next's.
    reached = pd.read_parquet(tmp_path / "tracks")["frame"].to_numpy()
    starts = [int(f.stem.rsplit("-", 1)[1]) for f in files] + [30]
    for file, first, end in zip(files, starts, starts[1:], strict=False):
        assert playable_frames(file) == ((reached >= first) & (reached < end)).sum() > 0


def test_a_bad_or_taken_metrics_port_is_one_line(tmp_path, capsys):
    import socket

    from crowdpose3d.cli import main

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        for port, message in ((99999, "port number 1-65535"), (busy, "pick a free port")):
            code = main(["track", "in.mp4", "-o", str(tmp_path / "o"), "--metrics-port", str(port)])
            err = capsys.readouterr().err
            assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
