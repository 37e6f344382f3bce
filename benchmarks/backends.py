"""Every backend x precision this machine runs: model ms/frame, whole-pipeline ms/frame and
AP / 3DPCK side by side, measured in one run; the stages around the model; peak memory.

    python benchmarks/backends.py                 # the full run (about 15 min on 2 busy cores)
    python benchmarks/backends.py --quick         # smoke run: fewer frames and repeats
    python benchmarks/backends.py --json out.json

For each row: "model ms" is the backend's forward pass of one letterboxed 512x320 frame
(`Runner`, candidates gathered; batch 1 as the pandanet stage runs on a CPU); "pipeline
ms" is the default pipeline (decode -> pandanet -> lift -> track -> Parquet, as
`crowdpose3d track` runs it) per frame on a generated 30-person 512x320 clip; AP / 3DPCK
(150 mm) come from `evaluate` on a small held-out synthetic set (seed 999, the held-out
seed of docs/models.md, never trained on). Each row is divided by a bare torch fp32
forward of the same model (batch 1, float input, no decode) measured in the same rounds,
so the noise of a shared machine hits both; the target (issue 16) is pipeline / bare
torch fp32 <= 0.6 with AP and 3DPCK within 1 point of torch fp32. Rounds interleave the
rows; figures are medians over rounds.

Then: per-frame costs of the stages around the model (letterbox, colour conversion, dense
vs candidate decode, and the pipeline's lift / track / Parquet busy times), a thread-count
comparison for the default choice, and the peak resident memory of ``crowdpose3d track``
(the default backend) on a generated 768x576 clip (target <= 600 MB).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pandas as pd
import torch

from crowdpose3d.api import track_pipeline
from crowdpose3d.core.checkpoint import load_checkpoint
from crowdpose3d.core.decode import PoseDecoder, gather_candidates
from crowdpose3d.data.synth import SynthConfig, generate_dataset, write_sequence
from crowdpose3d.data.transforms import ResizeToFit
from crowdpose3d.engine import backends
from crowdpose3d.engine.backends import choose, load_model
from crowdpose3d.engine.evaluator import evaluate, load_samples
from crowdpose3d.engine.predictor import PREDICT_STEPS, Predictor, letterbox_image
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext

MODEL = DEFAULT_MODEL
BATCH = 1  # the pandanet stage's batch on a CPU (and benchmarks/model_speed.py's)
HELD_OUT_SEED = 999  # docs/models.md: the held-out solids set's seed
ROWS = [  # (backend, precision), in the order printed
    ("torch", "fp32"),
    ("torch", "bf16"),
    ("onnxruntime", "fp32"),
    ("onnxruntime", "int8"),
    ("openvino", "fp32"),
    ("openvino", "bf16"),
    ("openvino", "int8"),
]
TARGET_PIPELINE_RATIO = 0.6
# The per-stage profile's columns, in pipeline order (stage names and the pandanet stage's
# steps, engine.predictor.PREDICT_STEPS).
PROFILE = ("video", *PREDICT_STEPS, "pandanet", "lift", "track", "parquet")
TARGET_RSS_MB = 600
# Above this many CPUs kept busy by other processes (`busy_other_cpus`) the speed verdict is
# not printed: on a loaded 2-core machine the bare forward timed on the worker's main thread
# took 5-9 s against 0.5 s for the same model inside the pipeline (docs/backends.md).
MAX_BUSY_CPUS = 0.5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all rows (2)")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per round (10)")
    parser.add_argument("--frames", type=int, default=30, help="frames of the pipeline clip")
    parser.add_argument("--eval-frames", type=int, default=40, help="held-out frames for AP")
    parser.add_argument("--work", help="folder for the generated data (default: a temp dir)")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--quick", action="store_true", help="1 round, 2 repeats, 12 frames")
    parser.add_argument(
        "--threads",
        type=int,
        help="threads of every timed forward, the bare torch fp32 one included (default: "
        "torch's own and every CPU for the other backends); 1 gives a fair same-run ratio "
        "on a loaded machine, where torch's 2-thread pool waits for descheduled workers",
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.repeats, args.frames, args.eval_frames = 1, 2, 12, 12
    return args


def cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def busy_other_cpus(interval_s: float = 1.0) -> float:
    """CPUs kept busy by other processes over the next ``interval_s`` (from /proc/stat)."""

    def snapshot() -> tuple[float, float]:
        with open("/proc/stat") as stat:
            jiffies = [int(v) for v in stat.readline().split()[1:]]
        busy = (sum(jiffies) - jiffies[3] - jiffies[4]) / os.sysconf("SC_CLK_TCK")
        return busy, time.process_time()

    start, wall = snapshot(), time.perf_counter()
    time.sleep(interval_s)
    end = snapshot()
    return max(0.0, ((end[0] - start[0]) - (end[1] - start[1])) / (time.perf_counter() - wall))


def make_data(work: Path, frames: int, eval_frames: int) -> dict:
    """The pipeline clip (30 people, 512x320), the held-out set and a 768x576 clip."""
    clip = SynthConfig(num_frames=frames, fps=10, width=512, height=320, min_people=30,
                       max_people=30)  # fmt: skip
    paths = write_sequence(work / "clip", "test", 30, clip, seed=1030)
    per_sequence = max(1, eval_frames // 2)
    held_out = SynthConfig(num_frames=per_sequence, fps=5, width=512, height=320,
                           min_people=10, max_people=60)  # fmt: skip
    generate_dataset(work / "heldout", held_out, {"test": 2}, seed=HELD_OUT_SEED)
    big = SynthConfig(num_frames=frames, fps=10, width=768, height=576, min_people=30,
                      max_people=30)  # fmt: skip
    big_paths = write_sequence(work / "clip768", "test", 30, big, seed=1031)
    return {"clip": paths, "heldout": work / "heldout", "clip768": big_paths}


def decoded_frames(video: Path, count: int) -> list[np.ndarray]:
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[:count]


def timed_ms(run, repeats: int) -> float:
    """Median milliseconds of ``run()`` over ``repeats`` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def bare_torch_forward(model, batch: np.ndarray):
    """A bare torch fp32 forward of a float batch: the issue's reference (no decode)."""
    images = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255).contiguous()

    def run() -> None:
        with torch.inference_mode():
            model(images)

    return run


