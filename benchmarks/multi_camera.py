"""Many live cameras: one batched process against one process per camera, same run.

    nice -n 10 python benchmarks/multi_camera.py            # 1, 2, 4 cameras at 10 and 25 fps
    nice -n 10 python benchmarks/multi_camera.py --full     # 1, 2, 4, 8 cameras, longer windows
    python benchmarks/multi_camera.py --cameras 4 --fps 10 --seconds 30

Every camera is a real GStreamer RTSP server on loopback (examples/rtsp_server.py) playing a
generated street clip (`crowdpose3d.demo.make_sample_clip`, 512x320, looped) in real time.
For each (cameras, fps) two set-ups run against fresh servers, one after the other:

- ``batched``: one process, a pipeline with ``sources:`` (`crowdpose3d.pipeline.multi`): one
  model, one forward per batch of whatever frames wait (``max_batch`` = cameras), then lift,
  track and a Parquet sink per camera; ``--workers 1 2`` runs it once per number of model
  workers (``batcher.workers``: each its own model copy on its own thread, the CPUs divided
  among them), as rows ``batched-w1``, ``batched-w2`` (the default, auto: row ``batched``,
  two workers on a CPU with two or more cores);
- ``per-camera``: one process per camera, each the live single-source pipeline of
  pipelines/rtsp_live.yaml (batch 1), all at once, as an operator runs them today.

Both use the shipped model with the same backend and precision (``--backend``,
``--precision``; auto by default) and every CPU (``--threads`` sets the model's threads in
every process instead). Each process opens its pipeline, says
"ready", and all start together; after ``--warmup`` s, the frames that reach the end of the
pipeline during ``--seconds`` s are counted. Per camera: sustained fps (frames out per
second), dropped frames (frame numbers the camera sent in the window that never came out:
live queues drop the oldest when the model is behind), and the latency p50 / p99 from the
frame's arrival (decoded, ``Frame.wall_time``) to the end of the pipeline. The gain is the
batched total fps over the per-camera total fps. Target (issue 18): at 4 cameras gain >= 1.5
with p99 < 1 s per camera. The load average of the machine before and after each run is
printed: on a shared machine the other jobs take their share of the CPUs, and N processes
get a larger share than one, so the CPU-seconds each set-up used in the window
(``time.process_time`` of every process) are printed too, with frames per CPU-second and
the gain per CPU-second: the cost of a frame whatever the share. For each batched row, the
shared model's figures over the whole run (`MultiRunner.snapshot`) say where it waited:
the mean batch, the batcher's wait p50 (first frame in to the model call) and the model's
busy share (seconds inside the model stage per second, summed over its workers).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "examples" / "rtsp_server.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # has PyGObject and gst-rtsp-server (scripts/system-packages.sh)
CLIP_SIZE = (320, 512)  # (H, W): the model's input size, so no resize cost hides the model's
SOURCE_FRAMES = 60  # distinct frames rendered; the clip loops them
READY_TIMEOUT_S = 300  # a process that has not opened its pipeline by then is a failure
OPEN_ALLOWANCE_S = 90  # the clip outlasts a slow model load (a stream starts at connection)
QUEUE_SIZE = 4  # frames between stages, as pipelines/rtsp_live.yaml
# The shared model's figures a batched row prints (`MultiRunner.snapshot`, its last row).
MODEL_FIGURES = (
    "workers",
    "batch_size_mean",
    "batch_wait_p50_ms",
    "model_busy_fraction",
    "letterbox_ms",
    "forward_ms",
    "decode_ms",
)


def write_looped_clip(path: Path, fps: int, seconds: float, work: Path) -> Path:
    """A street clip of ``seconds`` at ``fps``: `make_sample_clip` frames, looped; H.264
    without B-frames (RTP needs that)."""
    from crowdpose3d.demo import make_sample_clip

    sample = make_sample_clip(work / "sample", seed=18, frames=SOURCE_FRAMES, size=CLIP_SIZE)
    with av.open(str(sample.video)) as container:
        images = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = CLIP_SIZE
        stream.pix_fmt = "yuv420p"
        stream.options = {"bf": "0", "g": str(fps), "preset": "veryfast"}
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(images[i % len(images)], format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_servers(clip: Path, count: int) -> tuple[list[subprocess.Popen], list[str]]:
    processes, urls = [], []
    for _ in range(count):
        port = free_port()
        process = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), str(clip), str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the RTSP server did not start (scripts/system-packages.sh)")
        processes.append(process)
        urls.append(f"rtsp://127.0.0.1:{port}/clip")
    return processes, urls


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


# --- a worker process: one pipeline, measured ------------------------------------------------


def pipeline_stages(args: argparse.Namespace) -> list[dict]:
    return [
        {
            "type": "pandanet",
            "device": "cpu",
            "backend": args.backend,
            "precision": args.precision,
            "batch_size": 1,
            "threads": args.threads or None,  # None: every CPU (the workers divide them)
        },
        {"type": "lift", "fov_deg": 60},
        {"type": "track"},
    ]


def worker(args: argparse.Namespace) -> None:
    """Open the pipeline of ``args.urls`` (several: batched), say ready, wait for go, run
    warm-up + window, print the window's figures as JSON."""
    from crowdpose3d.pipeline.config import validate_pipeline
    from crowdpose3d.pipeline.multi import MultiRunner, validate_multi_pipeline
    from crowdpose3d.pipeline.runner import PipelineRunner

    out = Path(args.out)
    sources = [
        {"type": "video", "uri": url, "source_id": f"cam{i}", "open_timeout_s": 30}
        for i, url in enumerate(args.urls)
    ]
    sinks = [{"type": "parquet", "path": str(out), "seconds_per_part": 10}]
    runner_settings = {"queue_size": QUEUE_SIZE, "report_every_s": 3600}
    if args.mode == "batched":
        config = validate_multi_pipeline(
            {
                "sources": sources,
                "stages": pipeline_stages(args),
                "sinks": sinks,
                "runner": runner_settings,
                "batcher": {
                    "max_batch": len(sources),
                    "max_wait_ms": args.max_wait_ms,
                    "inbox_size": args.inbox_size,
                    "workers": args.workers[0],
                },
            }
        )
        runner = MultiRunner(config)
    else:
        [source] = sources
        runner = PipelineRunner(
            validate_pipeline(
                {
                    "source": source,
                    "stages": pipeline_stages(args),
                    "sinks": sinks,
                    "runner": runner_settings,
                }
            )
        )
    runner.open()
    print("ready", flush=True)
    sys.stdin.readline()  # go
    window = {"start": float("inf"), "end": float("inf")}
    seen: list[tuple[str, int, float]] = []  # (source, frame index, latency s) in the window

    def on_frame(frame) -> None:
        now = time.time()
        if window["start"] <= now < window["end"]:
            seen.append((frame.source_id, frame.index, now - frame.wall_time))

    thread = threading.Thread(target=runner.run, args=(on_frame,), daemon=True)
    thread.start()
    time.sleep(args.warmup)
    window["start"] = time.time()
    window["end"] = window["start"] + args.seconds
    cpu_started = time.process_time()  # every thread of this process
    time.sleep(args.seconds)
    cpu_s = time.process_time() - cpu_started
    model = {}  # the batched process's shared model row: where it waited
    if args.mode == "batched":
        shared = runner.snapshot()[-1]
        model = {key: shared[key] for key in MODEL_FIGURES if key in shared}
    runner.context.stop.set()
    thread.join(60)
    figures = {}
    for i in range(len(args.urls)):
        mine = [(index, latency) for source, index, latency in seen if source == f"cam{i}"]
        indices = [index for index, _ in mine]
        latencies = np.array([latency for _, latency in mine]) * 1000
        sent = (max(indices) - min(indices) + 1) if indices else 0
        figures[f"cam{i}"] = {
            "frames": len(mine),
            "fps": len(mine) / args.seconds,
            "dropped": sent - len(mine),
            "p50_ms": float(np.percentile(latencies, 50)) if len(mine) else float("nan"),
            "p99_ms": float(np.percentile(latencies, 99)) if len(mine) else float("nan"),
            "process_cpu_s": cpu_s,  # of the whole process (all its cameras)
        }
    print(json.dumps({"cameras": figures, "model": model}), flush=True)


