"""Reading the tracks dataset back: folders, part files, globs and hive partitions.

`read_tracks` gives one DataFrame (one row per frame and tracked person, the columns of
`crowdpose3d.tracks.schema`); `read_frame_index` lists every frame the parts cover, people
or not; `resume_point` is where a run that wrote a folder of parts stopped.

pandas and pyarrow.dataset (about 100 MB of resident memory together) are imported by the
readers that use them, not with this module: the Parquet sink needs only `resume_point`.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crowdpose3d.messages import first_line
from crowdpose3d.tracks.schema import FRAME, PART_GLOB, SOURCE, TIME, TRACK_ID, read_part_metadata

if TYPE_CHECKING:
    import pandas as pd

PathLike = str | os.PathLike[str]
Paths = PathLike | Sequence[PathLike]

SOURCE_DTYPE = "string"  # pandas' string dtype, for `source` and hive partition keys
_GLOB_CHARACTERS = "*?["  # a path holding one of these is a glob pattern


def read_tracks(paths: Paths, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read tracks part files into one DataFrame sorted by source, frame, track_id.

    ``paths`` is a folder, a part file, a glob (``"runs/*/tracks"``; ``**`` recurses) or a
    list of these. Folders are searched recursively for ``*.parquet``; hidden names (the
    ``.part-*.tmp`` of a run in progress) are skipped. Hive folders (``source=cam1/``) add
    their keys as string columns; where the files hold the column too, the folder's value
    is used and the column appears once. Column types are the files' (frame and track_id
    int64, measurements float32); ``source`` has pandas' string dtype. ``columns`` reads
    only those (plus the sort keys).
    """
    parts = _find_parts(paths)
    if columns is not None:
        columns = list(dict.fromkeys([*columns, SOURCE, FRAME, TRACK_ID]))
    by_base: dict[Path, list[Path]] = {}
    for file, base in parts:
        by_base.setdefault(base, []).append(file)
    tables = [_read_base(base, files, columns) for base, files in by_base.items()]
    table = pa.concat_tables(tables, promote_options="default")
    tracks = table.to_pandas(types_mapper=_string_types)  # imports pandas
    order = [name for name in (SOURCE, FRAME, TRACK_ID) if name in tracks.columns]
    return tracks.sort_values(order, kind="stable", ignore_index=True)


def read_frame_index(paths: Paths) -> pd.DataFrame:
    """Every frame the part files cover: columns source, frame, time_s (s).

    Frames where nobody was seen write no rows, but each part's metadata names the first and
    last frame it covers; pass this index to `density` so those frames count as 0 people.
    ``time_s`` is nominal (frame / fps; NaN without fps); `density` replaces it with the
    tracks' own stream times where it can.
    """
    import pandas as pd

    pieces = []
    for path, base in _find_parts(paths):
        info = read_part_metadata(path)
        first, last = info.get("first_frame"), info.get("last_frame")
        if first is None or last is None:
            raise ValueError(
                f"{path} has no first_frame/last_frame metadata (not written by the crowdpose3d "
                "parquet sink); analyse it without a frame index"
            )
        frames = np.arange(int(first), int(last) + 1, dtype=np.int64)
        fps = info.get("fps")
        times = frames / float(fps) if fps else np.full(len(frames), np.nan)
        source = _part_source(path, base, info)
        pieces.append(pd.DataFrame({SOURCE: source, FRAME: frames, TIME: times}))
    index = pd.concat(pieces, ignore_index=True).astype({SOURCE: SOURCE_DTYPE})
    index = index.drop_duplicates([SOURCE, FRAME])
    return index.sort_values([SOURCE, FRAME], ignore_index=True)