def pipeline_ms(clip: dict, output: Path, model: str, backend: str, precision: str,
                threads: int | None = None) -> dict:  # fmt: skip
    config = track_pipeline(clip["video"], output, model=model, device="cpu",
                            camera={"camera_file": str(clip["camera"])}, backend=backend,
                            precision=precision, threads=threads)  # fmt: skip
    runner = PipelineRunner(config, StageContext(overwrite=True))
    runner.open()
    report = runner.run()
    rows = len(pd.read_parquet(output))
    busy = {s["stage"].split(":")[1]: s["busy_ms_per_frame"] for s in report.stages}
    steps = next(s for s in report.stages if s["stage"].endswith(":pandanet"))
    inside = {step: steps[f"{step}_ms"] for step in PREDICT_STEPS}  # inside pandanet
    busy.update({step: ms for step, ms in inside.items() if step not in busy})  # verify: a stage
    return {"frame_ms": 1000 * report.seconds / report.frames, "people": rows / report.frames,
            **busy}  # fmt: skip


def peak_rss_mb(clip: dict, output: Path, extra: list[str]) -> tuple[float, str]:
    """Peak resident memory of one ``crowdpose3d track`` process.

    A small launcher process starts it and reads its children's ``ru_maxrss``: measured
    from this (large) process, the figure would include this process's own pages at fork.
    """
    command = [sys.executable, "-m", "crowdpose3d.cli", "track", str(clip["video"]), "-o",
               str(output), "--camera", str(clip["camera"]), "--device", "cpu", "--overwrite",
               "--quiet", *extra]  # fmt: skip
    launcher = (
        "import json, resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps([done.returncode, peak, done.stderr]))\n"
    )
    out = subprocess.run([sys.executable, "-c", launcher, *command], capture_output=True,
                         text=True, check=True)  # fmt: skip
    code, peak_kb, log = json.loads(out.stdout)
    if code != 0:
        raise RuntimeError(f"crowdpose3d track failed: {log.strip().splitlines()[-1:]}")
    chosen = [line for line in log.splitlines() if "pandanet:" in line]
    return peak_kb / 1024, (chosen[0].split("pandanet:", 1)[1].strip() if chosen else "")


