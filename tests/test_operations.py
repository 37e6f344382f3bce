"""What an operator running for weeks relies on (issue 15): clean stops on SIGTERM / SIGINT,
no secret of a URL in any output, pipeline files that cannot run arbitrary code, resume
from the run plan for every source and sink, bad model outputs and stalled servers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pandas as pd
import pytest
from test_pipeline import write_clip

TESTS = Path(__file__).resolve().parent


def cli(*args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(TESTS), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "crowdpose3d.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **popen,
    )


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize(("signal_number", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_track_command_cleanly_with_every_sink_flushed(
    tmp_path, signal_number, exit_code
):
    clip = write_clip(tmp_path / "clip.mp4", frames=2000, width=160, height=128)
    output, mot, overlay = tmp_path / "tracks", tmp_path / "mot.txt", tmp_path / "overlay.mp4"
    process = cli(
        "track", str(clip), "-o", str(output), "--mot", str(mot), "--overlay", str(overlay),
        "--device", "cpu", "--quiet",
    )  # fmt: skip
    wait_for(overlay.with_name(f".{overlay.name}.partial.mp4"), process)  # frames flow
    time.sleep(1.0)
    process.send_signal(signal_number)
    process.send_signal(signal_number)  # a second signal ends the run the same way
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == exit_code, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    tracks = pd.read_parquet(output)  # the rows buffered at the stop were written
    assert mot.is_file() and not list(tmp_path.glob(".*partial*"))
    with av.open(str(overlay)) as container:  # a whole, playable video
        decoded = sum(1 for _ in container.decode(video=0))
    assert 0 < decoded < 2000
    assert len(tracks) == 0 or tracks["frame"].max() < decoded
