"""Many sources, one default pipeline each, as Ray tasks (`crowdpose3d batch`).

Every input becomes one hive-style partition ``OUT_DIR/source=<id>/part-*.parquet``, so
``pandas.read_parquet(OUT_DIR)`` reads all sources back as one dataset whose ``source``
column comes from the partition key (the part files of a batch hold no ``source`` column of
their own: the two would clash). ``<id>`` is the file's stem made safe; inputs that share a
stem get a short hash of their full path, so the ids do not depend on the order given, and
an input that already has a partition keeps its id.

A video is written under ``OUT_DIR/.staging/source=<id>/`` and renamed into place, with a
``_batch.json`` record (input, frames, seconds, the options that shape its rows), only when
complete: a failed or killed video leaves no half partition and never touches the others,
and a rerun skips the partitions already there with the same options; a rerun with other
options (model, backend, precision, camera) redoes the video and replaces its partition.
A damaged or truncated video keeps the rows of the frames that decoded: it is published
marked ``partial`` (the record says why) and not retried, since the file stays as it is.
Readers skip names that start with ``.`` or ``_``. A failed video is retried
``retries`` times, then reported; the others go on.

Ray is an optional extra (``pip install 'crowdpose3d[ray]'``), imported only when a batch
runs. On a cluster every node needs crowdpose3d installed and OUT_DIR on a shared file system.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crowdpose3d.files import fsync_path, publish
from crowdpose3d.messages import first_line
from crowdpose3d.pipeline.config import PipelineConfig, validate_pipeline
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL, default_pipeline
from crowdpose3d.stages.source import default_source_id, is_live, redact_url

STAGING = ".staging"  # unfinished partitions; hidden from readers
RECORD = "_batch.json"  # written last into a partition: what made it
RAY_MISSING = "crowdpose3d batch needs Ray: pip install 'crowdpose3d[ray]'"


class BatchError(RuntimeError):
    """The batch cannot start (Ray missing or unreachable); one line for the user."""


@dataclass(frozen=True)
class VideoJob:
    """One input: ``uri`` as the worker opens it (absolute for files), ``name`` for messages
    (as given, credentials redacted), ``source_id`` names its partition."""

    uri: str
    name: str
    source_id: str


@dataclass(frozen=True)
class BatchOptions:
    """The default pipeline's options (as `crowdpose3d track`) and each video's Ray slots."""

    model: str = DEFAULT_MODEL
    device: str = "auto"
    backend: str = "auto"  # the pandanet stage's backend and precision (engine.backends)
    precision: str = "auto"
    camera: dict[str, Any] = field(default_factory=dict)  # the lift's camera options
    retries: int = 1  # further attempts for a failed video
    cpus_per_video: float = 1.0  # Ray CPU slots per video; also its torch threads
    gpus_per_video: float = 0.0  # Ray GPU slots per video (0: CPU only)

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"--retries must be >= 0, got {self.retries}")
        if self.cpus_per_video <= 0:
            raise ValueError(f"--cpus-per-video must be > 0, got {self.cpus_per_video:g}")
        if self.gpus_per_video < 0:
            raise ValueError(f"--gpus-per-video must be >= 0, got {self.gpus_per_video:g}")


@dataclass(frozen=True)
class VideoResult:
    """How one video ended: ``status`` is done, skipped (already complete) or failed."""

    job: VideoJob
    status: str
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    attempts: int = 0
    partial: str = ""  # why only part of the video was read (damaged, truncated); "" if whole
    note: str = ""  # e.g. why a complete partition was redone


def plan_jobs(inputs: list[str], out_dir: str | Path | None = None) -> list[VideoJob]:
    """Inputs -> jobs with unique, safe partition ids (repeated inputs are kept once).

    An input that already has a partition in ``out_dir`` keeps its id (so a rerun with other
    inputs beside it still skips it); a new one gets its stem, or its stem and a short hash
    of its full path when the stem is taken or shared, whatever the order of the inputs.
    """
    uris: dict[str, str] = {}  # uri -> name, in the order given
    for given in inputs:
        uri = given if is_live(given) else str(Path(given).expanduser().absolute())
        uris.setdefault(uri, redact_url(given))
    existing = _existing_partitions(out_dir) if out_dir is not None else []
    by_uri = {uri: source_id for uri, source_id in existing if uri is not None}
    ids = {uri: by_uri[redact_url(uri)] for uri in uris if redact_url(uri) in by_uri}
    taken = {source_id.lower() for _, source_id in existing}  # case-insensitive FS
    stems = {uri: _safe_stem(uri) for uri in uris if uri not in ids}
    counts = Counter(stem.lower() for stem in stems.values())
    for uri, stem in stems.items():
        if counts[stem.lower()] > 1 or stem.lower() in taken:
            stem = f"{stem}-{hashlib.sha1(uri.encode()).hexdigest()[:8]}"
        ids[uri] = stem
    return [VideoJob(uri=uri, name=name, source_id=ids[uri]) for uri, name in uris.items()]


def _existing_partitions(out_dir: str | Path) -> list[tuple[str | None, str]]:
    """(input uri as recorded, redacted, or None without a record; id) of each partition."""
    found = []
    for folder in sorted(Path(out_dir).glob("source=*")):
        try:
            uri = json.loads((folder / RECORD).read_text()).get("uri")
        except (OSError, ValueError, AttributeError):
            uri = None
        found.append((uri, folder.name.split("=", 1)[1]))
    return found


def partition_dir(out_dir: str | Path, source_id: str) -> Path:
    return Path(out_dir) / f"source={source_id}"


def staging_dir(out_dir: str | Path, source_id: str) -> Path:
    return Path(out_dir) / STAGING / f"source={source_id}"


def pipeline_for(job: VideoJob, out_dir: str | Path, options: BatchOptions) -> PipelineConfig:
    """The default pipeline for one job, writing to its staging folder without a ``source``
    column (the partition key gives it). Device ``auto`` without GPU slots is the CPU: a
    task uses what Ray gave it. URLs are read as files (no reconnection: a batch ends)."""
    auto_cpu = options.device == "auto" and options.gpus_per_video == 0
    data = default_pipeline(
        job.uri,
        str(staging_dir(out_dir, job.source_id)),
        model=options.model,
        device="cpu" if auto_cpu else options.device,
        camera=dict(options.camera) or None,
        backend=options.backend,
        precision=options.precision,
        threads=max(1, int(options.cpus_per_video)),
    )
    data["source"]["source_id"] = job.source_id
    data["source"]["live"] = False  # a URL is read to its end like a file: a drop fails it
    data["sinks"][0]["source_column"] = False
    return validate_pipeline(data, "crowdpose3d batch")


def options_record(options: BatchOptions) -> dict[str, Any]:
    """The options that shape a video's rows, as its record keeps them (not the device or
    the Ray slots, which change only the speed)."""
    return {
        "model": options.model,
        "backend": options.backend,
        "precision": options.precision,
        "camera": dict(sorted(options.camera.items())),
    }


def changed_options(job: VideoJob, out_dir: str | Path, options: BatchOptions) -> list[str]:
    """The recorded options of a complete partition that differ from ``options`` (all of
    them for a record that holds none); [] when it matches or there is no partition."""
    record = partition_dir(out_dir, job.source_id) / RECORD
    try:
        info = json.loads(record.read_text())
    except (OSError, ValueError):
        return []
    recorded = info.get("options") if isinstance(info, dict) else None
    wanted = options_record(options)
    if not isinstance(recorded, dict):
        return list(wanted)
    return [key for key, value in wanted.items() if recorded.get(key) != value]


def completed(
    job: VideoJob, out_dir: str | Path, options: BatchOptions | None = None
) -> VideoResult | None:
    """The result recorded in a complete partition (made with ``options``, when given), or
    None when there is none."""
    record = partition_dir(out_dir, job.source_id) / RECORD
    try:
        info = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    if options is not None and changed_options(job, out_dir, options):
        return None
    frames, seconds = int(info.get("frames", 0)), float(info.get("seconds", 0.0))
    return VideoResult(job, "done", frames, seconds, partial=str(info.get("partial", "")))


def process_video(job: VideoJob, out_dir: str | Path, options: BatchOptions) -> VideoResult:
    """Run the default pipeline on one job and publish its partition when complete.

    Never raises for a failing video: the result says why in one line, so that the batch
    goes on. Runs in a Ray worker; plain Python otherwise.
    """
    from crowdpose3d.pipeline.runner import PipelineError, PipelineRunner
    from crowdpose3d.pipeline.stage import StageContext
    from crowdpose3d.stages.source import SourceError

    done = completed(job, out_dir, options)
    if done is not None:  # an earlier attempt published it, then its worker died
        return done
    changed = changed_options(job, out_dir, options)
    note = f"redone: its {', '.join(changed)} changed" if changed else ""
    staging = staging_dir(out_dir, job.source_id)
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed attempt
    started = time.perf_counter()
    frames, partial = 0, ""

    def count(_frame: Any) -> None:
        nonlocal frames
        frames += 1

    try:
        runner = PipelineRunner(pipeline_for(job, out_dir, options), StageContext())
        runner.open()
        try:
            report = runner.run(on_frame=count)
            if report.interrupted:
                raise RuntimeError("interrupted")
        except PipelineError as error:
            # A damaged or truncated file, after some frames: keep their rows, say why.
            if not (isinstance(error.error, SourceError) and frames > 0):
                raise
            partial = _line(error.error)
        seconds = time.perf_counter() - started
        record = {"frames": frames, "seconds": seconds, "options": options_record(options)}
        if partial:
            record["partial"] = partial
        _publish(staging, partition_dir(out_dir, job.source_id), job, record)
    except Exception as error:  # noqa: BLE001 - one line per failed video; the batch goes on
        shutil.rmtree(staging, ignore_errors=True)
        return VideoResult(job, "failed", seconds=time.perf_counter() - started, error=_line(error))
    return VideoResult(job, "done", frames, seconds, partial=partial, note=note)


def _publish(staging: Path, final: Path, job: VideoJob, record: dict[str, Any]) -> None:
    """Write the record, then rename the staging folder into place (atomic); a partition
    made with other options is moved aside first and removed after."""
    path = staging / RECORD
    info = {"uri": redact_url(job.uri), "input": job.name, **record}
    path.write_text(json.dumps(info))
    fsync_path(path)
    replaced = staging.with_name(f"replaced-{staging.name}")
    if final.exists():
        shutil.rmtree(replaced, ignore_errors=True)
        os.replace(final, replaced)
    publish(staging, final)
    shutil.rmtree(replaced, ignore_errors=True)


def _video_task(job: VideoJob, out_dir: str, options: BatchOptions) -> VideoResult:
    """The Ray task: torch gets as many threads as the task has CPU slots."""
    import torch

    torch.set_num_threads(max(1, int(options.cpus_per_video)))
    return process_video(job, out_dir, options)


def import_ray() -> Any:
    """The ``ray`` module, or `BatchError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise BatchError(RAY_MISSING) from None
    return ray


@contextmanager
def ray_cluster(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to the cluster at ``address``, or start a local one with ``num_cpus`` CPUs
    (default: all); shut it down after. A connection already made is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if num_cpus is not None and num_cpus < 1:
        raise BatchError(f"--num-cpus must be >= 1, got {num_cpus}")
    if address:
        _check_reachable(address)
    try:
        if address:
            ray.init(address=address, logging_level=logging.WARNING)
        else:
            ray.init(
                num_cpus=num_cpus or os.cpu_count() or 1,
                include_dashboard=False,
                logging_level=logging.WARNING,
            )
    except Exception as error:  # noqa: BLE001 - Ray raises many kinds; one line for the user
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        raise BatchError(f"cannot start {where}: {_line(error)}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def run_batch(
    jobs: list[VideoJob],
    out_dir: str | Path,
    options: BatchOptions,
    on_result: Callable[[VideoResult, bool], None] | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
) -> list[VideoResult]:
    """Run every job not yet complete as a Ray task -> one result per job, in their order.

    Ray is reached as `ray_cluster` does, only when some job is left to run.
    ``on_result(result, final)`` is called as each attempt ends; ``final`` is False for a
    failure that will be retried.
    """
    import_ray()  # fail first when Ray is missing, even with nothing left to run
    out = Path(out_dir).absolute()
    out.mkdir(parents=True, exist_ok=True)
    report = on_result or (lambda result, final: None)
    results: dict[str, VideoResult] = {}
    todo = []
    for job in jobs:
        done = completed(job, out, options)
        if done is None:
            todo.append(job)
        else:
            results[job.source_id] = replace(done, status="skipped")
            report(results[job.source_id], True)
    if todo:
        with ray_cluster(address, num_cpus) as ray:
            for result in _run_on_ray(ray, todo, out, options, report):
                results[result.job.source_id] = result
                if result.status == "failed":  # e.g. left by a worker that was killed
                    shutil.rmtree(staging_dir(out, result.job.source_id), ignore_errors=True)
    try:
        (out / STAGING).rmdir()  # only when empty: nothing else is running
    except OSError:
        pass
    return [results[job.source_id] for job in jobs]


def _run_on_ray(
    ray: Any,
    jobs: list[VideoJob],
    out: Path,
    options: BatchOptions,
    report: Callable[[VideoResult, bool], None],
) -> Iterator[VideoResult]:
    """Submit every job, resubmit failed ones while attempts are left; yield final results."""
    resources: dict[str, float] = {"num_cpus": options.cpus_per_video, "max_retries": 0}
    if options.gpus_per_video > 0:
        resources["num_gpus"] = options.gpus_per_video
    task = ray.remote(_video_task).options(**resources)
    pending = {task.remote(job, str(out), options): (job, 1) for job in jobs}  # ref -> attempt
    while pending:
        [finished], _ = ray.wait(list(pending), num_returns=1)
        job, attempt = pending.pop(finished)
        try:
            result = ray.get(finished)
        except ray.exceptions.RayError as error:  # the worker died or the task broke
            result = VideoResult(job, "failed", error=_line(getattr(error, "cause", None) or error))
        result = replace(result, attempts=attempt)
        retry = result.status == "failed" and attempt <= options.retries
        report(result, not retry)
        if retry:
            pending[task.remote(job, str(out), options)] = (job, attempt + 1)
        else:
            yield result


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in one line when ``host:port`` (or ``ray://host:port``) does not answer: Ray
    itself keeps retrying for minutes."""
    match = re.fullmatch(r"(?:ray://)?\[?([^\[\]/]+?)\]?:(\d+)/?", address)
    if match is None:
        return  # "auto" and other forms: left to Ray
    try:
        socket.create_connection((match.group(1), int(match.group(2))), timeout_s).close()
    except OSError as error:
        raise BatchError(
            f"cannot reach the Ray cluster at {address} ({error.strerror or error}); "
            "check --ray-address"
        ) from None


def progress_line(result: VideoResult, final: bool, finished: int, total: int) -> str:
    """One line per finished video (and per attempt that will be retried)."""
    name = result.job.name
    if result.status == "failed" and not final:
        return f"[retry] {name}: attempt {result.attempts} failed ({result.error}); retrying"
    where = f"[{finished}/{total}]"
    if result.status == "failed":
        return f"{where} {name}: failed after {_attempts(result)}: {result.error}"
    if result.status == "skipped":
        what = f"partial ({result.partial})" if result.partial else "complete"
        return f"{where} {name}: skipped, source={result.job.source_id} is {what}"
    extra = "".join(f"; {text}" for text in (result.note,) if text)
    if result.partial:
        extra += f"; partial, the frames that decoded are kept: {result.partial}"
    return (
        f"{where} {name}: {result.frames} frames in {result.seconds:.1f} s "
        f"-> source={result.job.source_id}{extra}"
    )


def format_summary(results: list[VideoResult]) -> str:
    """The table at the end: input, partition, status, frames, seconds; then the counts."""
    status = {"done": "done", "skipped": "skipped (complete)", "failed": "FAILED"}
    rows = [
        (
            r.job.name,
            r.job.source_id,
            status[r.status] + (" PARTIAL" if r.partial else ""),
            str(r.frames),
            f"{r.seconds:.1f}",
        )
        for r in results
    ]
    header = ("input", "source", "status", "frames", "seconds")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = zip(row, widths, strict=True)  # text columns left, numbers right
        lines.append(
            "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(cells))
        )
    counts = Counter(r.status for r in results)
    partial = sum(bool(r.partial) for r in results)
    lines.append(
        f"{counts['done']} done, {counts['skipped']} skipped (already complete), "
        f"{counts['failed']} failed"
        + (f", {partial} partial (damaged or truncated)" if partial else "")
    )
    return "\n".join(lines)


def failure_line(result: VideoResult) -> str:
    """One line for a video that failed for good: input, attempts, reason."""
    return f"{result.job.name} failed after {_attempts(result)}: {result.error}"


def _attempts(result: VideoResult) -> str:
    return f"{result.attempts} attempt" + ("s" if result.attempts != 1 else "")


def _safe_stem(uri: str) -> str:
    """A partition-safe name: file stem (or a URL's host and path), no ``=`` or ``/``, not
    starting with ``.`` or ``_`` (readers would skip it)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", default_source_id(uri)).lstrip("._-") or "video"


def _line(error: BaseException) -> str:
    return redact_url(first_line(error))