def stage_costs(frames768: list[np.ndarray], video768: Path, checkpoint, repeats: int) -> dict:
    """Per-frame milliseconds of the work around the model, each measured alone."""
    fit = ResizeToFit(*checkpoint.input_size)
    image = frames768[0]
    batch = np.empty((4, *checkpoint.input_size, 3), dtype=np.uint8)
    import cv2

    def old_letterbox() -> None:  # per frame: resize, pad into a new array; stack, float
        box = fit.letterbox(*image.shape[:2])
        size = (round(image.shape[1] * box.scale_x), round(image.shape[0] * box.scale_y))
        placed = []
        for _ in range(len(batch)):  # one resize per frame, as the old predictor did
            resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            placed.append(cv2.copyMakeBorder(
                resized, box.pad_top, fit.height - size[1] - box.pad_top, box.pad_left,
                fit.width - size[0] - box.pad_left, cv2.BORDER_CONSTANT,
                value=(124, 116, 104)))  # fmt: skip
        torch.from_numpy(np.stack(placed)).permute(0, 3, 1, 2).float().div_(255.0)

    def new_letterbox() -> None:  # resized straight into the uint8 batch, borders only
        for slot in batch:
            letterbox_image(image, fit, out=slot)

    with av.open(str(video768)) as container:
        decoded = [frame for _, frame in zip(range(8), container.decode(video=0), strict=False)]

    def colour() -> None:
        for frame in decoded:
            frame.to_ndarray(format="rgb24")

    model = checkpoint.model
    images = torch.from_numpy(np.stack([letterbox_image(f, fit)[0] for f in frames768[:4]]))
    with torch.inference_mode():
        outputs = model(images.permute(0, 3, 1, 2).float() / 255)
        bf16_outputs = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16_outputs = model(images.permute(0, 3, 1, 2).float() / 255)
    from crowdpose3d.core.anchors import anchor_grid

    grid = anchor_grid(checkpoint.anchors, *model.output_size(*checkpoint.input_size),
                       model.output_stride)  # fmt: skip
    decoder = PoseDecoder(score_threshold=0.1)

    def dense(out):
        return lambda: decoder(out, grid)

    def sparse(out):
        def run() -> None:
            with torch.inference_mode():
                decoder.decode_candidates(gather_candidates(out, 1000), grid)

        return run

    per = 4  # the stage costs are measured on 4 frames at once, then divided
    return {
        "letterbox, before (resize + pad + stack + float)": timed_ms(old_letterbox, repeats)
        / per,
        "letterbox, now (into the uint8 batch)": timed_ms(new_letterbox, repeats) / per,
        "colour conversion 768x576 yuv420p -> rgb24": timed_ms(colour, repeats) / len(decoded),
        "decode, dense maps fp32": timed_ms(dense(outputs), repeats) / per,
        "decode, dense maps bf16 (before: converts all maps)": timed_ms(dense(bf16_outputs),
                                                                         repeats) / per,
        "decode, candidates (gather + decode) fp32": timed_ms(sparse(outputs), repeats) / per,
        "decode, candidates (gather + decode) bf16": timed_ms(sparse(bf16_outputs), repeats)
        / per,
    }  # fmt: skip


