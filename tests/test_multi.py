"""Several sources in one pipeline (`crowdpose3d.pipeline.multi`): one batched model, one
chain per source, every row with its source, a failing or stalled source alone."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowdpose3d.cli import main
from crowdpose3d.demo import make_sample_clip
from crowdpose3d.pipeline.batcher import Batcher, Inbox
from crowdpose3d.pipeline.config import ConfigError, validate_pipeline
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.multi import MultiRunner, validate_multi_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext
from crowdpose3d.tracks import schema


def counting(source_id: str, **options) -> dict:
    return {"type": "pipeline_helpers:CountingSource", "source_id": source_id, **options}


def multi(sources: list[dict], output: Path, **extra) -> dict:
    return {
        "sources": sources,
        "stages": [{"type": "pipeline_helpers:StampPeople"}],
        "sinks": [{"type": "parquet", "path": str(output)}],
        **extra,
    }


def run_multi(data: dict, context: StageContext | None = None, on_frame=None):
    runner = MultiRunner(validate_multi_pipeline(data), context)
    runner.open()
    return runner.run(on_frame)


def frame(source_id: str, index: int) -> Frame:
    return Frame(source_id, index, index / 10, np.zeros((4, 4, 3), np.uint8))


# --- the batcher -------------------------------------------------------------------------


def test_batches_take_every_source_in_turn_and_keep_each_sources_order():
    lock = threading.Condition()
    inboxes = [Inbox(name, 8, False, lock) for name in ("a", "b")]
    stop = threading.Event()
    for index in range(4):
        inboxes[0].put(frame("a", index), stop)
    inboxes[1].put(frame("b", 0), stop)
    batcher = Batcher(inboxes, max_batch=3, max_wait_ms=0)
    first = [(i, f.index) for i, f, _ in batcher.next_batch(stop)]
    assert first == [(0, 0), (1, 0), (0, 1)]  # in turn, then whatever still waits
    second = [(i, f.index) for i, f, _ in batcher.next_batch(stop)]
    assert second == [(0, 2), (0, 3)]
    for inbox in inboxes:
        inbox.end()
    assert batcher.next_batch(stop) is None


def test_a_live_inbox_drops_its_oldest_and_a_batch_waits_at_most_max_wait():
    lock = threading.Condition()
    live = Inbox("cam", 2, True, lock)
    stop = threading.Event()
    for index in range(5):
        live.put(frame("cam", index), stop)
    assert live.dropped == 3 and [f.index for f, _ in live.frames] == [3, 4]
    batcher = Batcher([live], max_batch=8, max_wait_ms=50)
    started = time.perf_counter()
    batch = batcher.next_batch(stop)
    assert [f.index for _, f, _ in batch] == [3, 4]
    assert time.perf_counter() - started < 1.0  # not held until 8 frames come


def test_a_source_whose_chain_is_full_is_skipped():
    lock = threading.Condition()
    inboxes = [Inbox(name, 4, False, lock) for name in ("slow", "fast")]
    stop = threading.Event()
    for inbox in inboxes:
        inbox.put(frame(inbox.source_id, 0), stop)
    batcher = Batcher(inboxes, 8, 0, ready=lambda i, taken: i == 1)
    assert [i for i, _, _ in batcher.next_batch(stop)] == [1]
    assert len(inboxes[0].frames) == 1  # still waiting for its chain


# --- the pipeline file ---------------------------------------------------------------------


def test_each_source_gets_its_own_partition_and_the_model_is_shared(tmp_path):
    config = validate_multi_pipeline(
        multi([counting("door"), counting("hall")], tmp_path / "tracks")
    )
    assert list(config.chains) == ["door", "hall"]
    for source_id, chain in config.chains.items():
        sink = chain.sinks[0].options
        assert sink["path"] == str(tmp_path / "tracks" / f"source={source_id}")
        assert sink["source_column"] is False
        assert chain.stages == []  # the model runs once, in the batcher
    assert config.model.type == "pipeline_helpers:StampPeople"
    assert config.batcher.max_batch == 8


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sources": [counting("a"), counting("a")]}, "source_id 'a' is used twice"),
        ({"source": counting("a")}, "either source: (one) or sources:"),
        ({"sources": []}, "sources"),
        ({"batcher": {"max_wait_ms": -1}}, "batcher.max_wait_ms"),
        ({"sources": [counting("a", frames="many")]}, "sources[0]"),
    ],
)
def test_a_wrong_multi_source_file_is_one_line(tmp_path, change, message):
    data = {**multi([counting("a"), counting("b")], tmp_path / "out"), **change}
    with pytest.raises(ConfigError) as error:
        validate_multi_pipeline(data)
    assert message in str(error.value) and "\n" not in str(error.value)


# --- running -------------------------------------------------------------------------------


def test_batching_never_mixes_rows_between_sources(tmp_path):
    out = tmp_path / "tracks"
    data = multi(
        [
            counting("a", frames=30, value=10, size=(32, 48)),
            counting("b", frames=20, value=100, size=(48, 64)),
            counting("c", frames=25, value=200, size=(24, 40)),
        ],
        out,
        batcher={"max_batch": 3, "max_wait_ms": 5, "inbox_size": 4},
    )
    report = run_multi(data)
    assert report.mean_batch > 1  # sources really shared batches
    rows = pd.read_parquet(out)
    expected = {"a": (30, 10, 48), "b": (20, 100, 64), "c": (25, 200, 40)}
    for source_id, (count, value, width) in expected.items():
        mine = rows[rows["source"] == source_id].sort_values("frame")
        assert mine["frame"].tolist() == list(range(count))
        # each row's score is its own image's grey value: nothing came from another source
        np.testing.assert_allclose(mine["score"], ((value + mine["frame"]) % 256) / 255)
        assert (mine["box_x2"] == width / 2).all()
        assert report.sources[source_id].frames == count
    assert report.failures == {}


def test_one_source_failing_leaves_the_others_running(tmp_path):
    out = tmp_path / "tracks"
    data = multi(
        [counting("broken", frames=40, fail_at=3), counting("good", frames=40, realtime=True)],
        out,
    )
    report = run_multi(data)
    assert list(report.failures) == ["broken"]
    assert "camera broken broke at frame 3" in report.failures["broken"]
    rows = pd.read_parquet(out)
    assert sorted(rows[rows["source"] == "good"]["frame"]) == list(range(40))
    assert sorted(rows[rows["source"] == "broken"]["frame"]) == [0, 1, 2]  # flushed
    assert "FAILED: " in report.format()


def test_a_stalled_live_camera_never_blocks_a_file_beside_it(tmp_path):
    out = tmp_path / "tracks"
    data = multi(
        [
            counting("frozen", frames=100, live=True, stall_at=2),
            counting("moving", frames=30, realtime=True, fps=50),  # a file: files and live mix
        ],
        out,
    )
    context = StageContext()
    seen: list[Frame] = []
    result = {}
    thread = threading.Thread(
        target=lambda: result.update(report=run_multi(data, context, seen.append))
    )
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(f.source_id == "moving" for f in seen) < 30:
        time.sleep(0.05)
    context.stop.set()  # the frozen camera would wait for ever
    thread.join(30)
    assert not thread.is_alive()
    assert sum(f.source_id == "moving" for f in seen) == 30
    assert sum(f.source_id == "frozen" for f in seen) == 2
    report = result["report"]
    assert report.sources["moving"].stages[0]["frames"] == 30
    assert report.failures == {}


def test_crowdpose3d_run_takes_a_multi_source_file(tmp_path, capsys):
    out = tmp_path / "tracks"
    file = tmp_path / "cameras.yaml"
    file.write_text(
        "sources:\n"
        "  - {type: 'pipeline_helpers:CountingSource', source_id: east, frames: 6}\n"
        "  - {type: 'pipeline_helpers:CountingSource', source_id: west, frames: 4}\n"
        "stages:\n  - {type: 'pipeline_helpers:StampPeople'}\n"
        "sinks:\n  - {type: parquet, path: '${output}'}\n"
    )
    code = main(["run", str(file), "--set", f"output={out}", "--allow-custom-stages"])
    assert code == 0
    assert "source east:" in capsys.readouterr().err
    rows = pd.read_parquet(out)
    assert rows.groupby("source")["frame"].count().to_dict() == {"east": 6, "west": 4}
    code = main(["run", str(file), "--set", f"output={out}", "--allow-custom-stages"])
    assert code == 2  # the partitions exist: refused like a single-source run
    code = main(["run", str(file), "--set", f"output={out}", "--allow-custom-stages", "--resume"])
    assert code == 0


def test_a_custom_stage_in_a_multi_source_file_needs_the_flag(tmp_path, capsys):
    file = tmp_path / "cameras.yaml"
    file.write_text(
        "sources:\n  - {type: 'pipeline_helpers:CountingSource', source_id: east}\n"
        "stages:\n  - {type: 'pipeline_helpers:StampPeople'}\n"
        f"sinks:\n  - {{type: parquet, path: '{tmp_path / 'out'}'}}\n"
    )
    assert main(["run", str(file)]) == 2
    err = capsys.readouterr().err.strip()
    assert "custom stage" in err and "\n" not in err


# --- the real model ------------------------------------------------------------------------

# Every column but the wall clock (NaN for files anyway) and the source (its partition key).
NOT_COMPARED = [schema.SOURCE, schema.WALL_TIME]


@pytest.fixture(scope="module")
def two_clips(tmp_path_factory) -> list[Path]:
    """Two synthetic street clips with different frame rates and sizes."""
    folder = tmp_path_factory.mktemp("clips")
    return [
        make_sample_clip(folder / "a", seed=5, frames=8, fps=10, size=(160, 256)).video,
        make_sample_clip(folder / "b", seed=6, frames=6, fps=5, size=(240, 320)).video,
    ]


def model_pipeline() -> tuple[list[dict], list[dict]]:
    stages = [
        {"type": "pandanet", "device": "cpu", "backend": "torch", "precision": "fp32"},
        {"type": "lift", "fov_deg": 60},
        {"type": "track", "min_hits_to_confirm": 1, "new_track_score": 0.3},
    ]
    return stages, []


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, "auto"])  # auto: two model workers on this CPU
def test_two_sources_give_the_rows_of_two_single_source_runs(two_clips, tmp_path, workers):
    stages, _ = model_pipeline()
    single = {}
    for name, clip in zip(("a", "b"), two_clips, strict=True):
        output = tmp_path / f"single_{name}"
        config = validate_pipeline(
            {
                "source": {"type": "video", "uri": str(clip), "source_id": name},
                "stages": stages,
                "sinks": [{"type": "parquet", "path": str(output)}],
            }
        )
        runner = PipelineRunner(config)
        runner.open()
        runner.run()
        single[name] = pd.read_parquet(output)
    out = tmp_path / "multi"
    runner = MultiRunner(
        validate_multi_pipeline(
            {
                "sources": [
                    {"type": "video", "uri": str(clip), "source_id": name}
                    for name, clip in zip(("a", "b"), two_clips, strict=True)
                ],
                "stages": stages,
                "sinks": [{"type": "parquet", "path": str(out)}],
                "batcher": {"max_batch": 4, "max_wait_ms": 50, "workers": workers},
            }
        )
    )
    runner.open()
    report = runner.run()
    from crowdpose3d.engine.backends import default_threads

    assert len(runner.models) == (2 if workers == "auto" and default_threads() >= 2 else 1)
    assert report.mean_batch > 1
    rows = pd.read_parquet(out)
    for name in ("a", "b"):
        assert len(single[name]) > 0
        mine = rows[rows["source"] == name]
        expected = single[name].sort_values(["frame", "track_id"]).reset_index(drop=True)
        got = mine.sort_values(["frame", "track_id"]).reset_index(drop=True)
        columns = [c for c in expected.columns if c not in NOT_COMPARED]
        assert len(columns) > 20  # boxes, roots, scores and every joint's 2D and 3D
        pd.testing.assert_frame_equal(
            got[columns], expected[columns], check_exact=False, rtol=1e-4, atol=1e-3
        )


def test_a_frame_without_people_passes_the_track_stage():
    """An empty frame (a camera watching an empty street) is not an error (it was: numpy
    cannot reshape 0 people to (0, -1))."""
    from crowdpose3d.poses import Poses
    from crowdpose3d.stages.track import finite_people

    empty = Poses(
        boxes=np.zeros((0, 4)),
        scores=np.zeros(0),
        kp2d=np.zeros((0, 22, 2)),
        kp3d_rel=np.zeros((0, 22, 3)),
    )
    kept, dropped = finite_people(empty)
    assert len(kept) == 0 and dropped == 0


def test_the_shipped_multi_camera_files_validate(tmp_path):
    from crowdpose3d.pipeline.multi import load_multi_pipeline
    from crowdpose3d.serve import load_cameras

    pipelines = Path(__file__).resolve().parent.parent / "pipelines"
    config = load_multi_pipeline(
        pipelines / "multi_camera.yaml",
        {"cam1": "rtsp://a/s", "cam2": "rtsp://b/s", "output": str(tmp_path)},
    )
    assert list(config.chains) == ["cam1", "cam2"] and config.batcher.inbox_size == 1
    plan = load_cameras(pipelines / "cameras.yaml", {"output": str(tmp_path)})
    assert plan.cameras == {"group0": ["door", "hall"]}


@pytest.mark.slow
def test_the_metrics_endpoint_serves_every_source_s_figures_over_http(tmp_path):
    """Old code: --metrics-port with a sources: file was refused. A real `crowdpose3d run`
    of two live cameras, scraped over HTTP: every figure per source, plus the shared
    model's own row with the batcher's figures, and the same in the periodic log lines."""
    import signal

    import yaml
    from test_operations_long_run import run_with_metrics_port, scrape

    cameras = [
        counting(name, frames=100_000, live=True, realtime=True, fps=20, value=value)
        for name, value in (("east", 10), ("west", 90))
    ]
    data = multi(cameras, tmp_path / "tracks", runner={"report_every_s": 0.5})
    data["sinks"][0]["rows_per_part"] = 5
    path = tmp_path / "cameras.yaml"
    path.write_text(yaml.safe_dump(data))
    process, port = run_with_metrics_port(path)
    model = "stages[0]:pipeline_helpers:StampPeople"

    def figure(name: str, source: str, stage: str) -> float | None:
        return figures.get(f'crowdpose3d_{name}{{source="{source}",stage="{stage}"}}')

    try:
        deadline, figures = time.monotonic() + 120, {}
        while time.monotonic() < deadline:
            try:
                figures = scrape(port)
            except OSError:
                figures = {}
            sink = "sinks[0]:parquet"
            if min(figure("parts_written", s, sink) or 0 for s in ("east", "west")) >= 2:
                break
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.3)
        for source in ("east", "west"):
            stages = {
                key.split('stage="')[1].rstrip('"}')
                for key in figures
                if key.startswith("crowdpose3d_stage_frames_total") and f'"{source}"' in key
            }
            assert stages == {"source:pipeline_helpers:CountingSource", model,
                              "sinks[0]:parquet"}, stages  # fmt: skip
            assert figure("stage_frames_total", source, model) >= 10
            assert figure("parts_written", source, "sinks[0]:parquet") >= 2
            assert figure("disk_free_bytes", source, "sinks[0]:parquet") > 0
            assert figure("stage_latency_p95_seconds", source, model) > 0
            for name in ("stage_dropped_frames_total", "stage_last_frame_age_seconds"):
                assert figure(name, source, "source:pipeline_helpers:CountingSource") is not None
        total = figure("stage_frames_total", "", model)  # the shared model's own row
        per_source = [figure("stage_frames_total", s, model) for s in ("east", "west")]
        assert total >= sum(per_source) - 4  # scraped one after the other, nearly equal
        assert figure("model_batches_total", "", model) >= 1
        assert 1 <= figure("batch_size_mean", "", model) <= 8
        assert figure("batch_wait_p95_seconds", "", model) is not None
        assert 0 < figure("model_busy_fraction", "", model) < 1
        time.sleep(1.5)  # three report periods (report_every_s 0.5): the log lines are due
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    for line in ("pipeline: source east: ", "pipeline: source west: ", "pipeline: shared model: "):
        assert line in stderr, stderr
    assert "batch_size_mean" in stderr and "parts_written" in stderr


def test_several_model_workers_keep_each_sources_order_and_rows(tmp_path):
    """Two model workers, each its own model, whose batches finish out of order: every
    source's frames still reach its chain in order, whole, and unmixed."""
    out = tmp_path / "tracks"
    sizes = {"a": 30, "b": 17, "c": 23}
    data = multi(
        [counting(name, frames=n, value=70 * k) for k, (name, n) in enumerate(sizes.items())],
        out,
        batcher={"max_batch": 3, "max_wait_ms": 0, "inbox_size": 2, "workers": 2},
    )
    data["stages"] = [{"type": "pipeline_helpers:UnevenStampPeople"}]
    runner = MultiRunner(validate_multi_pipeline(data))
    runner.open()
    seen: list[Frame] = []
    report = runner.run(seen.append)
    assert len(runner.models) == 2 and all(model.seen > 0 for model in runner.models)
    assert sum(model.seen for model in runner.models) == sum(sizes.values())
    for k, (name, count) in enumerate(sizes.items()):
        assert [f.index for f in seen if f.source_id == name] == list(range(count))
        mine = pd.read_parquet(out / f"source={name}").sort_values("frame")
        np.testing.assert_allclose(mine["score"], ((70 * k + mine["frame"]) % 256) / 255)
    assert report.failures == {} and report.batches >= 2
    assert "(2 model workers)" in report.format()
    shared = runner.snapshot()[-1]
    assert shared["workers"] == 2 and shared["frames"] == sum(sizes.values())