# --- the parent: servers, processes, table -----------------------------------------------------


def workers_value(text: str) -> int | str:
    """``--workers``: a number or auto (`crowdpose3d.pipeline.multi.BatcherSettings`)."""
    return text if text == "auto" else int(text)


def launch(
    args: argparse.Namespace, mode: str, urls: list[str], out: Path, workers: int | str = 1
) -> subprocess.Popen:
    command = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--out",
        str(out),
        "--seconds",
        str(args.seconds),
        "--warmup",
        str(args.warmup),
        "--backend",
        args.backend,
        "--precision",
        args.precision,
        "--max-wait-ms",
        str(args.max_wait_ms),
        "--inbox-size",
        str(args.inbox_size),
        "--workers",
        str(workers),
        "--threads",
        str(args.threads),
        "--",  # the rest are the urls
        *urls,
    ]
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run_setup(
    args: argparse.Namespace,
    mode: str,
    clip: Path,
    fps: int,
    cameras: int,
    work: Path,
    workers: int | str = 1,
) -> dict:
    """One set-up against fresh servers -> per-camera figures (cam0, cam1, ...) and, for
    the batched one, the shared model's (``model``)."""
    servers, urls = start_servers(clip, cameras)
    groups = [urls] if mode == "batched" else [[url] for url in urls]
    processes = []
    try:
        for k, group in enumerate(groups):
            out = work / f"{mode}-{workers}-{fps}-{cameras}-{k}"
            processes.append(launch(args, mode, group, out, workers))
        deadline = time.monotonic() + READY_TIMEOUT_S
        for process in processes:
            while True:
                left = deadline - time.monotonic()
                ready, _, _ = select.select([process.stdout], [], [], max(left, 0))
                if not ready:
                    raise RuntimeError(f"{mode}: a process did not open in {READY_TIMEOUT_S} s")
                line = process.stdout.readline()
                if line.strip() == "ready":
                    break
                if not line:
                    raise RuntimeError(f"{mode}: a process failed: {process.stderr.read()[-2000:]}")
        for process in processes:  # all start together
            process.stdin.write("go\n")
            process.stdin.flush()
        figures: dict[str, dict] = {}
        model: dict = {}
        for k, process in enumerate(processes):
            output, errors = process.communicate(timeout=args.warmup + args.seconds + 120)
            if process.returncode != 0:
                raise RuntimeError(f"{mode}: a process failed: {errors[-2000:]}")
            result = json.loads(output.strip().splitlines()[-1])
            model = result["model"]
            for name, values in result["cameras"].items():  # per-camera processes: cam0
                figures[name if mode == "batched" else f"cam{k}"] = values
        # CPU seconds the set-up used in the window: the batched process once, else the sum
        if mode == "batched":
            cpu_s = next(iter(figures.values()))["process_cpu_s"]
        else:
            cpu_s = sum(f["process_cpu_s"] for f in figures.values())
        return {"cameras": figures, "cpu_s": cpu_s, "model": model}
    finally:
        stop(processes)
        stop(servers)