def run_worker(row: dict, clip: dict, work: Path, repeats: int, threads: int | None) -> dict:
    """One row's timings in a fresh process: another backend's idle thread pools (OpenMP,
    TBB) in the same process slow every forward down several times on a shared machine."""
    command = [sys.executable, __file__, "--worker", json.dumps(
        {"backend": row["backend"], "precision": row["precision"], "spec": row["spec"],
         "video": str(clip["video"]), "camera": str(clip["camera"]),
         "out": str(work / "out"), "repeats": repeats, "threads": threads})]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"worker failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def runner_ms(job: dict, batch: np.ndarray) -> float:
    """Milliseconds per frame of the row's runner alone; nothing of it outlives the call."""
    predictor = Predictor(load_model(job["spec"]), device="cpu", backend=job["backend"],
                          precision=job["precision"], batch_size=BATCH,
                          threads=job["threads"])  # fmt: skip
    runner = predictor.runner
    return timed_ms(lambda: runner(batch), job["repeats"]) / BATCH


def worker(job: dict) -> None:
    """Bare torch fp32 forward, the row's runner and the pipeline, one process, as JSON."""
    if job["threads"]:
        torch.set_num_threads(job["threads"])  # the bare forward's too
    checkpoint = load_checkpoint(MODEL)
    frames = decoded_frames(Path(job["video"]), BATCH)
    fit = ResizeToFit(*checkpoint.input_size)
    batch = np.stack([letterbox_image(frame, fit)[0] for frame in frames])  # (B, H, W, 3)
    bare_ms = timed_ms(bare_torch_forward(checkpoint.model, batch), job["repeats"]) / BATCH
    model_ms = runner_ms(job, batch)
    gc.collect()  # the runner is gone before the pipeline opens its own
    clip = {"video": job["video"], "camera": job["camera"]}
    pipeline = pipeline_ms(clip, Path(job["out"]), job["spec"], job["backend"],
                           job["precision"], job["threads"])  # fmt: skip
    print(json.dumps({"bare_ms": bare_ms, "model_ms": model_ms, "pipeline": pipeline}))


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(json.loads(sys.argv[2]))
        return 0
    args = parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_backends_"))
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads; bf16 instructions: "
          f"{backends.cpu_has_bf16()}; installed backends: "
          f"{', '.join(backends.available_backends())}")  # fmt: skip
    busy = busy_other_cpus()
    print(f"other processes keep {busy:.1f} CPUs busy: absolute timings are inflated, ratios "
          "measured in the same rounds are what to read", flush=True)  # fmt: skip
    data = make_data(work, args.frames, args.eval_frames)
    checkpoint = load_checkpoint(MODEL)
    samples = load_samples(data["heldout"], split="test", max_frames=args.eval_frames)

    # Exported files, once: fp32 and int8 ONNX for both ONNX Runtime and OpenVINO.
    files: dict[str, str] = {}
    installed = backends.available_backends()
    if len(installed) > 1:
        from crowdpose3d.engine.export import export_model

        files["fp32"] = str(export_model(MODEL, work / "model.onnx"))
        if "onnxruntime" in installed:
            files["int8"] = str(export_model(MODEL, work / "model_int8.onnx", int8=True))
            # OpenVINO's int8: symmetric int8 activations, as its runner exports them.
            s8_path = work / "model_int8_s8.onnx"
            files["int8 openvino"] = str(
                export_model(MODEL, s8_path, int8=True, symmetric_activations=True)
            )
    rows = []
    for backend, precision in ROWS:
        try:
            choose(backend, precision, torch.device("cpu"))
            file_key = "int8" if precision == "int8" else "fp32"
            if backend != "torch" and file_key not in files:
                raise ValueError(f"no {file_key} file (int8 needs onnxruntime's quantiser)")
        except ValueError as error:
            print(f"  skipped {backend} {precision}: {error}")
            continue
        if backend == "openvino" and precision == "int8":
            file_key = "int8 openvino"
        spec = MODEL if backend == "torch" else files[file_key]
        predictor = Predictor(load_model(spec), device="cpu", backend=backend,
                              precision=precision)  # fmt: skip
        result = evaluate(predictor, samples)
        rows.append({"backend": backend, "precision": precision, "spec": spec,
                     "predictor": predictor, "ap": result.ap, "pck3d": result.pck3d,
                     "model_ms": [], "pipeline": [], "bare_ms": []})  # fmt: skip
        print(f"  {backend} {precision}: AP {result.ap:.1f} 3DPCK {result.pck3d:.1f}",
              file=sys.stderr, flush=True)  # fmt: skip

    for row in rows:
        del row["predictor"]  # timings run in fresh processes (see `worker`)
    gc.collect()
    for round_number in range(args.rounds):
        for row in rows:
            timing = run_worker(row, data["clip"], work, args.repeats, args.threads)
            row["bare_ms"].append(timing["bare_ms"])
            row["model_ms"].append(timing["model_ms"])
            row["pipeline"].append(timing["pipeline"])
        print(f"  round {round_number + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    reference = rows[0]
    threads = f"{args.threads} thread(s) per forward" if args.threads else "default threads"
    print(f"\nmodel {MODEL}, 512x320, batch {BATCH}, {threads}; pipeline: {args.frames}-frame "
          f"30-person clip; AP / 3DPCK: {len(samples)} held-out frames (seed {HELD_OUT_SEED}); "
          f"median of {args.rounds} rounds")  # fmt: skip
    header = (f"{'backend':<12} {'prec':<5} {'model ms':>9} {'pipeline ms':>12} "
              f"{'bare fp32 ms':>13} {'model/bare':>11} {'pipeline/bare':>14} {'AP':>6} "
              f"{'3DPCK':>6} {'dAP':>6} {'dPCK':>6}")  # fmt: skip
    print(header)
    figures = []
    for row in rows:
        model_ms = statistics.median(row["model_ms"])
        frame_ms = statistics.median(p["frame_ms"] for p in row["pipeline"])
        bare_ms = statistics.median(row["bare_ms"])
        # Ratios per round (same moment, same noise), then the median.
        model_ratio = statistics.median(m / b for m, b in zip(row["model_ms"], row["bare_ms"],
                                                               strict=True))  # fmt: skip
        pipe_ratio = statistics.median(p["frame_ms"] / b for p, b in zip(row["pipeline"],
                                                                         row["bare_ms"],
                                                                         strict=True))  # fmt: skip
        figure = {"backend": row["backend"], "precision": row["precision"],
                  "model_ms": model_ms, "pipeline_ms": frame_ms, "bare_fp32_ms": bare_ms,
                  "model_ratio": model_ratio, "pipeline_ratio": pipe_ratio, "ap": row["ap"],
                  "pck3d": row["pck3d"], "d_ap": row["ap"] - reference["ap"],
                  "d_pck3d": row["pck3d"] - reference["pck3d"],
                  "stages_busy_ms": {k: statistics.median(p[k] for p in row["pipeline"])
                                     for k in row["pipeline"][0] if k != "frame_ms"}}  # fmt: skip
        figures.append(figure)
        d_ap, d_pck = figure["d_ap"], figure["d_pck3d"]
        print(f"{row['backend']:<12} {row['precision']:<5} {model_ms:>9.1f} {frame_ms:>12.1f} "
              f"{bare_ms:>13.1f} {model_ratio:>11.2f} {pipe_ratio:>14.2f} {row['ap']:>6.1f} "
              f"{row['pck3d']:>6.1f} {d_ap:>+6.1f} {d_pck:>+6.1f}")  # fmt: skip

    print("\nper-stage profile, busy ms per frame (the stages run on threads, so they overlap;"
          " video: decode + colour conversion; letterbox, forward, decode: the pandanet "
          "stage's steps):")  # fmt: skip
    names = [name for name in PROFILE if name in figures[0]["stages_busy_ms"]]
    print(f"{'backend':<12} {'prec':<5} " + " ".join(f"{n:>9}" for n in names)
          + f" {'frame ms':>9}")  # fmt: skip
    for figure in figures:
        busy_ms = figure["stages_busy_ms"]
        print(f"{figure['backend']:<12} {figure['precision']:<5} "
              + " ".join(f"{busy_ms[n]:>9.1f}" for n in names)
              + f" {figure['pipeline_ms']:>9.1f}")  # fmt: skip

    auto = choose("auto", "auto", torch.device("cpu"))
    good = [f for f in figures if abs(f["d_ap"]) <= 1 and abs(f["d_pck3d"]) <= 1]
    best = min(good, key=lambda f: f["pipeline_ratio"]) if good else None
    if best:
        verdict = "met" if best["pipeline_ratio"] <= TARGET_PIPELINE_RATIO else "NOT met"
        if busy > MAX_BUSY_CPUS:  # the bare forward on the main thread suffers most
            verdict = (f"UNVERIFIED, not a result: other processes kept {busy:.1f} CPUs busy; "
                       "rerun on a quiet machine")  # fmt: skip
        print(f"\nfastest within 1 point of fp32 AP/3DPCK: {best['backend']} "
              f"{best['precision']}, pipeline / bare torch fp32 forward = "
              f"{best['pipeline_ratio']:.2f} (target <= {TARGET_PIPELINE_RATIO}: "
              f"{verdict})")  # fmt: skip
    print(f"auto choice here: {auto.backend} {auto.precision} ({auto.reason})")

    print("\nthe stages around the model, ms per frame, each alone:")
    frames768 = decoded_frames(data["clip768"]["video"], 4)
    costs = stage_costs(frames768, data["clip768"]["video"], checkpoint, args.repeats * 4)
    for name, value in costs.items():
        print(f"  {name:<55} {value:7.2f}")

    print("\nthreads of the default choice (pipeline ms per frame, one run each):")
    spec = MODEL if auto.backend == "torch" else files.get(auto.precision, MODEL)
    thread_rows = {}
    for threads in (1, 2):
        thread_rows[threads] = pipeline_ms(data["clip"], work / "out", spec, auto.backend,
                                           auto.precision, threads)["frame_ms"]  # fmt: skip
        print(f"  {threads} backend thread(s): {thread_rows[threads]:.1f}")

    rss, chosen = peak_rss_mb(data["clip768"], work / "out768", [])
    verdict = "met" if rss <= TARGET_RSS_MB else "NOT met"
    print(f"\npeak RSS of `crowdpose3d track` on a 768x576 clip, default backend ({chosen}): "
          f"{rss:.0f} MB (target <= {TARGET_RSS_MB} MB: {verdict})")  # fmt: skip
    torch_fp32 = ["--backend", "torch", "--precision", "fp32"]
    rss_torch, _ = peak_rss_mb(data["clip768"], work / "out768", torch_fp32)
    print(f"  the same with --backend torch --precision fp32: {rss_torch:.0f} MB")
    rss_int8 = None
    if "onnxruntime" in installed:
        backends.exported_file(MODEL, int8=True)  # the export's child process is not timed
        ort_int8 = ["--backend", "onnxruntime", "--precision", "int8"]
        rss_int8, _ = peak_rss_mb(data["clip768"], work / "out768", ort_int8)
        print(f"  the same with --backend onnxruntime --precision int8: {rss_int8:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"rows": figures, "stage_costs_ms": costs, "threads_ms": thread_rows,
             "peak_rss_mb": rss, "peak_rss_torch_fp32_mb": rss_torch,
             "peak_rss_onnxruntime_int8_mb": rss_int8,
             "other_cpus_busy": busy}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