@pytest.mark.parametrize(
    ("cameras", "options", "expected"),
    [
        (2, {"backend": "torch"}, [1, 1]),  # torch on 2 CPUs: two workers, the CPUs divided
        (1, {"backend": "torch"}, [None]),  # one camera: one worker, the stage's own threads
        (2, {"backend": "torch", "threads": 1}, [1]),  # one thread in all: one worker
        (2, {"device": "cuda"}, [None]),  # not a CPU: one worker (CUDA is not needed)
        # OpenVINO (or, where it is not installed, a backend the stage's open refuses): one
        (2, {"backend": "openvino"}, [None]),
    ],
)
def test_auto_workers_divide_the_model_s_threads(tmp_path, cameras, options, expected):
    from crowdpose3d.engine.backends import default_threads

    if default_threads() < 2:
        pytest.skip("needs 2 usable CPUs")
    data = multi([counting(f"c{k}") for k in range(cameras)], tmp_path / "tracks")
    data["stages"] = [{"type": "pipeline_helpers:ThreadedStampPeople", **options}]
    config = validate_multi_pipeline(data)
    runner = MultiRunner(config)
    runner.open()
    assert [model.params.threads for model in runner.models] == (
        [default_threads() // 2] * 2 if expected == [1, 1] else expected
    )
    assert runner.run().failures == {}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failing_shared_model_stops_every_source_after_flushing(tmp_path, workers):
    from crowdpose3d.pipeline.runner import PipelineError

    out = tmp_path / "tracks"
    data = multi([counting("a", frames=40), counting("b", frames=40)], out)
    data["stages"] = [
        {"type": "pipeline_helpers:FailAt", "index": 12},  # the shared model fails
        {"type": "pipeline_helpers:StampPeople"},
    ]
    data["batcher"] = {"max_batch": 2, "max_wait_ms": 0, "workers": workers}
    runner = MultiRunner(validate_multi_pipeline(data))
    runner.open()
    with pytest.raises(PipelineError, match="boom at frame 12"):
        runner.run()
    for name in ("a", "b"):  # what reached the sinks before the stop: in order, no gap
        parts = sorted((out / f"source={name}").glob("part-*.parquet"))
        frames = sorted(frame for part in parts for frame in pd.read_parquet(part)["frame"])
        assert frames == list(range(len(frames))) and len(frames) <= 12
