"""`crowdpose3d serve`: camera groups as Ray actors on a local cluster, real RTSP servers; an
actor killed mid-run is restarted by Ray and continues its cameras' parts."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import pandas as pd
import pytest
from test_rtsp import Server, _server_available, free_port, wait_for

from crowdpose3d.cli import main
from crowdpose3d.demo import make_sample_clip
from crowdpose3d.pipeline.config import ConfigError
from crowdpose3d.serve import CameraGroup, CameraServer, load_cameras, plan_groups
from crowdpose3d.tracks import schema
from crowdpose3d.tracks.schema import PART_GLOB, part_number


def cameras_file(output, uris: list[str], **extra) -> dict:
    return {
        "output": str(output),
        "cameras": [{"id": f"cam{i}", "uri": uri} for i, uri in enumerate(uris)],
        "group_size": 1,
        **extra,
    }


def test_cameras_are_grouped_and_each_writes_its_own_partition(tmp_path):
    data = cameras_file(tmp_path / "live", ["rtsp://a/s", "rtsp://b/s", "rtsp://c/s"])
    data["group_size"] = 2
    data["cameras"][2]["group"] = "east"
    plan = plan_groups(data)
    assert plan.cameras == {"group0": ["cam0", "cam1"], "east": ["cam2"]}
    sources = plan.groups["group0"]["sources"]
    assert [s["source_id"] for s in sources] == ["cam0", "cam1"]
    assert plan.groups["group0"]["sinks"][0]["path"] == str(tmp_path / "live")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cameras": [{"id": "a", "uri": "x"}, {"id": "a", "uri": "y"}]}, "'a' is used twice"),
        ({"cameras": [{"id": "a/b", "uri": "x"}]}, "cameras.0.id"),
        ({"actor": {"num_cpus": 0}}, "actor.num_cpus"),
        ({"pipeline": {"stages": [{"type": "lift", "bogus": 1}]}}, "(lift): bogus"),
    ],
)
def test_a_wrong_cameras_file_is_one_line(tmp_path, change, message):
    data = {**cameras_file(tmp_path, ["rtsp://a/s"]), **change}
    with pytest.raises(ConfigError) as error:
        plan_groups(data)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_serve_without_a_cameras_file_is_one_line(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "none.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "cameras file not found" in err and "\n" not in err


def street_clip(folder: Path, seconds: float, fps: int) -> Path:
    """A generated street with people (`make_sample_clip`), looped to ``seconds``; H.264
    without B-frames, as RTP needs."""
    sample = make_sample_clip(folder / "sample", seed=3, frames=20, fps=fps, size=(160, 256))
    with av.open(str(sample.video)) as container:
        images = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    path = folder / "street.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width, stream.pix_fmt = 160, 256, "yuv420p"
        stream.options = {"bf": "0", "g": str(fps), "preset": "veryfast"}
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(images[i % len(images)], format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def parts(folder) -> list:
    return sorted(folder.glob(PART_GLOB), key=part_number)


@pytest.mark.ray
@pytest.mark.rtsp
@pytest.mark.slow
@pytest.mark.skipif(not _server_available(), reason="GStreamer RTSP server not installed")
def test_a_killed_group_is_restarted_and_continues_its_cameras_parts(tmp_path):
    ray = pytest.importorskip("ray")
    clip = street_clip(tmp_path, seconds=240, fps=10)
    servers = [Server(clip, free_port()) for _ in range(2)]
    for server in servers:
        server.start()
    out = tmp_path / "live"
    file = tmp_path / "cameras.yaml"
    file.write_text(
        f"output: {out}\n"
        "group_size: 1\n"
        "seconds_per_part: 1\n"
        "device: cpu\n"
        "actor: {num_cpus: 1, max_restarts: 3}\n"
        "cameras:\n"
        + "".join(
            f"  - {{id: cam{i}, uri: 'rtsp://127.0.0.1:{s.port}/clip', open_timeout_s: 20}}\n"
            for i, s in enumerate(servers)
        )
    )
    plan = load_cameras(file)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    server = CameraServer(plan, ray)
    try:
        server.start()
        killed, other = out / "source=cam0", out / "source=cam1"
        assert wait_for(lambda: len(parts(killed)) >= 2 and len(parts(other)) >= 1, 300)
        before = {path.name: pd.read_parquet(path) for path in parts(killed)}
        last_frame = max(int(schema.read_part_metadata(killed / n)["last_frame"]) for n in before)
        status = server.poll(60)
        assert status["group0"]["restarted"] is False
        ray.kill(server.actors["group0"], no_restart=False)  # the process dies mid-run
        assert wait_for(lambda: _restarted(server), 180), "Ray did not restart the group"
        assert wait_for(lambda: len(parts(killed)) >= len(before) + 2, 120)
        other_frames = server.poll(60)["group1"]["frames"]["cam1"]
        finals = server.stop()
    finally:
        ray.shutdown()
        for s in servers:
            s.kill()
    assert other_frames > 0 and finals["group1"]["restarted"] is False  # never disturbed
    assert finals["group0"]["restarted"] is True
    now = parts(killed)
    for name, table in before.items():  # nothing complete is lost
        pd.testing.assert_frame_equal(pd.read_parquet(killed / name), table)
    new = [path for path in now if path.name not in before]
    numbers = [part_number(path) for path in now]
    assert numbers == sorted(numbers) and min(part_number(p) for p in new) > max(
        part_number(killed / name) for name in before
    )  # new parts continue the numbering
    first_new = min(int(schema.read_part_metadata(p)["first_frame"]) for p in new)
    assert first_new > last_frame  # and the frame numbers
    assert len(pd.concat(pd.read_parquet(path) for path in new)) > 0  # people, after it
    rows = pd.read_parquet(out)  # the hive dataset: every camera with its source
    assert set(rows[schema.SOURCE].astype(str)) == {"cam0", "cam1"}


def _restarted(server: CameraServer) -> bool:
    status = server.poll(5).get("group0")
    return isinstance(status, dict) and status["restarted"]


def group_pipeline(tmp_path, source: dict) -> dict:
    return {
        "sources": [source],
        "stages": [{"type": "pipeline_helpers:StampPeople"}],
        "sinks": [{"type": "parquet", "path": str(tmp_path / "live")}],
    }


def test_a_group_runs_its_cameras_on_its_own_thread(tmp_path):
    source = {"type": "pipeline_helpers:CountingSource", "source_id": "cam0", "frames": 5}
    group = CameraGroup("g", group_pipeline(tmp_path, source), threads=1)
    assert wait_for(lambda: not group.thread.is_alive(), 60)
    final = group.stop()
    assert final["frames"] == {"cam0": 5} and final["error"] is None
    assert final["restarted"] is False  # outside Ray: never a restart
    assert len(pd.read_parquet(tmp_path / "live")) == 5


def test_a_group_whose_camera_is_down_at_start_keeps_trying(tmp_path):
    url = f"rtsp://user:pw@127.0.0.1:{free_port()}/none"
    source = {"type": "video", "uri": url, "source_id": "cam0", "open_timeout_s": 1}
    group = CameraGroup("g", group_pipeline(tmp_path, source), threads=1)
    assert wait_for(lambda: group.status()["error"] is not None, 30)
    status = group.status()
    assert status["running"] is False and "cannot open yet" in status["error"]
    assert "pw" not in status["error"]
    final = group.stop()  # stops the retrying at once
    assert not group.thread.is_alive() and final["frames"] == {}
