"""A soak test of a live run: a real GStreamer RTSP server on loopback that stops and comes
back every 20-60 s while `crowdpose3d run` reads it, for ``--minutes`` (30 by default).

The pipeline is the live one minus the model (so that two shared CPU cores keep up with 25
fps): the RTSP source, `SyntheticPeople` (moving boxes, so the tracker and the sinks have
work), the track stage, the Parquet sink (a part every 5 s, the newest 40 kept), the MOT
sink (20 s MOTChallenge segments, the newest 5 kept), the overlay (playable 20 s segments,
the newest 5 kept) and `LatencyProbe`, which records each frame's
age from its arrival (``wall_time``) to the end of the pipeline. ``--model`` puts the shipped
model in instead of `SyntheticPeople` (it needs a machine that keeps up).

Prints, from one run: the resident memory, threads and open files of the `crowdpose3d run`
process over time (sampled every 10 s; growth after warm-up), every outage of the server
and every gap the run recorded (reconnect events in the Parquet parts' metadata), whether
frames were lost only while the server was down (holes in the arrival times outside the
outages, frames dropped by the runner), the end-to-end latency p50 / p99, and the files
kept on disk over time and at the end (Parquet parts, overlay and MOT segments: bounded by
their retention; every kept segment plays / parses).

    nice -n 10 python benchmarks/live_soak.py --minutes 30
    python benchmarks/live_soak.py --minutes 2 --work /tmp/soak   # a short check
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pandas as pd
import yaml

from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import BaseStage, StageParams
from crowdpose3d.poses import Poses
from crowdpose3d.stages import mot as mot_sink
from crowdpose3d.stages import overlay as overlay_sink
from crowdpose3d.tracks.schema import read_part_metadata

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "examples" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # has PyGObject for gst-rtsp-server
FPS = 25  # of the served clip
CLIP_SECONDS = 120  # longer than the longest up-time, so the stream never ends by itself
UP_S = (20.0, 60.0)  # the server runs this long (uniform) ...
DOWN_S = (1.0, 5.0)  # ... then is down this long
SAMPLE_EVERY_S = 10.0  # how often the process's memory, threads and files are read
WARM_UP_SHARE = 0.2  # growth is measured against the samples after this share of the run
HOLE_S = 0.5  # arrival times further apart than this are a hole (25 fps: 0.04 s apart)
TAIL_S = 10.0  # no outage starts this close to the end, so frames follow every outage
JOINTS = 22  # of the synthetic people
RETAIN_PARTS = 40  # Parquet parts kept (a part every PART_S)
PART_S = 5.0
SEGMENT_S = 20.0  # overlay and MOT segments: a new one this often (seconds of stream)
RETAIN_SEGMENTS = 5  # ... and the newest this many complete ones kept


class SyntheticPeopleParams(StageParams):
    people: int = 8


class SyntheticPeople(BaseStage):
    """``people`` boxes walking across the image (no model): work for the tracker."""

    Params = SyntheticPeopleParams

    def open(self, context) -> None:
        super().open(context)
        context.facts.joint_names = [f"j{k}" for k in range(JOINTS)]

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        n = self.params.people
        for frame in frames:
            height, width = frame.size
            t = frame.pts_s
            x = (np.arange(n) * width / n + 3.0 * t) % (width - 12)  # (n,) pixels
            boxes = np.stack([x, np.full(n, 10.0), x + 12, np.full(n, 60.0)], 1)  # (n, 4)
            kp2d = boxes[:, None, :2] + np.linspace(0, 10, JOINTS)[None, :, None]  # (n, K, 2)
            frame.poses = Poses(
                boxes=boxes,
                scores=np.full(n, 0.9),
                kp2d=kp2d,
                kp3d_rel=np.zeros((n, JOINTS, 3)),
                kp3d=np.full((n, JOINTS, 3), 1.0),
                root=np.stack([x / 100, np.zeros(n), np.full(n, 5.0)], 1),
            )
            yield frame


class LatencyProbeParams(StageParams):
    path: str  # JSON file of the latencies, written at close


class LatencyProbe(BaseStage):
    """Records each frame's seconds from its arrival to here (the end of the pipeline)."""

    Params = LatencyProbeParams

    def __init__(self, params: LatencyProbeParams) -> None:
        super().__init__(params)
        self.latencies: list[float] = []

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            if frame.wall_time is not None:
                self.latencies.append(time.time() - frame.wall_time)
            yield frame

    def close(self) -> None:
        Path(self.params.path).write_text(json.dumps(self.latencies))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run (30)")
    parser.add_argument("--work", default="out/live_soak", help="working folder (replaced)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the up/down times")
    parser.add_argument("--model", action="store_true", help="the shipped model, not boxes")
    return parser.parse_args(argv)


