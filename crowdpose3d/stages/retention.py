"""Bounded disk for a sink's rolling files: retention by count, bytes and age.

One rule for every sink that writes a live run's output as a series of complete files (the
Parquet parts, the overlay's MP4 segments, the MOT sink's text segments): keep at most
``retain_parts`` files, at most ``retain_bytes`` bytes of them and none older than
``retain_age_s`` seconds (by modification time), removing the oldest first; the newest
complete file always stays, and a file still being written is never one of them (it has a
temporary name until it is complete). A live run that names no retention of its own gets
`LIVE_RETAIN_BYTES` and `LIVE_RETAIN_AGE_S` (`crowdpose3d.pipeline.defaults`, their owner).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field

from crowdpose3d.pipeline.defaults import LIVE_RETAIN_AGE_S, LIVE_RETAIN_BYTES
from crowdpose3d.pipeline.stage import StageParams


class RetentionParams(StageParams):
    """The retention options of a sink with rolling files (None: no bound of that kind)."""

    retain_parts: int | None = Field(None, ge=1)  # keep only the newest N files
    retain_bytes: int | None = Field(None, ge=1)  # ... and at most this many bytes of them
    retain_age_s: float | None = Field(None, gt=0)  # ... and none older than this


RETENTION_KEYS = ("retain_parts", "retain_bytes", "retain_age_s")  # the options above


def with_live_defaults(params: StageParams, live: bool) -> StageParams:
    """``params`` with the live retention defaults when the run is live and they name no
    retention (``retain_parts``, ``retain_bytes``, ``retain_age_s`` all None)."""
    named = params.retain_parts or params.retain_bytes or params.retain_age_s
    if not live or named:
        return params
    return params.model_copy(
        update={"retain_bytes": LIVE_RETAIN_BYTES, "retain_age_s": LIVE_RETAIN_AGE_S}
    )


def beyond_retention(
    files: Sequence[Path],
    retain_parts: int | None = None,
    retain_bytes: int | None = None,
    retain_age_s: float | None = None,
    now: float | None = None,
) -> list[Path]:
    """The files of ``files`` (complete, oldest first) to remove so that the rest keeps the
    retention: the oldest beyond the count, then those older than the age, then the oldest
    until the bytes fit. The newest file is never among them."""
    kept = list(files)
    removed: list[Path] = []
    if retain_parts is not None and len(kept) > retain_parts:
        removed += kept[:-retain_parts]
        kept = kept[-retain_parts:]
    if retain_age_s is not None:
        oldest = (time.time() if now is None else now) - retain_age_s
        while len(kept) > 1 and kept[0].stat().st_mtime < oldest:
            removed.append(kept.pop(0))
    if retain_bytes is not None:
        total = sum(path.stat().st_size for path in kept)
        while len(kept) > 1 and total > retain_bytes:
            total -= kept[0].stat().st_size
            removed.append(kept.pop(0))
    return removed


def apply_retention(files: Sequence[Path], params: StageParams) -> list[Path]:
    """Remove the files beyond ``params``' retention (`beyond_retention`); returns them."""
    removed = beyond_retention(files, params.retain_parts, params.retain_bytes, params.retain_age_s)
    for path in removed:
        path.unlink(missing_ok=True)
    return removed