def _find_parts(paths: Paths) -> list[tuple[Path, Path]]:
    """(part file, partition base folder) for each Parquet file ``paths`` names, once."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    found: dict[Path, tuple[Path, Path]] = {}
    for item in items:
        text = os.fspath(item)
        if any(character in text for character in _GLOB_CHARACTERS):
            matches = [Path(match) for match in sorted(glob.glob(text, recursive=True))]
            base: Path | None = _partition_base(_glob_root(text))
        else:
            matches, base = [Path(text)], None
        for match in matches:
            if match.is_dir():
                root = base or _partition_base(match)
                files = [p for p in sorted(match.rglob("*.parquet")) if not _hidden(p, match)]
            elif match.is_file() and match.suffix == ".parquet" and not _hidden(match):
                root, files = base or _partition_base(match.parent), [match]
            else:
                continue
            for file in files:
                found.setdefault(file.resolve(), (file, root))
    if not found:
        named = [os.fspath(item) for item in items]
        raise ValueError(
            f"no tracks part files (*.parquet) match {', '.join(named) or 'nothing'}; pass the "
            "output folder of `crowdpose3d track`, a list of folders or a glob"
        )
    return list(found.values())


def _glob_root(pattern: str) -> Path:
    """The folders of a glob pattern before its first wildcard component."""
    parts = Path(pattern).parts
    fixed = next(i for i, part in enumerate(parts) if any(c in part for c in _GLOB_CHARACTERS))
    return Path(*parts[:fixed]) if fixed else Path(".")


def _partition_base(folder: Path) -> Path:
    """The folder above any trailing hive ``key=value`` folders (``out/source=a`` -> ``out``)."""
    while "=" in folder.name:
        folder = folder.parent
    return folder


def _hidden(path: Path, root: Path | None = None) -> bool:
    parts = path.relative_to(root).parts if root is not None else (path.name,)
    return any(part.startswith((".", "_")) for part in parts)


def _partitions(file: Path, base: Path) -> dict[str, str]:
    """Hive ``key=value`` folders between ``base`` and ``file``."""
    folders = file.parent.relative_to(base).parts if file.is_relative_to(base) else ()
    return dict(part.split("=", 1) for part in folders if "=" in part)


def _read_base(base: Path, files: list[Path], columns: list[str] | None) -> pa.Table:
    """The part files under one partition base as one table (hive keys as columns)."""
    import pyarrow.dataset as ds

    schemas = [pq.read_schema(file).remove_metadata() for file in files]
    try:
        file_schema = pa.unify_schemas(schemas)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise ValueError(
            f"part files under {base} disagree on a column: {first_line(error)}"
        ) from None
    keys = list(dict.fromkeys(key for file in files for key in _partitions(file, base)))
    key_fields = [
        file_schema.field(key) if key in file_schema.names else pa.field(key, pa.string())
        for key in keys
    ]
    schema = pa.schema(
        [f for f in key_fields if f.name not in file_schema.names] + list(file_schema)
    )
    dataset = ds.dataset(
        [str(file) for file in files],
        schema=schema,
        format="parquet",
        partitioning=ds.HivePartitioning(pa.schema(key_fields)) if keys else None,
        partition_base_dir=str(base) if keys else None,
    )
    if columns is not None:
        columns = [name for name in schema.names if name in columns]  # in the files' order
    return dataset.to_table(columns=columns)


def _part_source(file: Path, base: Path, info: dict) -> str:
    """The source id of one part: its hive folder, its metadata, else its first row."""
    source = _partitions(file, base).get(SOURCE) or info.get("source_id")
    if source is None and SOURCE in pq.read_schema(file).names:
        values = pq.read_table(file, columns=[SOURCE]).column(SOURCE).to_pylist()
        source = values[0] if values else None
    if source is None:
        raise ValueError(f"{file} names no source (no source_id metadata, no source column)")
    return str(source)


def _string_types(arrow_type: pa.DataType) -> pd.api.extensions.ExtensionDtype | None:
    import pandas as pd

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return pd.StringDtype()
    return None


def resume_point(directory: str | Path) -> tuple[int, int]:
    """(last frame covered, largest track id) over the complete parts of ``directory``;
    (-1, -1) when it holds none. ValueError (one line) for an unreadable part."""
    last_frame, last_track = -1, -1
    for path in sorted(Path(directory).glob(PART_GLOB)):
        try:
            info = read_part_metadata(path)
            ids = pq.read_table(path, columns=[TRACK_ID]).column(TRACK_ID).to_numpy()
        except (OSError, ValueError, pa.ArrowException) as error:
            raise ValueError(f"{path} is unreadable ({first_line(error)})") from None
        last_frame = max(last_frame, int(info.get("last_frame", -1)))
        last_track = max(last_track, int(ids.max()) if len(ids) else -1)
    return last_frame, last_track
