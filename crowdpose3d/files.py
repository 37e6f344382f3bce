"""Writing files so that a reader never sees half of one, even after a crash.

Every writer of the package (the Parquet, MOT and overlay sinks, the batch's partitions,
checkpoints, the synthetic data writer, the dataset caches) writes under a temporary name
beside the target, then `publish`es: fsync of the file, rename over the target, fsync of
the folder (so the rename itself survives a power loss).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_beside(path: str | Path, suffix: str = ".partial") -> Path:
    """The temporary name of ``path`` while it is written: hidden, in the same folder (a
    rename within one file system is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}{suffix}")


def fsync_path(path: str | Path) -> None:
    """Flush a file's or a folder's data and metadata to the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish(temporary: str | Path, path: str | Path) -> None:
    """Make the finished ``temporary`` (a file or a folder) the new ``path``, durably."""
    temporary, path = Path(temporary), Path(path)
    fsync_path(temporary)
    os.replace(temporary, path)
    fsync_path(path.parent)


@contextmanager
def atomic_path(path: str | Path, temporary: str | Path | None = None) -> Iterator[Path]:
    """``with atomic_path(target) as partial: write(partial)``: `publish` when the block
    succeeds, remove ``partial`` when it fails. ``temporary`` defaults to `temporary_beside`."""
    partial = Path(temporary) if temporary is not None else temporary_beside(path)
    try:
        yield partial
        publish(partial, path)
    finally:
        partial.unlink(missing_ok=True)
