"""The default pipeline (video or stream -> PandaNet -> lift -> track -> Parquet), as the
mapping a pipeline file holds; `crowdpose3d track` runs it and
``pipelines/video_to_parquet.yaml`` writes the same thing out."""

from __future__ import annotations

from typing import Any

DEFAULT_MODEL = "builtin:crowd-small"


def default_pipeline(
    source: str,
    output: str,
    model: str = DEFAULT_MODEL,
    device: str = "auto",
    camera: dict[str, Any] | None = None,
    overlay: str | None = None,
    mot: str | None = None,
    backend: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
) -> dict[str, Any]:
    """The default pipeline for one source; ``camera`` holds the lift's camera options
    (``fov_deg`` or ``fx``/``fy``/``cx``/``cy``, optional ``height_m`` and ``pitch_deg``);
    ``backend``, ``precision`` and ``threads`` go to the pandanet stage (set only when
    not their defaults)."""
    model_stage: dict[str, Any] = {"type": "pandanet", "model": model, "device": device}
    for key, value, default in (
        ("backend", backend, "auto"),
        ("precision", precision, "auto"),
        ("threads", threads, None),
    ):
        if value != default:
            model_stage[key] = value
    sinks: list[dict[str, Any]] = [{"type": "parquet", "path": output}]
    if overlay:
        sinks.append({"type": "overlay", "path": overlay})
    if mot:
        sinks.append({"type": "mot", "path": mot})
    return {
        "source": {"type": "video", "uri": source},
        "stages": [
            model_stage,
            {"type": "lift", **(camera or {})},
            {"type": "track"},
        ],
        "sinks": sinks,
    }
