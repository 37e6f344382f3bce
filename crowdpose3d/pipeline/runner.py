"""The runner: one thread per stage, joined by bounded queues.

Decoding, inference and the CPU stages overlap. File sources never drop a frame (a full
queue makes the source wait); live sources drop the oldest waiting frame instead, so latency
stays bounded. An exception in any stage stops the source, lets every frame already decoded
reach the sinks, closes (flushes) every stage, and reaches the caller as `PipelineError`
naming the stage. Each stage's throughput and latency (p50/p95) are reported at the end, and
every ``report_every_s`` for live runs.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crowdpose3d.messages import first_line
from crowdpose3d.pipeline.config import PipelineConfig
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.plan import plan_run
from crowdpose3d.pipeline.stage import SourceStage, Stage, StageContext, build_stage
from crowdpose3d.pipeline.threads import run_blas_threads

log = logging.getLogger("crowdpose3d.pipeline")
_END = object()  # end of stream marker
_POLL_S = 0.1  # how often blocked threads look at the stop flag


class PipelineError(RuntimeError):
    """A stage failed; ``stage`` names it and ``__cause__`` is the original exception."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"stage {stage} failed: {first_line(error)}")
        self.stage = stage
        self.error = error


@dataclass
class StageStats:
    """Counters of one stage; latency is from a frame entering the stage to leaving it."""

    name: str
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    wait_s: float = 0.0  # blocked on its input or output queue
    started: float = 0.0
    finished: float = 0.0
    last_out: float = 0.0  # perf_counter time the latest frame left the stage
    latencies_s: deque = field(default_factory=lambda: deque(maxlen=20_000))

    def summary(self, now: float | None = None) -> dict[str, Any]:
        wall = (self.finished or now or time.perf_counter()) - self.started
        busy = max(wall - self.wait_s, 0.0)
        latencies = np.asarray(self.latencies_s) * 1000
        return {
            "stage": self.name,
            "frames": self.frames_out,
            "dropped": self.dropped,
            "fps": self.frames_out / wall if wall > 0 else 0.0,
            "busy_ms_per_frame": 1000 * busy / max(self.frames_out, 1),
            "latency_p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else 0.0,
            "latency_p95_ms": float(np.percentile(latencies, 95)) if len(latencies) else 0.0,
        }

    def count_out(self) -> None:
        """One more frame left the stage."""
        self.frames_out += 1
        self.last_out = time.perf_counter()


# What every `StageStats.summary` holds; other keys are a stage's own ``counters()``.
_SUMMARY_KEYS = (
    "stage",
    "frames",
    "dropped",
    "fps",
    "busy_ms_per_frame",
    "latency_p50_ms",
    "latency_p95_ms",
)


@dataclass
class RunReport:
    """What a run did: frames that reached the end, wall time, per-stage figures."""

    frames: int
    seconds: float
    stages: list[dict[str, Any]]
    interrupted: bool = False

    def format(self) -> str:
        lines = [f"{self.frames} frames in {self.seconds:.1f} s"]
        lines.append(
            f"{'stage':<22} {'frames':>7} {'fps':>8} {'busy ms/f':>10} {'p50 ms':>8} "
            f"{'p95 ms':>8} {'dropped':>8}"
        )
        for s in self.stages:
            lines.append(
                f"{s['stage']:<22} {s['frames']:>7} {s['fps']:>8.1f} "
                f"{s['busy_ms_per_frame']:>10.1f} {s['latency_p50_ms']:>8.1f} "
                f"{s['latency_p95_ms']:>8.1f} {s['dropped']:>8}"
            )
            extra = {k: v for k, v in s.items() if k not in _SUMMARY_KEYS}
            if extra:  # a stage's own counters (e.g. non-finite outputs dropped)
                lines.append("  " + ", ".join(f"{k} {v}" for k, v in extra.items()))
        return "\n".join(lines)


class _Channel:
    """A bounded queue between two threads; a live one drops its oldest item when full."""

    def __init__(self, size: int, drop_oldest: bool = False) -> None:
        self.queue: queue.Queue = queue.Queue(maxsize=size)
        self.drop_oldest = drop_oldest

    def put(self, item: Any, stats: StageStats) -> None:
        if self.drop_oldest and item is not _END:
            while True:  # never wait: make room by dropping the oldest waiting frame
                try:
                    self.queue.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        self.queue.get_nowait()
                        stats.dropped += 1
                    except queue.Empty:
                        pass
        started = time.perf_counter()
        try:
            self.queue.put(item)  # the reader drains until the end marker, even on errors
        finally:
            stats.wait_s += time.perf_counter() - started

    def get(self, stats: StageStats) -> Any:
        started = time.perf_counter()
        try:
            return self.queue.get()
        finally:
            stats.wait_s += time.perf_counter() - started


