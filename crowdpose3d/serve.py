"""Many live cameras on a Ray cluster (`crowdpose3d serve CAMERAS.yaml`): camera groups as
Ray actors, each one process with one batched model for its cameras.

    output: live/                  # live/source=<camera id>/part-*.parquet, per camera
    group_size: 4                  # cameras per actor (one batched model each)
    seconds_per_part: 60           # a complete part per camera every minute
    cameras:
      - {id: door, uri: "rtsp://user:pass@10.0.0.5/stream"}
      - {id: hall, uri: "rtsp://10.0.0.6/stream", group: east}   # an explicit group
    model: builtin:crowd-small     # optional: the default pipeline's model and device
    device: auto
    actor: {num_cpus: 2, num_gpus: 0, max_restarts: 100}
    pipeline:                      # optional: stages / sinks / runner / batcher of a
      stages: [...]                # multi-source pipeline file (crowdpose3d.pipeline.multi)

Each group is a pipeline with ``sources:`` (`crowdpose3d.pipeline.multi`) whose Parquet sink
writes one hive partition per camera, as `crowdpose3d batch` does, so
``pandas.read_parquet(output)`` reads every camera back with its ``source`` column. A group
runs in a Ray actor (`CameraGroup`) that Ray restarts when it dies (``max_restarts``); the
restarted actor opens its pipeline with ``resume``: each camera's parts continue its
numbering after the last complete part, its frame numbers continue after the last frame
written, and its track ids above the largest written. A killed actor loses only the rows it
had not yet written as a complete part; nothing complete is lost. Every other group goes on
meanwhile. A camera that drops reconnects inside its actor (the source's back-off).

On a cluster every node needs crowdpose3d installed and ``output`` on a shared file system.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crowdpose3d.batch import BatchError, import_ray, ray_cluster
from crowdpose3d.messages import first_line
from crowdpose3d.pipeline.config import ConfigError, read_pipeline
from crowdpose3d.pipeline.defaults import DEFAULT_DEVICE, DEFAULT_MODEL, default_pipeline
from crowdpose3d.pipeline.multi import MultiPipelineConfig, validate_multi_pipeline
from crowdpose3d.stages.source import redact_url

log = logging.getLogger("crowdpose3d.serve")
STATUS_TIMEOUT_S = 10.0  # a group that does not answer a status call this fast is "busy"
OPEN_RETRY_S = 2.0  # a group that cannot open (a camera down) retries after this, doubling
OPEN_RETRY_MAX_S = 60.0  # ... up to this


class Camera(BaseModel):
    """One camera: its id (its partition's name), its address, its group (optional) and
    any further options of the video source (e.g. ``rtsp_transport``)."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    uri: str
    group: str | None = None


class ActorSettings(BaseModel):
    """What each group's actor gets from Ray."""

    model_config = ConfigDict(extra="forbid")
    num_cpus: float = Field(1.0, gt=0)  # CPU slots; also the model's CPU threads
    num_gpus: float = Field(0.0, ge=0)
    max_restarts: int = Field(100, ge=-1)  # how often Ray restarts a group that died (-1: ever)


class CamerasFile(BaseModel):
    """A CAMERAS.yaml file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    output: str
    cameras: list[Camera] = Field(min_length=1)
    group_size: int = Field(4, ge=1)
    seconds_per_part: float = Field(60.0, gt=0)
    model: str = DEFAULT_MODEL
    device: str = DEFAULT_DEVICE
    actor: ActorSettings = ActorSettings()
    pipeline: dict[str, Any] = {}


@dataclass
class ServePlan:
    """The validated groups: name -> the multi-source pipeline mapping its actor runs."""

    groups: dict[str, dict[str, Any]]
    cameras: dict[str, list[str]]  # group name -> camera ids
    actor: ActorSettings
    output: Path


def load_cameras(path: str | Path, variables: dict[str, str] | None = None) -> ServePlan:
    """Read, fill (``${name}`` from ``--set``) and validate a CAMERAS.yaml (`ConfigError`,
    one line); every group's pipeline is validated before anything starts."""
    if not Path(path).is_file():
        raise ConfigError(f"cameras file not found: {path}")
    return plan_groups(read_pipeline(path, variables), str(path))


def plan_groups(data: dict[str, Any], name: str = "cameras") -> ServePlan:
    """A cameras mapping -> one multi-source pipeline per group (`ConfigError`)."""
    try:
        file = CamerasFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ConfigError(f"{name}: {where}: {error['msg']}") from None
    ids = [camera.id for camera in file.cameras]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ConfigError(f"{name}: camera id {twice[0]!r} is used twice; give each its own id")
    output = Path(file.output).absolute()
    cameras: dict[str, list[Camera]] = {}
    for k, camera in enumerate(file.cameras):
        cameras.setdefault(camera.group or f"group{k // file.group_size}", []).append(camera)
    groups = {
        group: _group_pipeline(members, file, output, f"{name}: group {group}")
        for group, members in cameras.items()
    }
    return ServePlan(groups, {g: [c.id for c in m] for g, m in cameras.items()}, file.actor, output)


def _group_pipeline(
    cameras: list[Camera], file: CamerasFile, output: Path, where: str
) -> dict[str, Any]:
    """The multi-source pipeline of one group: the default live pipeline (or the file's
    ``pipeline:``), a Parquet partition per camera."""
    default = default_pipeline(cameras[0].uri, str(output), model=file.model, device=file.device)
    for stage in default["stages"]:
        if stage["type"] == "pandanet":
            stage["threads"] = max(1, int(file.actor.num_cpus))
            if file.device == "auto" and file.actor.num_gpus == 0:
                stage["device"] = "cpu"  # an actor uses what Ray gave it
    default["sinks"][0]["seconds_per_part"] = file.seconds_per_part
    data = {
        "sources": [
            {
                **(camera.model_extra or {}),
                "type": "video",
                "uri": camera.uri,
                "source_id": camera.id,
            }
            for camera in cameras
        ],
        "stages": default["stages"],
        "sinks": default["sinks"],
        **file.pipeline,
    }
    validate_multi_pipeline(data, where, allow_custom_stages=False)
    return data


class CameraGroup:
    """The Ray actor of one group: opens its pipeline (resuming each camera's outputs) and
    runs it on a thread from construction, so a restarted actor goes on by itself. A group
    that cannot open (a camera down at start) retries on that thread with back-off; its
    status says why meanwhile."""

    def __init__(self, name: str, data: dict[str, Any], threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        self.name = name
        self.restarted = _was_restarted()
        self.config: MultiPipelineConfig = validate_multi_pipeline(data, f"group {name}")
        self.stopping = threading.Event()  # stop() was called
        self.runner: Any = None  # the open MultiRunner, once it opened
        self.report = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from crowdpose3d.pipeline.multi import MultiRunner
        from crowdpose3d.pipeline.stage import StageContext

        delay = OPEN_RETRY_S
        while not self.stopping.is_set():
            runner = MultiRunner(self.config, StageContext(stop=self.stopping, resume=True))
            try:
                runner.open()
                break
            except Exception as error:  # noqa: BLE001 - say why, wait, try again
                self.error = f"cannot open yet: {redact_url(first_line(error))}"
                log.warning("serve: group %s %s; retrying in %.0f s", self.name, self.error, delay)
                self.stopping.wait(delay)
                delay = min(delay * 2, OPEN_RETRY_MAX_S)
        else:
            return
        self.runner, self.error = runner, None
        try:
            self.report = runner.run()
        except Exception as error:  # noqa: BLE001 - reported by status / stop
            self.error = redact_url(first_line(error))

    def status(self) -> dict[str, Any]:
        """Frames out of the model per camera so far, whether this actor is a restart,
        whether it still runs, and its error if it stopped (or cannot open) with one."""
        sources = self.runner.sources if self.runner is not None else []
        return {
            "group": self.name,
            "restarted": self.restarted,
            "running": self.runner is not None and self.thread.is_alive(),
            "frames": {s.source_id: s.model_stats.frames_out for s in sources},
            "dropped": {s.source_id: s.inbox.dropped for s in sources},
            "failures": {s.source_id: s.failure for s in sources if s.failure},
            "error": self.error,
        }

    def stop(self) -> dict[str, Any]:
        """Stop the group's cameras, flush every camera's parts -> the final status."""
        self.stopping.set()
        self.thread.join()
        status = self.status()
        if self.report is not None:
            status["frames"] = {k: r.frames for k, r in self.report.sources.items()}
        return status


def _was_restarted() -> bool:
    """True inside an actor that Ray restarted; False outside Ray."""
    try:
        import ray
    except ImportError:
        return False
    if not ray.is_initialized():
        return False
    with warnings.catch_warnings():  # Ray's property warns about its own internal call
        warnings.simplefilter("ignore", DeprecationWarning)
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)


@dataclass
class CameraServer:
    """Starts one `CameraGroup` actor per group on a connected Ray; ``poll`` and ``stop``."""

    plan: ServePlan
    ray: Any
    actors: dict[str, Any] = field(default_factory=dict)

    def start(self) -> None:
        settings = self.plan.actor
        options: dict[str, Any] = {
            "num_cpus": settings.num_cpus,
            "max_restarts": settings.max_restarts,
            "max_task_retries": -1,  # a call to a group that is restarting waits for it
        }
        if settings.num_gpus > 0:
            options["num_gpus"] = settings.num_gpus
        actor_class = self.ray.remote(CameraGroup).options(**options)
        self.plan.output.mkdir(parents=True, exist_ok=True)
        threads = max(1, int(settings.num_cpus))
        for name, data in self.plan.groups.items():
            self.actors[name] = actor_class.remote(name, data, threads)

    def poll(self, timeout_s: float = STATUS_TIMEOUT_S) -> dict[str, dict[str, Any] | str]:
        """Group -> its status, or a line saying why none came (starting, restarting)."""
        refs = {name: actor.status.remote() for name, actor in self.actors.items()}
        statuses: dict[str, dict[str, Any] | str] = {}
        deadline = time.monotonic() + timeout_s
        for name, ref in refs.items():
            try:
                statuses[name] = self.ray.get(ref, timeout=max(deadline - time.monotonic(), 0))
            except self.ray.exceptions.GetTimeoutError:
                statuses[name] = "starting or restarting"
            except self.ray.exceptions.RayError as error:
                statuses[name] = f"failed: {redact_url(first_line(error))}"
        return statuses

    def stop(self) -> dict[str, dict[str, Any] | str]:
        """Stop every group (each flushes its cameras' parts) -> group -> final status."""
        refs = {name: actor.stop.remote() for name, actor in self.actors.items()}
        finals: dict[str, dict[str, Any] | str] = {}
        for name, ref in refs.items():
            try:
                finals[name] = self.ray.get(ref)
            except self.ray.exceptions.RayError as error:
                finals[name] = f"failed: {redact_url(first_line(error))}"
        for actor in self.actors.values():
            self.ray.kill(actor, no_restart=True)
        return finals


def serve(
    plan: ServePlan,
    stop: threading.Event,
    address: str | None = None,
    num_cpus: int | None = None,
    seconds: float | None = None,
    report_every_s: float = 60.0,
    on_status: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, dict[str, Any] | str]:
    """Run every group until ``stop`` (or ``seconds``) -> each group's final status."""
    import_ray()
    with ray_cluster(address, num_cpus) as ray:
        server = CameraServer(plan, ray)
        server.start()
        started = time.monotonic()
        last = started
        try:
            while not stop.wait(0.5):
                if seconds is not None and time.monotonic() - started >= seconds:
                    break
                if time.monotonic() - last >= report_every_s:
                    last = time.monotonic()
                    statuses = server.poll()
                    log.info("serve: %s", status_line(statuses))
                    if on_status is not None:
                        on_status(statuses)
        finally:
            finals = server.stop()
    return finals


def status_line(statuses: dict[str, dict[str, Any] | str]) -> str:
    """One line: per group, frames per camera (or why there is no status)."""
    parts = []
    for group, status in statuses.items():
        if isinstance(status, str):
            parts.append(f"{group}: {status}")
            continue
        frames = ", ".join(f"{cam} {n}" for cam, n in status["frames"].items())
        restarted = " (restarted)" if status["restarted"] else ""
        parts.append(f"{group}{restarted}: {frames}")
    return "; ".join(parts)


def format_finals(finals: dict[str, dict[str, Any] | str], plan: ServePlan) -> tuple[str, list]:
    """The table at the end (group, camera, frames, dropped, state) and the failure lines."""
    lines = [f"{'group':<12} {'camera':<16} {'frames':>8} {'dropped':>8}  state"]
    failures = []
    for group, cameras in plan.cameras.items():
        final = finals.get(group, "no answer")
        for camera in cameras:
            if isinstance(final, str):
                lines.append(f"{group:<12} {camera:<16} {'-':>8} {'-':>8}  {final}")
                failures.append(f"group {group}: {final}")
                continue
            failure = final["failures"].get(camera) or final["error"]
            state = f"FAILED: {failure}" if failure else "ok"
            if failure:
                failures.append(f"camera {camera}: {failure}")
            lines.append(
                f"{group:<12} {camera:<16} {final['frames'].get(camera, 0):>8} "
                f"{final['dropped'].get(camera, 0):>8}  {state}"
            )
    return "\n".join(lines), failures


__all__ = [
    "BatchError",
    "CameraGroup",
    "CameraServer",
    "ServePlan",
    "format_finals",
    "load_cameras",
    "plan_groups",
    "serve",
]
