"""Live RTSP: a real GStreamer RTSP server is started, killed mid-stream and restarted; the
pipeline reconnects, records the gap and goes on writing complete Parquet parts."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext

SERVER = Path(__file__).resolve().parent.parent / "examples" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def _server_available() -> bool:
    if not Path(SYSTEM_PYTHON).exists() or shutil.which("gst-launch-1.0") is None:
        return False
    probe = (
        "import sys; sys.path.append('/usr/lib/python3/dist-packages'); import gi; "
        "gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    )
    return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode == 0


pytestmark = [
    pytest.mark.rtsp,
    pytest.mark.skipif(
        not _server_available(), reason="GStreamer RTSP server not installed (see .ci/run)"
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_clip(path: Path, seconds: float = 30, fps: int = 25) -> Path:
    """H.264 without B-frames (RTP needs it), a moving square so frames differ."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.options = {"bf": "0", "g": str(fps)}
        for i in range(int(seconds * fps)):
            image = np.zeros((96, 160, 3), np.uint8)
            image[30:60, i % 130 : i % 130 + 30] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


class Server:
    def __init__(self, clip: Path, port: int) -> None:
        self.clip, self.port, self.process = clip, port, None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), str(self.clip), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "ready"

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def server(tmp_path):
    server = Server(write_clip(tmp_path / "clip.mp4"), free_port())
    server.start()
    yield server
    server.kill()


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_stream_drop_reconnects_records_the_gap_and_keeps_writing(server, tmp_path, caplog):
    output = tmp_path / "live"
    url = f"rtsp://viewer:s3cret@127.0.0.1:{server.port}/clip"
    config = validate_pipeline(
        {
            "source": {
                "type": "video",
                "uri": url,
                "open_timeout_s": 3,
                "reconnect_initial_delay_s": 0.3,
            },
            "stages": [{"type": "pipeline_helpers:FakePeople", "people": 1}],
            "sinks": [{"type": "parquet", "path": str(output), "seconds_per_part": 1}],
            "runner": {"report_every_s": 0.5},
        }
    )
    runner = PipelineRunner(config, StageContext())
    frames = []
    caplog.set_level(logging.INFO)
    runner.open()
    result = {}
    thread = threading.Thread(target=lambda: result.update(report=runner.run(frames.append)))
    thread.start()
    try:
        assert wait_for(lambda: len(frames) >= 25, 20), "no frames over RTSP"
        server.kill()  # the camera drops mid-stream
        before = len(frames)
        time.sleep(1.5)
        server.start()  # and comes back
        assert wait_for(lambda: any("gap_before_s" in f.data for f in frames), 30)
        assert wait_for(lambda: len(frames) >= before + 25, 20), "no frames after reconnecting"
    finally:
        runner.context.stop.set()
        thread.join(30)
    assert not thread.is_alive()
    gap = next(f for f in frames if "gap_before_s" in f.data)
    assert gap.data["gap_before_s"] >= 1.0  # the outage is recorded, not hidden
    times = [f.pts_s for f in frames]
    assert all(b > a for a, b in zip(times, times[1:], strict=False)), times
    indices = [f.index for f in frames]
    assert indices == sorted(set(indices))  # frame numbers keep counting across the drop
    assert all(f.wall_time is not None for f in frames)
    table = pd.read_parquet(output)  # complete parts only, flushed on stop
    assert table["frame"].max() == frames[-1].index
    assert table["wall_time"].notna().all()
    log_text = caplog.text
    assert "reconnect" in log_text and "s3cret" not in log_text and "***@" in log_text


def test_unreachable_url_is_one_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "crowdpose3d.cli",
            "run",
            str(Path(__file__).parent.parent / "pipelines" / "rtsp_live.yaml"),
            "--set",
            f"url=rtsp://admin:pw@127.0.0.1:{free_port()}/none",
            "--set",
            f"output={tmp_path / 'out'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "cannot open rtsp://***@127.0.0.1" in result.stderr and "pw" not in result.stderr


def test_rtsp_over_udp(server, tmp_path):
    config = validate_pipeline(
        {
            "source": {
                "type": "video",
                "uri": f"rtsp://127.0.0.1:{server.port}/clip",
                "rtsp_transport": "udp",
                "max_frames": 15,
            },
            "sinks": [{"type": "parquet", "path": str(tmp_path / "out")}],
        }
    )
    runner = PipelineRunner(config, StageContext())
    runner.open()
    frames = []
    report = runner.run(frames.append)
    assert report.frames == 15 and all(f.wall_time is not None for f in frames)
    assert frames[0].image.shape == (96, 160, 3)


def test_a_secret_in_a_real_rtsp_url_reaches_no_log_row_metadata_or_file_name(server, tmp_path):
    """Issue 15: `crowdpose3d run` on a real RTSP stream whose URL holds credentials and an
    access token: the log lines, the Parquet ``source`` column and metadata, and every file
    and folder name hold neither; the stream is still read and the rows are written."""
    import json
    import os

    import pyarrow.parquet as pq
    import yaml

    from crowdpose3d.tracks.schema import METADATA_KEY

    secret = "S3cretValue.42"
    url = f"rtsp://admin:{secret}@127.0.0.1:{server.port}/clip?access_token={secret}"
    pipeline = {
        "source": {"type": "video", "uri": url, "max_frames": 20},
        "stages": [
            {"type": "test_regions_resume:WalkingPeople"},
            {"type": "track", "min_hits_to_confirm": 2},
        ],
        "sinks": [
            {"type": "parquet", "path": str(tmp_path / "out" / "tracks")},
            {"type": "mot", "path": str(tmp_path / "out" / "mot.txt")},
        ],
    }
    config = tmp_path / "secret.yaml"
    config.write_text(yaml.safe_dump(pipeline))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent)}
    result = subprocess.run(
        [sys.executable, "-m", "crowdpose3d.cli", "run", str(config), "--allow-custom-stages"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert secret not in result.stdout + result.stderr and "frames" in result.stderr
    tracks = pd.read_parquet(tmp_path / "out" / "tracks")
    assert len(tracks) > 0 and tracks["frame"].nunique() >= 10
    assert not tracks["source"].str.contains(secret, regex=False).any()
    for part in (tmp_path / "out" / "tracks").glob("*.parquet"):
        metadata = pq.read_schema(part).metadata[METADATA_KEY].decode()
        assert secret not in metadata and json.loads(metadata)
    names = [str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*")]
    assert not any(secret in name for name in names), names
    from crowdpose3d.stages.mot import segments

    mot = segments(tmp_path / "out" / "mot.txt")  # a live run writes MOT segments
    assert mot and all(secret not in path.read_text() for path in mot)