def write_clip(path: Path) -> Path:
    """H.264 without B-frames (RTP needs it), a moving square so frames differ."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 192, "yuv420p"
        stream.options = {"bf": "0", "g": str(FPS)}
        for i in range(CLIP_SECONDS * FPS):
            image = np.zeros((192, 320, 3), np.uint8)
            image[60:120, i % 260 : i % 260 + 60] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """The RTSP server process; `start` waits until it serves."""

    def __init__(self, clip: Path, port: int) -> None:
        self.clip, self.port, self.process = clip, port, None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), str(self.clip), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        if self.process.stdout.readline().strip() != "ready":
            raise SystemExit("live_soak: the GStreamer RTSP server did not start")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def pipeline(url: str, work: Path, model: bool) -> dict:
    people = (
        {"type": "pandanet", "model": "builtin:crowd-small", "device": "cpu"}
        if model
        else {"type": "live_soak:SyntheticPeople"}
    )
    stages = [people] + ([{"type": "lift"}] if model else []) + [{"type": "track"}]
    return {
        "source": {
            "type": "video", "uri": url, "open_timeout_s": 3, "read_timeout_s": 3,
            "reconnect_initial_delay_s": 0.5, "reconnect_max_delay_s": 2.0,
        },
        "stages": stages,
        "sinks": [
            {"type": "parquet", "path": str(work / "tracks"), "seconds_per_part": PART_S,
             "retain_parts": RETAIN_PARTS},
            {"type": "mot", "path": str(work / "mot.txt"), "segment_s": SEGMENT_S,
             "retain_parts": RETAIN_SEGMENTS},
            {"type": "overlay", "path": str(work / "overlay.mp4"), "segment_s": SEGMENT_S,
             "retain_parts": RETAIN_SEGMENTS},
            {"type": "live_soak:LatencyProbe", "path": str(work / "latency.json")},
        ],
        "runner": {"report_every_s": 60},
    }  # fmt: skip


def sample(pid: int) -> dict[str, float]:
    """Resident memory (MiB), threads and open files of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
        "threads": int(fields["Threads"]),
        "files": len(os.listdir(f"/proc/{pid}/fd")),
    }


