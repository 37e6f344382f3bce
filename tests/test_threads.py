"""numpy's BLAS threads during a run (`crowdpose3d.pipeline.threads`): one while the stages
run, the machine's default after, and a user's OPENBLAS_NUM_THREADS left alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_info

from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import BaseStage, StageContext
from crowdpose3d.pipeline.threads import USER_SETTINGS, run_blas_threads


def blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


class RecordBlasThreads(BaseStage):
    """Records numpy's BLAS thread counts as each frame passes (on the stage's thread)."""

    seen: list[list[int]] = []

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            RecordBlasThreads.seen.append(blas_threads())
            yield frame


@pytest.fixture
def no_user_setting(monkeypatch):
    for name in USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    if not blas_threads():
        pytest.skip("numpy here has no BLAS that threadpoolctl can see")


def test_a_run_keeps_numpy_blas_on_one_thread_and_restores_it(no_user_setting, tmp_path):
    from test_pipeline import write_clip

    before = blas_threads()
    clip = write_clip(tmp_path / "clip.mp4", frames=5)
    config = {
        "source": {"type": "video", "uri": str(clip)},
        "stages": [
            {"type": "pipeline_helpers:FakePeople"},
            {"type": "test_threads:RecordBlasThreads"},
        ],
        "sinks": [{"type": "parquet", "path": str(tmp_path / "tracks")}],
    }  # fmt: skip
    RecordBlasThreads.seen = []
    runner = PipelineRunner(validate_pipeline(config), StageContext())
    runner.open()
    runner.run()
    assert len(RecordBlasThreads.seen) == 5
    assert all(counts == [1] * len(before) for counts in RecordBlasThreads.seen)
    assert blas_threads() == before


def test_a_user_s_own_blas_setting_is_kept(no_user_setting, monkeypatch):
    before = blas_threads()
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    with run_blas_threads():
        assert blas_threads() == before
