"""The events sink: complete Parquet parts only, read back with pandas, refusal and resume."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from crowdpose3d.pipeline.facts import RunFacts
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.plan import ResumePoint, RunPlan
from crowdpose3d.pipeline.stage import StageContext, StageError, build_stage
from crowdpose3d.tracks.events import (
    EVENT_COLUMNS,
    FRAME_EVENTS_KEY,
    ZONE_ENTER,
    Event,
    read_events,
)
from crowdpose3d.tracks.schema import read_part_metadata


def frames(first: int, last: int) -> list[Frame]:
    """Frames first..last, each with one zone_enter event of track id = frame."""
    return [
        Frame(
            "cam",
            i,
            i / 10,
            None,
            data={
                FRAME_EVENTS_KEY: [
                    Event(
                        source="cam",
                        kind=ZONE_ENTER,
                        region="z",
                        space="image",
                        frame=i,
                        time_s=i / 10,
                        track_id=i,
                        xy=(1.0, 2.0),
                    )
                ]
            },
        )
        for i in range(first, last + 1)
    ]


def write(directory, frame_list, context=None, **options):
    sink = build_stage("events", {"path": str(directory), **options})
    sink.open(context or StageContext(facts=RunFacts(source_id="cam", fps=10.0)))
    passed = list(sink(iter(frame_list)))
    sink.close()
    return sink, passed


def test_parts_hold_every_event_and_read_back_with_pandas(tmp_path):
    sink, passed = write(tmp_path / "events", frames(0, 24), events_per_part=10)
    assert len(passed) == 25
    assert [p.name for p in sink.parts_written] == [f"part-{k:06d}.parquet" for k in range(3)]
    events = pd.read_parquet(tmp_path / "events")  # plain pandas reads the folder
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert events["track_id"].tolist() == list(range(25))
    assert read_events(tmp_path / "events")["frame"].tolist() == list(range(25))
    info = read_part_metadata(sink.parts_written[1])
    assert (info["first_frame"], info["last_frame"], info["fps"]) == (10, 19, 10.0)
    assert not list((tmp_path / "events").glob(".*"))  # no temporaries left


def test_an_existing_folder_is_refused_replaced_or_resumed(tmp_path):
    folder = tmp_path / "events"
    write(folder, frames(0, 9), events_per_part=4)
    with pytest.raises(StageError, match="--overwrite"):
        write(folder, frames(0, 9))
    (folder / ".part-000009.tmp").write_bytes(b"half a part")  # a killed run's leftover
    resume = StageContext(resume=True, plan=RunPlan(resume_point=ResumePoint(after_frame=5)))
    sink, _ = write(folder, frames(6, 12), context=resume)
    assert sink.parts_written[0].name == "part-000003.parquet"  # numbering continues
    assert read_events(folder)["frame"].tolist() == list(range(13))  # 6..9 not twice
    assert not (folder / ".part-000009.tmp").exists()
    write(folder, frames(0, 2), context=StageContext(overwrite=True))
    assert read_events(folder)["frame"].tolist() == [0, 1, 2]
    assert pq.read_table(next(folder.glob("part-*.parquet"))).num_rows == 3