class PipelineRunner:
    """Builds the stages of a `PipelineConfig` and runs them on threads.

    Every stage is built, then the run plan is made (`crowdpose3d.pipeline.plan`: where a
    resumed run starts), then every stage opens with it, all before the first frame is
    decoded, so a bad model path or an output that already exists fails before anything is
    written. A live source's run always continues an existing output (unless overwrite):
    a restarted camera run appends, its parts and frames numbered after the earlier ones.
    """

    def __init__(self, config: PipelineConfig, context: StageContext | None = None) -> None:
        self.config = config
        self.context = context or StageContext()
        self.names = [f"{where}:{entry.type}" for where, entry in config.entries()]
        self.stages: list[Any] = []  # the source (a `SourceStage`), then `Stage`s
        self._opened: list[Stage | SourceStage] = []
        self._errors: list[PipelineError] = []
        self.stats: list[StageStats] = []  # the running (or last) run's, by stage

    def open(self) -> None:
        """Build every stage, plan the run, then open every stage in run order (closes the
        opened ones on failure)."""
        try:
            self.stages = [
                build_stage(entry.type, entry.options) for _, entry in self.config.entries()
            ]
            for name, stage in zip(self.names, self.stages, strict=True):
                stage.run_name = name  # the key of its resume state (`RunPlan.stage_state`)
            if getattr(self.stages[0], "live", False) and not self.context.overwrite:
                self.context.resume = True  # a live run restarts onto its output: it appends
            self.context.plan = plan_run(self.stages, resume=self.context.resume)
            for stage in self.stages:
                stage.open(self.context)
                self._opened.append(stage)
        except BaseException:
            self._close_all()
            raise

    def run(self, on_frame: Callable[[Frame], None] | None = None) -> RunReport:
        """Run to the end of the source (or until Ctrl-C) -> the report.

        Raises `PipelineError` after flushing the sinks when a stage failed. numpy's BLAS
        runs on one thread meanwhile (`crowdpose3d.pipeline.threads`).
        """
        with run_blas_threads():
            return self._run(on_frame)

    def _run(self, on_frame: Callable[[Frame], None] | None) -> RunReport:
        if not self.stages:
            self.open()
        stop = self.context.stop
        source, *stages = self.stages
        live = bool(getattr(source, "live", False))
        stats = self.stats = [StageStats(name) for name in self.names]
        channels = [
            _Channel(self.config.runner.queue_size, drop_oldest=live and i == 0)
            for i in range(len(self.stages))
        ]
        threads = [
            threading.Thread(
                target=self._run_source, args=(source, channels[0], stats[0]), daemon=True
            )
        ]
        for i, stage in enumerate(stages, start=1):
            threads.append(
                threading.Thread(
                    target=self._run_stage,
                    args=(stage, channels[i - 1], channels[i], stats[i]),
                    daemon=True,
                )
            )
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        frames, interrupted = 0, False
        last_report = time.perf_counter()
        every = self.config.runner.report_every_s
        try:
            while True:
                if live and time.perf_counter() - last_report > every:
                    last_report = time.perf_counter()
                    log.info("pipeline: %s", _one_line(self.snapshot()))
                try:
                    item = channels[-1].queue.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if item is _END:
                    break
                frames += 1
                if on_frame is not None:
                    on_frame(item)
        except KeyboardInterrupt:
            interrupted = True
            stop.set()
            self._drain(channels[-1], threads)
        except BaseException:  # e.g. on_frame raised: stop, flush the sinks, then re-raise
            stop.set()
            self._drain(channels[-1], threads)
            raise
        for thread in threads:
            thread.join()
        summaries = [s.summary() for s in stats]
        for stage, summary in zip(self.stages, summaries, strict=True):
            counters = getattr(stage, "counters", None)  # a stage's own counts, if any
            if callable(counters):
                summary.update(counters())
        report = RunReport(
            frames=frames,
            seconds=time.perf_counter() - started,
            stages=summaries,
            interrupted=interrupted,
        )
        if self._errors:
            raise self._errors[0]
        return report

    def snapshot(self) -> list[dict[str, Any]]:
        """Per stage, now: the report's figures (`StageStats.summary`), the seconds since its
        latest frame (``last_frame_age_s``) and its own ``counters()`` (reconnects, parts
        written, free disk ...). What the periodic log line and the metrics endpoint show."""
        now = time.perf_counter()
        figures = []
        for stage, stats in zip(self.stages, self.stats, strict=False):
            summary = stats.summary(now)
            summary["last_frame_age_s"] = now - (stats.last_out or stats.started or now)
            counters = getattr(stage, "counters", None)
            if callable(counters):
                summary.update(counters())
            figures.append(summary)
        return figures

    def _run_source(self, source: SourceStage, output: _Channel, stats: StageStats) -> None:
        stats.started = time.perf_counter()
        try:
            for frame in source.frames():
                if self.context.stop.is_set():
                    break
                stats.count_out()
                output.put(frame, stats)
        except Exception as exc:  # noqa: BLE001 - reported to the caller with the stage name
            self._fail(stats.name, exc)
        finally:
            self._close(source, stats.name)
            output.put(_END, stats)
            stats.finished = time.perf_counter()

    def _run_stage(self, stage: Stage, source: _Channel, output: _Channel, stats: StageStats):
        stats.started = time.perf_counter()
        entered: dict[tuple[str, int], float] = {}
        ended = False  # the end marker was read

        def incoming() -> Iterator[Frame]:
            nonlocal ended
            while not ended:
                item = source.get(stats)
                if item is _END:
                    ended = True
                    return
                stats.frames_in += 1
                entered[(item.source_id, item.index)] = time.perf_counter()
                yield item

        try:
            for frame in stage(incoming()):
                began = entered.pop((frame.source_id, frame.index), None)
                if began is not None:
                    stats.latencies_s.append(time.perf_counter() - began)
                stats.count_out()
                output.put(frame, stats)
        except Exception as exc:  # noqa: BLE001 - reported to the caller with the stage name
            self._fail(stats.name, exc)
        finally:
            # A stage that stopped reading (an error, or it ended early): stop the source and
            # drain its input, so the threads upstream never block on a full queue.
            if not ended:
                self.context.stop.set()
                for _ in incoming():
                    pass
            self._close(stage, stats.name)
            output.put(_END, stats)
            stats.finished = time.perf_counter()

    def _fail(self, name: str, error: BaseException) -> None:
        self._errors.append(PipelineError(name, error))
        self.context.stop.set()

    def _close(self, stage: Stage | SourceStage, name: str) -> None:
        try:
            stage.close()
        except Exception as exc:  # noqa: BLE001
            self._fail(name, exc)
        finally:
            if stage in self._opened:
                self._opened.remove(stage)

    def _close_all(self) -> None:
        for stage in reversed(self._opened):
            try:
                stage.close()
            except Exception:  # noqa: BLE001 - already failing; the first error is reported
                pass
        self._opened.clear()

    @staticmethod
    def _drain(channel: _Channel, threads: list[threading.Thread]) -> None:
        """After Ctrl-C or an error: empty the last queue until every thread has finished."""
        while any(thread.is_alive() for thread in threads):
            try:
                channel.queue.get(timeout=_POLL_S)
            except queue.Empty:
                pass
            except KeyboardInterrupt:  # a second Ctrl-C: keep flushing, it ends soon
                log.warning("pipeline: flushing what was processed; please wait")


def _one_line(snapshot: list[dict[str, Any]]) -> str:
    """The periodic log line of a live run: the figures of `PipelineRunner.snapshot`."""
    parts = []
    for s in snapshot:
        extra = {k: v for k, v in s.items() if k not in _SUMMARY_KEYS and k != "last_frame_age_s"}
        parts.append(
            f"{s['stage']} {s['frames']} frames {s['fps']:.1f} fps p50 "
            f"{s['latency_p50_ms']:.0f} p95 {s['latency_p95_ms']:.0f} ms "
            f"dropped {s['dropped']} last {s['last_frame_age_s']:.1f} s ago"
            + "".join(f" {k} {_short(v)}" for k, v in extra.items())
        )
    return "; ".join(parts)


def _short(value: Any) -> str:
    return f"{value / 2**20:.0f}MiB" if isinstance(value, int) and value > 2**24 else str(value)
