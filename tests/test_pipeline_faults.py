"""Faults: SIGKILL leaves only complete, readable parts and --resume completes the run;
Ctrl-C flushes; a live source that outruns the model drops the oldest frames."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from test_pipeline import write_clip

from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext

TESTS = Path(__file__).resolve().parent


def pipeline_file(tmp_path: Path, clip: Path, output: Path, seconds: float) -> Path:
    path = tmp_path / "slow.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "source": {"type": "video", "uri": str(clip)},
                "stages": [
                    {"type": "pipeline_helpers:FakePeople", "people": 3},
                    {"type": "pipeline_helpers:Slow", "seconds": seconds},
                ],
                "sinks": [{"type": "parquet", "path": str(output), "rows_per_part": 30}],
            }
        )
    )
    return path


def start(path: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(TESTS), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crowdpose3d.cli",
            "run",
            str(path),
            "--quiet",
            "--allow-custom-stages",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_parts(output: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(list(output.glob("part-*.parquet"))) < count:
        assert time.monotonic() < deadline, "the run wrote no parts"
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_leaves_complete_parts_and_resume_completes_the_run(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=150)
    output = tmp_path / "tracks"
    path = pipeline_file(tmp_path, clip, output, seconds=0.01)
    process = start(path)
    wait_for_parts(output, 3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    parts = sorted(output.glob("part-*.parquet"))
    assert parts and all(pq.read_table(p).num_rows == 30 for p in parts)  # whole parts only
    killed_at = pd.read_parquet(output)["frame"].max()
    assert killed_at < 149

    result = start(path, "--resume")
    _, stderr = result.communicate(timeout=120)
    assert result.returncode == 0, stderr
    table = pd.read_parquet(output)
    counts = table.groupby("frame").size()
    assert list(counts.index) == list(range(150)) and (counts == 3).all()  # each frame once
    assert not list(output.glob(".part-*"))


@pytest.mark.slow
def test_ctrl_c_flushes_what_was_processed(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=400)
    output = tmp_path / "tracks"
    process = start(pipeline_file(tmp_path, clip, output, seconds=0.02))
    wait_for_parts(output, 2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    table = pd.read_parquet(output)
    frames = sorted(table["frame"].unique())
    assert frames == list(range(len(frames))) and len(frames) < 400  # no hole, flushed


def test_a_live_source_drops_the_oldest_frames_when_the_model_falls_behind(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=60)
    config = validate_pipeline(
        {
            "source": {"type": "video", "uri": str(clip), "live": True, "reconnect": False},
            "stages": [{"type": "pipeline_helpers:Slow", "seconds": 0.02}],
            "sinks": [{"type": "parquet", "path": str(tmp_path / "out")}],
            "runner": {"queue_size": 2},
        }
    )
    runner = PipelineRunner(config, StageContext())
    runner.open()
    seen = []
    report = runner.run(lambda frame: seen.append(frame.index))
    source = report.stages[0]
    assert source["dropped"] > 0 and len(seen) == 60 - source["dropped"]
    assert seen == sorted(seen) and seen[-1] == 59  # the newest frames get through