def on_disk(work: Path) -> dict[str, float]:
    """The run's outputs on disk now: complete Parquet parts, overlay and MOT segments (the
    files being written are hidden temporary files, not counted) and their MiB."""
    kept = {
        "parts": sorted((work / "tracks").glob("part-*.parquet")),
        "overlays": overlay_sink.segments(work / "overlay.mp4"),
        "mots": mot_sink.segments(work / "mot.txt"),
    }
    figures: dict[str, float] = {name: len(paths) for name, paths in kept.items()}
    sizes = []
    for path in (p for paths in kept.values() for p in paths):
        try:
            sizes.append(path.stat().st_size)
        except FileNotFoundError:  # removed by the retention meanwhile
            pass
    figures["disk_mib"] = sum(sizes) / 2**20
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    work = Path(args.work)
    if work.exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    server = Server(write_clip(work / "clip.mp4"), free_port())
    config = work / "soak.yaml"
    url = f"rtsp://127.0.0.1:{server.port}/clip"
    config.write_text(yaml.safe_dump(pipeline(url, work, args.model)))
    server.start()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent)}
    log = open(work / "run.log", "w")  # noqa: SIM115 - open for the whole run
    run = subprocess.Popen(
        [sys.executable, "-m", "crowdpose3d.cli", "run", str(config), "--allow-custom-stages"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    started = time.time()
    end = started + 60 * args.minutes
    outages: list[tuple[float, float]] = []  # (down at, up again at), wall time
    samples: list[tuple[float, dict]] = []
    next_toggle = started + rng.uniform(*UP_S)
    next_sample = started
    while time.time() < end and run.poll() is None:
        now = time.time()
        if now >= next_sample:
            samples.append((now - started, sample(run.pid) | on_disk(work)))
            next_sample += SAMPLE_EVERY_S
        if now >= next_toggle and now + DOWN_S[1] + TAIL_S < end:  # frames follow each outage
            down_at = time.time()
            server.stop()
            time.sleep(rng.uniform(*DOWN_S))
            server.start()
            outages.append((down_at, time.time()))
            next_toggle = time.time() + rng.uniform(*UP_S)
        time.sleep(0.2)
    crashed = run.poll() is not None
    run.send_signal(signal.SIGTERM)
    code = run.wait(timeout=120)
    server.stop()
    log.close()
    return report(args, work, started, outages, samples, code, crashed)


def report(args, work, started, outages, samples, code, crashed) -> int:
    """Print the figures of one soak run."""
    duration = time.time() - started
    print(f"live soak: {duration / 60:.1f} min, {len(outages)} server outages, exit {code}")
    if crashed:
        print("the run ended by itself (see run.log): FAILED")
    print(
        f"{'t (min)':>8} {'RSS MiB':>9} {'threads':>8} {'files':>6} {'parts':>6} "
        f"{'overlays':>9} {'mots':>5} {'disk MiB':>9}"
    )
    for t, figures in samples[:: max(1, len(samples) // 20)]:
        print(
            f"{t / 60:>8.1f} {figures['rss_mib']:>9.1f} {figures['threads']:>8} "
            f"{figures['files']:>6} {figures['parts']:>6} {figures['overlays']:>9} "
            f"{figures['mots']:>5} {figures['disk_mib']:>9.1f}"
        )
    report_disk(work, samples)
    after = [f for t, f in samples if t >= WARM_UP_SHARE * duration]
    if len(after) >= 2:
        for key in ("rss_mib", "threads", "files"):
            # Memory: means of 3 samples (less noisy). Threads and files: the most of 3, as
            # a sample taken while the server is down misses the decoder's threads and
            # socket (they come back on reconnection); a leak raises the most, a dip does not.
            window = np.mean if key == "rss_mib" else np.max
            first = window([f[key] for f in after[:3]])
            last = window([f[key] for f in after[-3:]])
            growth = 100 * (last - first) / first
            flag = "met" if growth <= 5 else "NOT met"
            print(
                f"{key} after warm-up: {first:.1f} -> {last:.1f} ({growth:+.1f} %; <= 5 %: {flag})"
            )
    parts = sorted((work / "tracks").glob("part-*.parquet"))
    events = [e for p in parts for e in read_part_metadata(p).get("stream_events", [])]
    rows = pd.read_parquet(work / "tracks", columns=["frame", "wall_time"]) if parts else None
    reconnects = [e for e in events if e["kind"] == "reconnect"]
    print(f"outages (s): {' '.join(f'{b - a:.1f}' for a, b in outages)}")
    print(
        f"gaps recorded in the kept parts ({len(parts)} parts, the newest {RETAIN_PARTS}): "
        + " ".join(f"{e['gap_s']:.1f}" for e in reconnects)
    )
    if rows is not None:
        arrivals = np.sort(rows.drop_duplicates("frame")["wall_time"].to_numpy())
        kept_from = arrivals[0]
        holes = [(a, b) for a, b in zip(arrivals[:-1], arrivals[1:], strict=True) if b - a > HOLE_S]
        unexplained = [
            (a, b) for a, b in holes if not any(a <= up and b >= down for down, up in outages)
        ]
        covered = [(a, b) for a, b in outages if a >= kept_from]
        print(
            f"holes in the kept frames' arrival times: {len(holes)}, during an outage: "
            f"{len(holes) - len(unexplained)}, outside every outage: {len(unexplained)}; "
            f"outages in the kept span: {len(covered)}"
        )
    text = (work / "run.log").read_text()
    dropped = [line for line in text.splitlines() if line.startswith("source:video")]
    if dropped:
        print("runner report, source: " + dropped[-1])
    latency = np.asarray(json.loads((work / "latency.json").read_text())) * 1000
    if len(latency):
        print(
            f"latency arrival -> end of pipeline over {len(latency)} frames: "
            f"p50 {np.percentile(latency, 50):.1f} ms, p99 {np.percentile(latency, 99):.1f} ms"
        )
    return 0 if code == 143 and not crashed else 1


def report_disk(work: Path, samples: list[tuple[float, dict]]) -> None:
    """The files kept at the end, the most kept at any sample against the retention, and
    whether every kept segment is readable."""
    end = on_disk(work)
    bounds = {"parts": RETAIN_PARTS, "overlays": RETAIN_SEGMENTS, "mots": RETAIN_SEGMENTS}
    for name, bound in bounds.items():
        most = max([f[name] for _, f in samples] + [end[name]])
        flag = "met" if most <= bound else "NOT met"
        print(f"{name} kept at the end: {end[name]:.0f}, most at any sample: {most:.0f} "
              f"(retention {bound}: {flag})")  # fmt: skip
    most_mib = max([f["disk_mib"] for _, f in samples] + [end["disk_mib"]])
    print(f"disk used by the kept outputs at the end: {end['disk_mib']:.1f} MiB, most at any "
          f"sample: {most_mib:.1f} MiB")  # fmt: skip
    overlays = overlay_sink.segments(work / "overlay.mp4")
    playing = sum(overlay_sink.playable_frames(path) > 0 for path in overlays)
    mots = mot_sink.segments(work / "mot.txt")
    parsed = 0
    for path in mots:
        lines = path.read_text().splitlines()
        parsed += all(len(line.split(",")) == 10 for line in lines)
    print(f"kept overlay segments that play: {playing}/{len(overlays)}; kept MOT segments of "
          f"10-column MOTChallenge lines: {parsed}/{len(mots)}; first kept MOT segment: "
          f"{mots[0].name if mots else '-'}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
