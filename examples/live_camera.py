"""Watch a live camera: the rtsp_live pipeline on an RTSP URL, printing who is in view
every few seconds and writing rolling Parquet parts; Ctrl-C (or --seconds) stops it with
everything flushed.

    python examples/live_camera.py rtsp://user:pass@camera/stream --seconds 600
    python examples/live_camera.py --demo-server      # no camera: serves the demo clip over
                                                      # RTSP (GStreamer, see .ci/run) first

Output: out/examples/live_camera/tracks/ (read it with pandas while it runs: every part
there is complete).
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
from pathlib import Path

from crowdpose3d.demo import make_sample_clip
from crowdpose3d.pipeline.config import load_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?", help="rtsp:// URL of the camera")
    parser.add_argument("--demo-server", action="store_true", help="serve the demo clip")
    parser.add_argument("--seconds", type=float, default=20.0, help="stop after (0: never)")
    parser.add_argument("--every", type=float, default=2.0, help="print every N seconds")
    parser.add_argument("--out", default="out/examples/live_camera")
    args = parser.parse_args()
    if not args.url and not args.demo_server:
        parser.error("give a camera URL or --demo-server")

    server = _start_demo_server(Path(args.out)) if args.demo_server else None
    url = args.url or "rtsp://127.0.0.1:8554/clip"
    config = load_pipeline(
        ROOT / "pipelines" / "rtsp_live.yaml",
        {"url": url, "output": str(Path(args.out) / "tracks"), "retain_parts": "60"},
    )
    runner = PipelineRunner(config, StageContext(overwrite=True))
    runner.open()
    last_print = [0.0]

    def show(frame) -> None:
        if time.monotonic() - last_print[0] >= args.every:
            last_print[0] = time.monotonic()
            people = frame.poses
            ids = sorted(int(i) for i in people.track_id) if people is not None else []
            lag = time.time() - frame.wall_time if frame.wall_time else 0.0
            print(
                f"frame {frame.index} t={frame.pts_s:.1f}s lag {lag * 1000:.0f} ms: "
                f"{len(ids)} people in view, tracks {ids}",
                flush=True,
            )

    if args.seconds:
        threading.Timer(args.seconds, runner.context.stop.set).start()
    try:
        report = runner.run(show)
        print(report.format())
    finally:
        if server is not None:
            server.kill()
    print(f"tracks: {Path(args.out) / 'tracks'}")


def _start_demo_server(out: Path) -> subprocess.Popen:
    """The demo clip over RTSP at rtsp://127.0.0.1:8554/clip (GStreamer's RTSP server)."""
    clip = make_sample_clip(out / "sample", frames=200)
    server = subprocess.Popen(
        ["/usr/bin/python3", str(ROOT / "examples" / "rtsp_server.py"), str(clip.video), "8554"],
        stdout=subprocess.PIPE,
        text=True,
    )
    if server.stdout.readline().strip() != "ready":
        raise SystemExit("the RTSP server did not start: install GStreamer's (see .ci/run)")
    return server


if __name__ == "__main__":
    main()
