"""The stage protocol, the context every stage opens with, and the name -> class registry.

A stage is a small class: ``open(context)`` once, with the run's plan and facts in the
context, ``__call__(frames)`` maps an iterator of frames to an iterator of frames (batching
stays inside the stage that needs it), and ``close()`` flushes. Sinks are stages that write
and pass the frames on. A config names a stage by its registered name or by
``package.module:Class`` for a user's own stage.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from crowdpose3d.pipeline.facts import RunFacts
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.plan import RunPlan

# Built-in stages by name, imported only when used (so a sink's dependencies load lazily).
BUILTIN_STAGES: dict[str, str] = {
    "video": "crowdpose3d.stages.source:VideoSource",
    "images": "crowdpose3d.stages.source:ImageFolderSource",
    "pandanet": "crowdpose3d.stages.pandanet:PandaNetStage",
    "lift": "crowdpose3d.stages.lift:LiftStage",
    "track": "crowdpose3d.stages.track:TrackStage",
    "parquet": "crowdpose3d.stages.parquet:ParquetSink",
    "overlay": "crowdpose3d.stages.overlay:OverlaySink",
    "mot": "crowdpose3d.stages.mot:MOTSink",
    "regions": "crowdpose3d.stages.regions:RegionsStage",
    "events": "crowdpose3d.stages.events:EventsSink",
    "mqtt": "crowdpose3d.stages.mqtt:MqttSink",
    "pose_lifter": "crowdpose3d.stages.pose_lifter:PoseLifterStage",
    "verify": "crowdpose3d.stages.verify:VerifyStage",
}


class StageError(ValueError):
    """A stage that cannot be built or run; the message is one line for the user."""


class StageParams(BaseModel):
    """Base of every stage's parameters: unknown keys are refused (a typo is an error)."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class StageContext:
    """What stages share for one run.

    Attributes:
        facts: what stages publish for later ones (fps, skeleton, model, camera); sinks
            copy them into their outputs' metadata.
        plan: where the run starts and what each stage skips, decided by the runner before
            any stage opens (`crowdpose3d.pipeline.plan`).
        stop: set when the run must end (Ctrl-C, an error elsewhere); live sources and
            long waits check it.
        overwrite / resume: what the user asked for outputs that already exist.
    """

    facts: RunFacts = field(default_factory=RunFacts)
    plan: RunPlan = field(default_factory=RunPlan)
    stop: threading.Event = field(default_factory=threading.Event)
    overwrite: bool = False
    resume: bool = False


@runtime_checkable
class Stage(Protocol):
    """What the runner needs of a stage. A stage that holds an earlier run's results (a
    sink) may also define ``resume_point() -> ResumePoint | None``, which the runner asks
    before any stage opens (`crowdpose3d.pipeline.plan`)."""

    def open(self, context: StageContext) -> None: ...

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class SourceStage(Protocol):
    """A source: ``open`` then ``frames()`` yields until the stream ends or ``stop`` is set."""

    live: bool

    def open(self, context: StageContext) -> None: ...

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class BaseStage:
    """Convenience base: holds validated params; ``open``/``close`` do nothing by default."""

    Params: ClassVar[type[StageParams]] = StageParams
    run_name = ""  # its name in the run (``stages[2]:track``), set by the runner

    def __init__(self, params: StageParams) -> None:
        self.params = params
        self.context = StageContext()

    def open(self, context: StageContext) -> None:
        self.context = context

    def close(self) -> None:
        pass


def claim_output_file(path: Path, context: StageContext) -> None:
    """Make ``path``'s folder; refuse an existing ``path`` unless the run may overwrite or
    resume (`StageError`, one line)."""
    if path.exists() and not (context.overwrite or context.resume):
        raise StageError(f"{path} already exists; pass --overwrite to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StageError(f"cannot create {path.parent}: {error.strerror}") from None


def is_custom_stage(type_name: str) -> bool:
    """True for a ``package.module:Class`` stage: a user's code, not a built-in stage."""
    return type_name not in BUILTIN_STAGES


def resolve_stage_class(type_name: str) -> type:
    """A registered name or ``package.module:Class`` -> the class (`StageError` if unknown,
    or if a custom class is not a `BaseStage`, so e.g. ``subprocess:Popen`` is never built).
    """
    target = BUILTIN_STAGES.get(type_name, type_name)
    if ":" not in target:
        known = ", ".join(sorted(BUILTIN_STAGES))
        raise StageError(
            f"unknown stage type {type_name!r}; use one of {known} or package.module:Class"
        )
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StageError(f"stage {type_name!r}: cannot import {module_name} ({exc})") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise StageError(f"stage {type_name!r}: {module_name} has no class {class_name}")
    if not issubclass(cls, BaseStage):
        raise StageError(
            f"stage {type_name!r} is not a stage: a custom stage subclasses "
            "crowdpose3d.pipeline.stage.BaseStage"
        )
    return cls


def build_stage(type_name: str, options: dict[str, Any]) -> Any:
    """Instantiate a stage from its config entry; its ``Params`` validate ``options``."""
    cls = resolve_stage_class(type_name)
    params_model = getattr(cls, "Params", None)
    if params_model is None:
        return cls(**options)
    return cls(params_model.model_validate(options))
