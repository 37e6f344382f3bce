"""Several sources in one pipeline: one batched model, then one stage chain per source.

    sources:
      - {type: video, uri: "rtsp://cam1/stream", source_id: door}
      - {type: video, uri: "hall.mp4", source_id: hall}
    stages:
      - {type: pandanet}          # the first stage: loaded once, one forward for all sources
      - {type: lift}
      - {type: track}
    sinks:
      - {type: parquet, path: "tracks/"}    # tracks/source=door/, tracks/source=hall/
    batcher: {max_batch: 8, max_wait_ms: 20}

The file has ``sources:`` (a list) where a single-source pipeline has ``source:``. Every
source runs on its own thread into its own bounded `Inbox` (a live one drops its oldest
frame when full, a file one waits), the `Batcher` forms one batch for the first stage (the
model) from whatever frames wait, and each frame then goes to its own source's chain: the
other stages and the sinks, built once per source with their own state (tracker, lifter,
sink files) and their own `StageContext` (facts, plan, stop flag). A chain is a
`PipelineRunner` whose source is the batcher's output for that source, so it keeps every
behaviour of a single-source run (bounded queues, flush on error, the stage report).

Outputs: a sink's ``path`` becomes one per source, a hive partition as `crowdpose3d batch`
writes: the Parquet directory ``path/source=<id>/`` (its parts hold no ``source`` column;
``pandas.read_parquet(path)`` gives it from the partition key), and a file sink's
``dir/name`` becomes ``dir/source=<id>/name``. Resuming (``--resume``) is planned per
source from its own outputs.

Isolation: a source that fails (a file that is corrupt, a camera that gives up
reconnecting) or a chain stage that fails ends that source only; the others run on, and the
failure is reported per source at the end. Only a failure of the shared model stops all.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crowdpose3d.messages import first_line
from crowdpose3d.pipeline.batcher import Batcher, Inbox
from crowdpose3d.pipeline.config import (
    ConfigError,
    PipelineConfig,
    RunnerSettings,
    StageEntry,
    read_pipeline,
    validate_pipeline,
)
from crowdpose3d.pipeline.facts import RunFacts
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.plan import plan_run
from crowdpose3d.pipeline.runner import (
    PipelineError,
    PipelineRunner,
    RunReport,
    StageStats,
    _one_line,
)
from crowdpose3d.pipeline.stage import StageContext, build_stage, resolve_stage_class
from crowdpose3d.pipeline.threads import run_blas_threads

log = logging.getLogger("crowdpose3d.pipeline")
_END = object()  # end of a source's frames, from the batcher to its chain
_POLL_S = 0.1  # how often waiting threads look at the stop flags
# Facts the model stage learns once that every source's chain and sinks need.
MODEL_FACTS = (
    "model",
    "device",
    "backend",
    "precision",
    "skeleton",
    "joint_names",
    "model_input_size",
)
PARTITION_SINKS = ("parquet",)  # sinks whose ``path`` is a directory: path/source=<id>/


class BatcherSettings(BaseModel):
    """How the model's batches are formed from the frames of all sources."""

    model_config = ConfigDict(extra="forbid")
    max_batch: int | None = Field(None, ge=1)  # None: the model stage's batch_size, else 8
    max_wait_ms: float = Field(20.0, ge=0)  # longest wait for more frames after the first
    inbox_size: int = Field(2, ge=1)  # frames waiting per source for the model
    # Model workers: each its own copy of the model stage on its own thread, one batch at a
    # time, so one's forward pass (no GIL) overlaps the other's letterbox and decode (GIL);
    # batches reach each source's chain in the order they were formed. With more than one,
    # the model stage's ``threads`` (default: the usable CPUs) are divided among them.
    # auto: `CPU_WORKERS` for two or more sources and a torch model stage with ``threads``
    # on a CPU with 2+ of those threads, else 1 (OpenVINO and ONNX Runtime: 1).
    workers: int | Literal["auto"] = Field("auto")

    @field_validator("workers")
    @classmethod
    def _at_least_one(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("workers must be >= 1 or auto")
        return value


DEFAULT_MAX_BATCH = 8  # frames per forward when neither the batcher nor the model says
# Model workers on a CPU (``workers: auto``) with torch: two single-thread workers did more
# frames per CPU-second than one with two threads at 4 cameras (docs/multi_camera.md,
# "Speed"); with one camera they raised the latency (p50 75 -> 406 ms) for no gain: one
# source, one worker. OpenVINO runs one batch on two threads faster than two batches on one
# thread each, and two at once slow each other down (docs/multi_camera.md, round 5): one;
# ONNX Runtime is not measured and gets one as OpenVINO does.
CPU_WORKERS = 2
WORKER_BACKENDS = ("torch",)  # the backends that `auto` gives `CPU_WORKERS` workers


class MultiFile(BaseModel):
    """A pipeline file with ``sources:`` as written (the chain is checked per source)."""

    model_config = ConfigDict(extra="forbid")
    sources: list[StageEntry] = Field(min_length=1)
    stages: list[StageEntry] = Field(min_length=1)
    sinks: list[StageEntry] = Field(min_length=1)
    runner: RunnerSettings = RunnerSettings()
    batcher: BatcherSettings = BatcherSettings()


@dataclass
class MultiPipelineConfig:
    """A validated multi-source pipeline.

    Attributes:
        model: the first stage's entry (run once, batched over all sources).
        chains: source id -> that source's single-source pipeline (its source entry, the
            stages after the model, its own sink paths), validated as a file would be.
        batcher: the batching limits; ``max_batch`` resolved.
        runner: queue sizes and report period of every chain.
    """

    model: StageEntry
    chains: dict[str, PipelineConfig]
    batcher: BatcherSettings
    runner: RunnerSettings


def is_multi_source(data: dict[str, Any]) -> bool:
    """True for a pipeline mapping with ``sources:`` (several sources)."""
    return isinstance(data, dict) and "sources" in data


def load_multi_pipeline(
    path: str | Path, variables: dict[str, str] | None = None, allow_custom_stages: bool = False
) -> MultiPipelineConfig:
    """Read, fill and validate a pipeline file with ``sources:`` (`ConfigError`, one line)."""
    return validate_multi_pipeline(read_pipeline(path, variables), str(path), allow_custom_stages)


def validate_multi_pipeline(
    data: dict[str, Any], name: str = "pipeline", allow_custom_stages: bool = True
) -> MultiPipelineConfig:
    """Validate a multi-source mapping: each source with the model and chain is checked as a
    single-source pipeline (`validate_pipeline`), and source ids must be distinct."""
    if "source" in data:
        raise ConfigError(f"{name}: give either source: (one) or sources: (a list), not both")
    try:
        file = MultiFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ConfigError(f"{name}: {where}: {error['msg']}") from None
    model = file.stages[0]
    chains: dict[str, PipelineConfig] = {}
    for i, entry in enumerate(file.sources):
        whole = {
            "source": entry.model_dump(),
            "stages": [stage.model_dump() for stage in file.stages],
            "sinks": [sink.model_dump() for sink in file.sinks],
            "runner": file.runner.model_dump(),
        }
        validate_pipeline(whole, f"{name}: sources[{i}]", allow_custom_stages)  # as one file
        source_id = _source_id(entry, f"{name}: sources[{i}]")
        if source_id in chains:
            raise ConfigError(
                f"{name}: sources[{i}]: source_id {source_id!r} is used twice; give each "
                "source its own source_id"
            )
        whole["source"]["source_id"] = source_id
        whole["stages"] = whole["stages"][1:]  # the model runs once, in the batcher
        whole["sinks"] = [_sink_for(sink, source_id) for sink in whole["sinks"]]
        chains[source_id] = validate_pipeline(whole, f"{name}: sources[{i}]")
    batcher = file.batcher.model_copy()
    if batcher.max_batch is None:
        batcher.max_batch = int(model.options.get("batch_size") or DEFAULT_MAX_BATCH)
    return MultiPipelineConfig(model, chains, batcher, file.runner)


def _source_id(entry: StageEntry, where: str) -> str:
    """The entry's ``source_id``, or the one its source stage derives (file stem, URL)."""
    given = entry.options.get("source_id")
    if given:
        return str(given)
    try:
        return str(build_stage(entry.type, entry.options).source_id)
    except AttributeError:
        raise ConfigError(f"{where}: give this source a source_id") from None


def _sink_for(sink: dict[str, Any], source_id: str) -> dict[str, Any]:
    """A sink entry writing the outputs of one source (see the module docstring)."""
    sink = dict(sink)
    path = sink.get("path")
    if isinstance(path, str):
        part = f"source={source_id}"
        if sink["type"] in PARTITION_SINKS:
            sink["path"] = str(Path(path) / part)
            sink["source_column"] = False  # the partition key gives it
        else:
            sink["path"] = str(Path(path).parent / part / Path(path).name)
    return sink


@dataclass
class MultiRunReport:
    """What a multi-source run did: per source its `RunReport` and, if it failed, why."""

    frames: int
    seconds: float
    sources: dict[str, RunReport]
    failures: dict[str, str] = field(default_factory=dict)  # source id -> one line
    batches: int = 0
    mean_batch: float = 0.0
    interrupted: bool = False
    workers: int = 1  # model workers (`BatcherSettings.workers`)

    def format(self) -> str:
        lines = [
            f"{self.frames} frames from {len(self.sources)} sources in {self.seconds:.1f} s; "
            f"{self.batches} model batches of {self.mean_batch:.2f} frames on average "
            f"({self.workers} model worker{'s' if self.workers > 1 else ''})"
        ]
        for source_id, report in self.sources.items():
            state = f" FAILED: {self.failures[source_id]}" if source_id in self.failures else ""
            lines.append(f"source {source_id}:{state}")
            lines.extend("  " + line for line in report.format().splitlines())
        return "\n".join(lines)


class _Feed:
    """A chain's source: the frames the batcher hands to one source, until `_END`."""

    live = False  # the chain's first queue waits (the batcher keeps it bounded)

    def __init__(self, outbox: queue.Queue) -> None:
        self.outbox = outbox
        self.taken: Callable[[], None] = lambda: None  # told when the chain takes a frame

    def open(self, context: StageContext) -> None:
        pass

    def frames(self) -> Iterator[Frame]:
        while True:
            item = self.outbox.get()
            if item is _END:
                return
            self.taken()
            yield item

    def close(self) -> None:
        pass


@dataclass
class BatchStats:
    """The shared model's batches: how many, their sizes, how long the batcher waited for
    each (from its first frame's arrival to the model call) and how long the model took."""

    batches: int = 0
    frames: int = 0
    last_size: int = 0
    model_s: float = 0.0  # total seconds inside the model stage
    started: float = 0.0
    last_out: float = 0.0
    waits_s: deque = field(default_factory=lambda: deque(maxlen=20_000))
    calls_s: deque = field(default_factory=lambda: deque(maxlen=20_000))  # model, per batch

    def add(self, size: int, wait_s: float, call_s: float, done: float) -> None:
        self.batches += 1
        self.frames += size
        self.last_size = size
        self.model_s += call_s
        self.last_out = done
        self.waits_s.append(wait_s)
        self.calls_s.append(call_s)

    def summary(self, stage: str, now: float) -> dict[str, Any]:
        """The shared model's row: the figures of a stage row (latency: the model call per
        batch) and the batcher's (``batches``, ``batch_size_mean`` / ``_last``,
        ``batch_wait_p50_ms`` / ``_p95_ms``, ``model_busy_fraction``: the share of the
        wall time the model was running)."""
        wall = max(now - self.started, 1e-9) if self.started else 0.0
        calls = np.asarray(self.calls_s) * 1000
        waits = np.asarray(self.waits_s) * 1000

        def percentile(values: np.ndarray, q: float) -> float:
            return float(np.percentile(values, q)) if len(values) else 0.0

        return {
            "stage": stage,
            "source": "",
            "frames": self.frames,
            "dropped": 0,
            "fps": self.frames / wall if wall else 0.0,
            "busy_ms_per_frame": 1000 * self.model_s / max(self.frames, 1),
            "latency_p50_ms": percentile(calls, 50),
            "latency_p95_ms": percentile(calls, 95),
            "last_frame_age_s": now - (self.last_out or self.started or now),
            "batches": self.batches,
            "batch_size_mean": self.frames / max(self.batches, 1),
            "batch_size_last": self.last_size,
            "batch_wait_p50_ms": percentile(waits, 50),
            "batch_wait_p95_ms": percentile(waits, 95),
            "model_busy_fraction": self.model_s / wall if wall else 0.0,
        }


@dataclass
class _Source:
    """One source of the run: its stage, context, inbox, chain and counters."""

    source_id: str
    stage: Any
    context: StageContext
    inbox: Inbox
    chain: PipelineRunner
    outbox: queue.Queue
    stats: StageStats  # the source stage's
    model_stats: StageStats  # the shared model's figures for this source's frames
    in_flight: int = 0  # frames handed to the chain that its first stage has not taken
    in_model: int = 0  # frames taken from the inbox that the model has not yet handed over
    sent_end: bool = False
    report: RunReport | None = None
    failure: str | None = None


class MultiRunner:
    """Runs a `MultiPipelineConfig` (see the module docstring); `open` then `run`, as
    `PipelineRunner`. ``context`` is the whole run's: its ``stop`` ends every source; its
    ``facts`` hold the model's facts and ``live`` (any source is)."""

    def __init__(self, config: MultiPipelineConfig, context: StageContext | None = None) -> None:
        self.config = config
        self.context = context or StageContext()
        self.model: Any = None  # the model stage (the first worker's)
        self.models: list[Any] = []  # one per worker (`BatcherSettings.workers`)
        self.sources: list[_Source] = []
        self._lock = threading.Condition()  # shared by every inbox and the batcher
        self._model_error: PipelineError | None = None
        self.batch_stats = BatchStats()
        self._forming = threading.Lock()  # one worker forms a batch at a time
        self._formed = 0  # batches formed so far: each batch's ticket, in order
        self._handed = 0  # batches handed to the chains: the next ticket to hand over

    def open(self) -> None:
        """Build and open the model once, then every source and its chain (planned per
        source); on failure everything opened so far is closed."""
        model_options = dict(self.config.model.options)
        params = getattr(resolve_stage_class(self.config.model.type), "Params", None)
        fields = getattr(params, "model_fields", {})
        if "batch_size" in fields:  # pandanet: one forward
            model_options["batch_size"] = self.config.batcher.max_batch
        workers = _workers(
            self.config.batcher.workers,
            model_options,
            "threads" in fields,
            len(self.config.chains),
        )
        if workers > 1 and "threads" in fields:  # the model's threads, divided
            model_options["threads"] = max(1, _model_threads(model_options) // workers)
        opened: list[Any] = []
        # The model's own context: the run's stop flag, and facts that say no source is live
        # (a live single-source run would make the pandanet stage use batches of one).
        model_context = StageContext(
            stop=self.context.stop, overwrite=self.context.overwrite, resume=self.context.resume
        )
        try:
            for _ in range(workers):
                model = build_stage(self.config.model.type, model_options)
                model.open(model_context)
                opened.append(model)
                self.models.append(model)
            self.model = self.models[0]
            for name in MODEL_FACTS:
                setattr(self.context.facts, name, getattr(model_context.facts, name))
            for source_id, chain_config in self.config.chains.items():
                self.sources.append(self._open_source(source_id, chain_config, opened))
        except BaseException:
            for stage in reversed(opened):
                try:
                    stage.close()
                except Exception:  # noqa: BLE001 - already failing; the first error counts
                    pass
            raise
        self.context.facts.live = any(source.inbox.live for source in self.sources)
        self.context.facts.source_id = f"{len(self.sources)} sources"

    def _open_source(self, source_id: str, config: PipelineConfig, opened: list[Any]) -> _Source:
        context = StageContext(
            facts=RunFacts(), overwrite=self.context.overwrite, resume=self.context.resume
        )
        entries = config.entries()
        stage = build_stage(entries[0][1].type, entries[0][1].options)
        chain_stages = [build_stage(entry.type, entry.options) for _, entry in entries[1:]]
        context.plan = plan_run([stage, *chain_stages], resume=context.resume)
        stage.open(context)
        opened.append(stage)
        for name in MODEL_FACTS:  # the model's facts, learned once
            setattr(context.facts, name, getattr(self.context.facts, name))
        for chain_stage in chain_stages:
            chain_stage.open(context)
            opened.append(chain_stage)
        live = bool(getattr(stage, "live", False))
        inbox = Inbox(source_id, self.config.batcher.inbox_size, live, self._lock)
        outbox: queue.Queue = queue.Queue()
        feed = _Feed(outbox)
        chain = PipelineRunner(config, context)
        chain.stages = [feed, *chain_stages]  # opened above; the runner only runs them
        names = [name for name, _ in entries]
        source = _Source(
            source_id,
            stage,
            context,
            inbox,
            chain,
            outbox,
            StageStats(f"{names[0]}:{entries[0][1].type}"),
            StageStats(f"stages[0]:{self.config.model.type}"),
        )
        feed.taken = functools.partial(self._taken, source)
        return source

    def _taken(self, source: _Source) -> None:
        with self._lock:
            source.in_flight -= 1
            self._lock.notify_all()

    def run(self, on_frame: Callable[[Frame], None] | None = None) -> MultiRunReport:
        """Run until every source has ended (or the run's ``stop``) -> the report.

        A failing source or chain ends that source only (`MultiRunReport.failures`); a
        failing model raises `PipelineError` after every chain has flushed.
        """
        with run_blas_threads():  # numpy's BLAS on one thread (crowdpose3d.pipeline.threads)
            return self._run(on_frame)

    def _run(self, on_frame: Callable[[Frame], None] | None) -> MultiRunReport:
        if not self.sources:
            self.open()
        started = time.perf_counter()
        lock = threading.Lock()
        frames = 0

        def delivered(frame: Frame) -> None:
            nonlocal frames
            with lock:
                frames += 1
            if on_frame is not None:
                on_frame(frame)

        threads = [
            threading.Thread(target=self._read_source, args=(s,), daemon=True) for s in self.sources
        ]
        threads += [
            threading.Thread(target=self._run_chain, args=(s, delivered), daemon=True)
            for s in self.sources
        ]
        batcher = threading.Thread(target=self._run_model, daemon=True)
        for thread in [*threads, batcher]:
            thread.start()
        interrupted = False
        last_report = time.perf_counter()
        every = self.config.runner.report_every_s
        try:
            while any(thread.is_alive() for thread in [*threads, batcher]):
                if self.context.stop.is_set():
                    for source in self.sources:
                        source.context.stop.set()
                if self.context.facts.live and time.perf_counter() - last_report > every:
                    last_report = time.perf_counter()
                    for line in self.log_lines():
                        log.info("pipeline: %s", line)
                time.sleep(_POLL_S)
        except KeyboardInterrupt:
            interrupted = True
            self.context.stop.set()
            for source in self.sources:
                source.context.stop.set()
        for thread in [*threads, batcher]:
            thread.join()
        for model in self.models:
            try:
                model.close()
            except Exception as error:  # noqa: BLE001
                self._model_error = self._model_error or PipelineError("stages[0]", error)
        report = MultiRunReport(
            frames=frames,
            seconds=time.perf_counter() - started,
            sources={s.source_id: self._source_report(s) for s in self.sources},
            failures={s.source_id: s.failure for s in self.sources if s.failure},
            batches=self.batch_stats.batches,
            mean_batch=self.batch_stats.frames / max(self.batch_stats.batches, 1),
            interrupted=interrupted,
            workers=len(self.models),
        )
        if self._model_error is not None:
            raise self._model_error
        return report

    def _read_source(self, source: _Source) -> None:
        """A source's thread: its frames into its inbox until it ends, fails or stops."""
        stats = source.stats
        stats.started = time.perf_counter()
        try:
            for frame in source.stage.frames():
                if source.context.stop.is_set():
                    break
                stats.count_out()
                source.inbox.put(frame, source.context.stop)
        except Exception as error:  # noqa: BLE001 - this source ends; the others go on
            source.failure = f"{stats.name} failed: {first_line(error)}"
            log.error("pipeline: source %s: %s", source.source_id, source.failure)
        finally:
            try:
                source.stage.close()
            except Exception as error:  # noqa: BLE001
                source.failure = source.failure or f"{stats.name}: {first_line(error)}"
            source.inbox.end()
            stats.finished = time.perf_counter()

    def _run_chain(self, source: _Source, delivered: Callable[[Frame], None]) -> None:
        """A source's chain (its `PipelineRunner`); a failure ends this source only."""
        try:
            source.report = source.chain.run(delivered)
        except PipelineError as error:
            source.failure = source.failure or str(error)
            source.context.stop.set()
            log.error("pipeline: source %s: %s", source.source_id, error)
        finally:
            source.context.stop.set()  # the chain is gone: its source need not go on

    def _ready(self, i: int, taken: int) -> bool:
        """May source ``i`` give one more frame to the batch (its chain has room)?"""
        source = self.sources[i]
        if source.context.stop.is_set():
            return False
        busy = source.in_flight + source.in_model + taken
        return busy < self.config.runner.queue_size

    def _run_model(self) -> None:
        """The batcher's thread: the model workers (`BatcherSettings.workers`) until every
        source has ended, then the end of every chain."""
        batcher = Batcher(
            [s.inbox for s in self.sources],
            self.config.batcher.max_batch,
            self.config.batcher.max_wait_ms,
            self._ready,
        )
        started = time.perf_counter()
        for source in self.sources:
            source.model_stats.started = started
        self.batch_stats.started = started
        workers = [
            threading.Thread(target=self._run_worker, args=(model, batcher), daemon=True)
            for model in self.models[1:]
        ]
        try:
            for worker in workers:
                worker.start()
            self._run_worker(self.models[0], batcher)
        finally:
            for worker in workers:
                worker.join()
            for source in self.sources:
                source.model_stats.finished = time.perf_counter()
                self._send_end(source)

    def _run_worker(self, model: Any, batcher: Batcher) -> None:
        """One model worker: form a batch (one worker at a time), run it through its model,
        then hand its frames to their chains in the order the batches were formed."""
        try:
            while True:
                with self._forming:
                    self._end_finished_sources()
                    batch = batcher.next_batch(self.context.stop)
                    if batch is None:
                        return
                    if not batch:
                        continue
                    ticket = self._formed
                    self._formed += 1
                    with self._lock:
                        for i, _, _ in batch:
                            self.sources[i].in_model += 1
                frames = [frame for _, frame, _ in batch]
                called = time.perf_counter()
                results = list(model(iter(frames)))
                if len(results) != len(frames):
                    raise RuntimeError(
                        f"the model stage returned {len(results)} frames for {len(frames)}"
                    )
                done = time.perf_counter()
                with self._lock:
                    while self._handed != ticket:  # an earlier batch is still in a model
                        if self._model_error is not None:  # it will never be handed over
                            return
                        self._lock.wait(_POLL_S)
                    first = min(arrived for _, _, arrived in batch)
                    self.batch_stats.add(len(frames), called - first, done - called, done)
                    for (i, _, arrived), frame in zip(batch, results, strict=True):
                        source = self.sources[i]
                        source.in_model -= 1
                        source.model_stats.frames_in += 1
                        source.model_stats.count_out()
                        source.model_stats.latencies_s.append(done - arrived)
                        source.in_flight += 1
                        source.outbox.put(frame)
                    self._handed += 1
                    self._lock.notify_all()
        except Exception as error:  # noqa: BLE001 - the shared model failed: stop everything
            self._model_error = self._model_error or PipelineError(
                f"stages[0]:{self.config.model.type}", error
            )
            self.context.stop.set()
            for source in self.sources:
                source.context.stop.set()

    def _end_finished_sources(self) -> None:
        """End the chain of each source that has ended (or stopped) with nothing waiting;
        a stopped source's waiting frames are dropped."""
        with self._lock:
            for source in self.sources:
                if source.context.stop.is_set() and source.inbox.frames:
                    source.inbox.dropped += len(source.inbox.frames)
                    source.inbox.frames.clear()
                if source.inbox.ended and not source.inbox.frames and not source.in_model:
                    self._send_end(source)

    @staticmethod
    def _send_end(source: _Source) -> None:
        if not source.sent_end:
            source.sent_end = True
            source.outbox.put(_END)

    def _source_report(self, source: _Source) -> RunReport:
        """The chain's report with the source's and the model's rows in front."""
        chain = source.report
        source_row = source.stats.summary()
        source_row["dropped"] = source.inbox.dropped
        for name, value in _counters(source.stage).items():
            source_row[name] = value
        model_row = source.model_stats.summary()
        rows = [source_row, model_row]
        if chain is not None:
            rows += chain.stages[1:]  # the chain's feed row is the batcher's hand-over
        return RunReport(
            frames=chain.frames if chain else 0,
            seconds=chain.seconds if chain else 0.0,
            stages=rows,
            interrupted=bool(chain and chain.interrupted),
        )

    def snapshot(self) -> list[dict[str, Any]]:
        """Now, per source (each row with its ``source``): the source stage's row (frames,
        drops, its own counters), the shared model's row for that source's frames (latency
        from the inbox to the model's output) and its chain's rows; then the shared model's
        own row (``source`` ""): its frames, forward time per batch, its counters and the
        batcher's figures (`BatchStats.summary`). What the periodic log lines and the
        metrics endpoint (``--metrics-port``) show."""
        now = time.perf_counter()
        rows: list[dict[str, Any]] = []
        with self._lock:
            for source in self.sources:
                source_row = source.stats.summary(now)
                source_row["dropped"] = source.inbox.dropped
                source_row.update(_counters(source.stage))
                model_row = source.model_stats.summary(now)
                per_source = [source_row, model_row]
                for row, stats in zip(per_source, (source.stats, source.model_stats), strict=True):
                    row["last_frame_age_s"] = now - (stats.last_out or stats.started or now)
                per_source += source.chain.snapshot()[1:]  # [0]: the batcher's hand-over
                for row in per_source:
                    row["source"] = source.source_id
                rows += per_source
            if self.models:
                shared = self.batch_stats.summary(f"stages[0]:{self.config.model.type}", now)
                shared["workers"] = len(self.models)
                shared.update(_mean_counters([_counters(model) for model in self.models]))
                rows.append(shared)
        return rows

    def log_lines(self) -> list[str]:
        """The periodic log lines of a live run: one per source, then the shared model's
        (the figures of `snapshot`)."""
        by_source: dict[str, list[dict[str, Any]]] = {}
        for row in self.snapshot():
            source_id = row.pop("source")
            by_source.setdefault(source_id, []).append(row)
        shared = by_source.pop("", [])
        lines = [f"source {sid}: {_one_line(rows)}" for sid, rows in by_source.items()]
        return lines + [f"shared model: {_one_line(shared)}"] if shared else lines


def _workers(asked: int | str, options: dict[str, Any], has_threads: bool, sources: int) -> int:
    """The number of model workers: as asked, or for ``auto`` `CPU_WORKERS` when there are
    several sources and the model stage has ``threads`` and runs a checkpoint on a backend
    of `WORKER_BACKENDS` (as `engine.backends.choose` resolves it) on a CPU with two or more
    of those threads (`_model_threads`), else 1."""
    if asked != "auto":
        return int(asked)
    if not has_threads or sources < 2:
        return 1
    from crowdpose3d.engine.backends import EXPORTED_SUFFIXES, choose
    from crowdpose3d.engine.predictor import resolve_device

    exported = str(options.get("model", "")).endswith(EXPORTED_SUFFIXES)  # never torch
    try:
        device = resolve_device(options.get("device", "auto"))
        backend = choose(
            options.get("backend", "auto"), options.get("precision", "auto"), device, exported
        )
    except (RuntimeError, ValueError):  # a wrong device or backend: the stage's open says so
        return 1
    on_cpu = device.type == "cpu"
    return (
        CPU_WORKERS
        if on_cpu and backend.backend in WORKER_BACKENDS and _model_threads(options) >= 2
        else 1
    )


def _model_threads(options: dict[str, Any]) -> int:
    """The model stage's CPU threads: its ``threads``, else every usable CPU."""
    from crowdpose3d.engine.backends import default_threads

    return int(options.get("threads") or default_threads())


def _counters(stage: Any) -> dict[str, Any]:
    counters = getattr(stage, "counters", None)
    return counters() if callable(counters) else {}


def _mean_counters(each: list[dict[str, Any]]) -> dict[str, Any]:
    """The model workers' counters as one: the mean of each number (the pandanet stage's
    are milliseconds per image), else the first worker's value."""
    merged = dict(each[0]) if each else {}
    for key in list(merged):
        values = [counters.get(key) for counters in each]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            merged[key] = sum(values) / len(values)
    return merged