def summary_line(cameras: int, fps: int, mode: str, setup: dict, load: tuple, window: float):
    figures = setup["cameras"]
    rates = [f["fps"] for f in figures.values()]
    per_cpu = sum(f["frames"] for f in figures.values()) / max(setup["cpu_s"], 1e-9)
    p99 = max(f["p99_ms"] for f in figures.values())
    p50 = max(f["p50_ms"] for f in figures.values())
    dropped = sum(f["dropped"] for f in figures.values())
    return (
        f"{cameras:>7} {fps:>4} {mode:<12} {sum(rates):>9.2f} {min(rates):>8.2f} "
        f"{max(rates):>8.2f} {dropped:>8} {p50:>9.0f} {p99:>9.0f} {setup['cpu_s'] / window:>8.2f} "
        f"{per_cpu:>10.2f}   {load[0]:.1f} -> {load[1]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--fps", type=int, nargs="+", default=[10, 25])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window (15)")
    parser.add_argument("--warmup", type=float, default=5.0, help="before the window (5)")
    parser.add_argument("--full", action="store_true", help="1 2 4 8 cameras, 40 s windows")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--max-wait-ms", type=float, default=20.0, help="the batcher's (20)")
    parser.add_argument(
        "--inbox-size", type=int, default=1, help="frames waiting per camera for the model (1)"
    )
    parser.add_argument(
        "--workers",
        type=workers_value,
        nargs="+",
        default=["auto"],
        help="the batched process's model workers (batcher.workers: a number or auto); "
        "several: one batched row each (auto)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="the model's CPU threads in every process (0: every CPU, as by default)",
    )
    parser.add_argument("--json", help="also write every figure here")
    parser.add_argument("--worker", choices=["batched", "per-camera"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("urls", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.mode = args.worker
        worker(args)
        return
    if args.full:
        args.cameras, args.seconds = [1, 2, 4, 8], 40.0
    if not Path(SYSTEM_PYTHON).exists() or shutil.which("gst-launch-1.0") is None:
        sys.exit("multi_camera.py needs GStreamer's RTSP server: bash scripts/system-packages.sh")
    print(
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}; backend "
        f"{args.backend}, precision {args.precision}; window {args.seconds:g} s after "
        f"{args.warmup:g} s warm-up; batcher max_wait_ms {args.max_wait_ms:g}, inbox "
        f"{args.inbox_size}; per-camera processes: queue_size {QUEUE_SIZE}; model threads "
        f"{args.threads or 'every CPU'}",
        flush=True,
    )
    header = (
        f"{'cameras':>7} {'fps':>4} {'mode':<12} {'total fps':>9} {'min fps':>8} "
        f"{'max fps':>8} {'dropped':>8} {'p50 ms*':>9} {'p99 ms*':>9} {'CPUs':>8} "
        f"{'frames/CPU-s':>10}   load before -> after"
    )
    print(header, flush=True)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        clip_seconds = args.warmup + args.seconds + OPEN_ALLOWANCE_S  # the stream outlasts it
        for fps in args.fps:
            clip = write_looped_clip(work / f"clip{fps}.mp4", fps, clip_seconds, work)
            for cameras in args.cameras:
                row = {"cameras": cameras, "fps": fps}
                setups = [
                    ("batched" if w == "auto" else f"batched-w{w}", "batched", w)
                    for w in args.workers
                ]
                setups.append(("per-camera", "per-camera", 1))
                for name, mode, workers in setups:
                    before = os.getloadavg()[0]
                    setup = run_setup(args, mode, clip, fps, cameras, work, workers)
                    load = (before, os.getloadavg()[0])
                    row[name] = {**setup, "load": load}
                    print(summary_line(cameras, fps, name, setup, load, args.seconds), flush=True)
                    for camera, f in setup["cameras"].items():
                        print(
                            f"{'':>13} {camera}: {f['fps']:.2f} fps, {f['dropped']} dropped, "
                            f"p50 {f['p50_ms']:.0f} ms, p99 {f['p99_ms']:.0f} ms",
                            flush=True,
                        )
                    if setup["model"]:
                        m = setup["model"]
                        print(
                            f"{'':>13} model: {m['workers']} workers, mean batch "
                            f"{m['batch_size_mean']:.2f}, batcher "
                            f"wait p50 {m['batch_wait_p50_ms']:.0f} ms, busy "
                            f"{m['model_busy_fraction']:.2f} s/s; per image letterbox "
                            f"{m.get('letterbox_ms', float('nan')):.1f}, forward "
                            f"{m.get('forward_ms', float('nan')):.1f}, decode "
                            f"{m.get('decode_ms', float('nan')):.1f} ms",
                            flush=True,
                        )
                total = {
                    name: sum(f["fps"] for f in row[name]["cameras"].values())
                    for name, _, _ in setups
                }
                efficiency = {
                    name: total[name] * args.seconds / max(row[name]["cpu_s"], 1e-9)
                    for name in total
                }
                for name, _, _ in setups[:-1]:
                    gain = total[name] / max(total["per-camera"], 1e-9)
                    per_cpu = efficiency[name] / max(efficiency["per-camera"], 1e-9)
                    p99 = max(f["p99_ms"] for f in row[name]["cameras"].values())
                    row[f"gain_{name}"], row[f"gain_per_cpu_{name}"] = gain, per_cpu
                    print(
                        f"{'':>13} gain ({name} / per-camera total fps): {gain:.2f}x; "
                        f"per CPU-second: {per_cpu:.2f}x; {name} p99 worst camera "
                        f"{p99:.0f} ms",
                        flush=True,
                    )
                results.append(row)
    print(
        "* p50 / p99: the worst camera of the row. CPUs: CPU-seconds the set-up's processes "
        "used per second of the window; frames/CPU-s: frames out per CPU-second (on a shared "
        "machine, N processes get a larger share of the CPUs than one: this column is the "
        "cost per frame, whatever the share)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
