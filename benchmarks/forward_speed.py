"""The bare forward pass of `builtin:crowd-small` on every backend and precision, in one run.

One fixed generated 512x320 crowd frame, batch 1, 1 and 2 threads; each row is the model
alone (no letterbox, no decode): what each backend really costs and why.

    python benchmarks/forward_speed.py                     # every row, 1 and 2 threads
    python benchmarks/forward_speed.py --quick             # 1 round, 3 repeats
    python benchmarks/forward_speed.py --profile           # + per-op profiles (ORT, OpenVINO)
    python benchmarks/forward_speed.py --json out.json

Rows (graphs: "dense" computes the heads' dense maps and then TopK + Gather, the graph of
earlier exports; "sparse" runs the heads' 1x1 output convolutions only at the chosen cells,
`crowdpose3d.core.sparse_heads`, the graph exported now):

- ``torch fp32 dense (bare)``: ``model(float images)``, the reference of issue 16's targets;
- torch fp32 / bf16 (autocast) on the dense and sparse graphs, and the sparse graph traced
  and frozen (``torch.jit.freeze``: BatchNorm folded into the convolutions, oneDNN
  fusion of conv + LeakyReLU);
- ONNX Runtime fp32 (dense, sparse), int8 QDQ and int8 QOperator (sparse);
- OpenVINO fp32, bf16 (dense, sparse), int8 from the QDQ file and int8 by NNCF's
  ``nncf.quantize`` on the OpenVINO model (when nncf is installed), with the precision
  OpenVINO compiled it in (``INFERENCE_PRECISION_HINT`` read back) and, with ``--profile``,
  the per-layer profile (``PERF_COUNT``) summed by layer type and execution precision.

Rounds interleave the rows; each figure is the median over rounds of the median of
``--repeats`` calls. Beside each row: the largest difference of its candidates to the torch
fp32 dense ones (score logits), and the share of the 100 best anchors they have in common.
int8 files are calibrated on `crowdpose3d.engine.export.calibration_images` (generated,
seed 4242), as ``crowdpose3d export --int8`` does; the timed frame has another seed.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from crowdpose3d.core.checkpoint import load_checkpoint
from crowdpose3d.core.decode import Candidates
from crowdpose3d.engine.backends import (
    OnnxRuntimeRunner,
    OpenVinoRunner,
    available_backends,
    openvino_core,
)
from crowdpose3d.engine.export import (
    DeployedPandaNet,
    calibration_images,
    export_onnx,
    quantize_int8,
)

MODEL = "builtin:crowd-small"
FRAME_SEED = 31337  # the timed frame's synth seed: not a calibration, training or held-out seed
TOP_K = 1000  # candidates per image, as the runners use
COMMON_TOP = 100  # "same anchors" column: share of the 100 best anchors shared with fp32
Forward = Callable[[np.ndarray], Candidates]
# ONNX Runtime's int8 files: (quant_format, symmetric int8 activations) of `quantize_int8`.
INT8_FORMATS = {
    "int8 QDQ": ("QDQ", False),
    "int8 QOperator": ("QOperator", False),
    "int8 QDQ s8": ("QDQ", True),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="(1 2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all rows (3)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per round (5)")
    parser.add_argument("--calibration-frames", type=int, default=32, help="int8 calibration")
    parser.add_argument("--profile", action="store_true", help="per-op profiles, 2 threads")
    parser.add_argument("--work", help="folder for the exported files (default: a temp dir)")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--quick", action="store_true", help="1 round, 3 repeats, 8 frames")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.repeats, args.calibration_frames = 1, 3, 8
    return args


def timed_frame(input_size: tuple[int, int]) -> np.ndarray:
    """One generated 30-person frame, (1, H, W, 3) uint8 at the model's input size."""
    from crowdpose3d.data.synth import SynthConfig, generate_sequence

    height, width = input_size
    config = SynthConfig(num_frames=1, width=width, height=height, min_people=30, max_people=30)
    return next(iter(generate_sequence(config, seed=FRAME_SEED))).image[None]


def export_files(checkpoint, work: Path, frames: int) -> dict[str, Path]:
    """The graphs the rows run: dense / sparse fp32 ONNX, int8 QDQ / QOperator, NNCF IR.

    Files already in ``work`` (from an earlier run with the same --work) are reused."""
    names = {key: work / f"{key.replace(' ', '_')}.onnx" for key in INT8_FORMATS}
    names.update(dense=work / "dense.onnx", sparse=work / "sparse.onnx")
    if all(path.is_file() for path in names.values()):
        print(f"  reusing the exported files in {work}", file=sys.stderr)
        files = dict(names)
        nncf_file = work / "int8_nncf.xml"
        if not nncf_file.is_file() and "openvino" in available_backends():
            images = calibration_images(checkpoint.input_size, frames)
            nncf_file = nncf_int8(files["sparse"], nncf_file, images) or nncf_file
        if nncf_file.is_file():
            files["int8 nncf"] = nncf_file
        return files
    files = {
        "dense": export_onnx(checkpoint, work / "dense.onnx", sparse=False),
        "sparse": export_onnx(checkpoint, work / "sparse.onnx"),
    }
    images = calibration_images(checkpoint.input_size, frames)
    for key, (quant_format, symmetric) in INT8_FORMATS.items():
        print(f"  quantising {key} ...", file=sys.stderr, flush=True)
        files[key] = quantize_int8(
            files["sparse"], names[key], images, quant_format, symmetric_activations=symmetric
        )
    if "openvino" in available_backends():
        nncf_file = nncf_int8(files["sparse"], work / "int8_nncf.xml", images)
        if nncf_file is not None:
            files["int8 nncf"] = nncf_file
    return files


def nncf_int8(onnx_path: Path, xml_path: Path, images: list[np.ndarray]) -> Path | None:
    """NNCF's post-training int8 quantisation of the OpenVINO model (None without nncf)."""
    try:
        import nncf
    except ImportError:
        print("  nncf is not installed: no NNCF int8 row (pip install nncf)", file=sys.stderr)
        return None
    print("  quantising int8 with nncf ...", file=sys.stderr, flush=True)
    model = openvino_core().read_model(str(onnx_path))
    dataset = nncf.Dataset([image[None] for image in images])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Convolutions only, as the ONNX Runtime files: the sparse heads' small MatMuls
        # stay float (NNCF also fails on their flattened conv weights).
        ignored = nncf.IgnoredScope(types=["MatMul"])
        quantised = nncf.quantize(model, dataset, subset_size=len(images), ignored_scope=ignored)
    import openvino as ov

    ov.save_model(quantised, str(xml_path), compress_to_fp16=False)
    return xml_path


def torch_forward(graph: torch.nn.Module, dtype: torch.dtype | None, threads: int) -> Forward:
    def run(images: np.ndarray) -> Candidates:
        torch.set_num_threads(threads)
        batch = torch.from_numpy(images)
        with torch.inference_mode(), torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            return Candidates(*graph(batch))

    return run


def frozen(
    graph: torch.nn.Module, images: np.ndarray, dtype: torch.dtype | None
) -> torch.nn.Module:
    """``graph`` traced on ``images`` and frozen (BatchNorm folded into the convolutions,
    conv + activation fused). oneDNN graph fusion (``torch.jit.enable_onednn_fusion``)
    is not used: its first call fails on this graph ("vector::_M_range_check", torch 2.13)."""
    with (
        torch.no_grad(),
        torch.autocast("cpu", dtype=dtype, enabled=dtype is not None),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph, torch.from_numpy(images), check_trace=False)
        return torch.jit.freeze(traced.eval())


def bare_forward(model: torch.nn.Module, threads: int) -> Callable[[np.ndarray], None]:
    """The reference of the targets: the eager model on a float batch, dense outputs."""

    def run(images: np.ndarray) -> None:
        torch.set_num_threads(threads)
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
        with torch.inference_mode():
            model(x)

    return run


def build_rows(checkpoint, files: dict[str, Path], images: np.ndarray, threads: int):
    """(name, forward, note) for every row this machine runs, at ``threads`` threads."""
    model = checkpoint.model.eval()
    dense = DeployedPandaNet(model, TOP_K, sparse=False).eval()
    sparse = DeployedPandaNet(model, TOP_K).eval()
    torch.set_num_threads(threads)
    rows = [
        ("torch fp32 dense (bare)", bare_forward(model, threads), ""),
        ("torch fp32 dense", torch_forward(dense, None, threads), ""),
        ("torch fp32 sparse", torch_forward(sparse, None, threads), ""),
        ("torch bf16 dense", torch_forward(dense, torch.bfloat16, threads), "autocast"),
        ("torch bf16 sparse", torch_forward(sparse, torch.bfloat16, threads), "autocast"),
        (
            "torch fp32 sparse frozen",
            torch_forward(frozen(sparse, images, None), None, threads),
            "jit.freeze",
        ),  # fmt: skip
        (
            "torch bf16 sparse frozen",
            torch_forward(frozen(sparse, images, torch.bfloat16), torch.bfloat16, threads),
            "jit.freeze",
        ),  # fmt: skip
    ]
    installed = available_backends()
    if "onnxruntime" in installed:
        for name, file, precision in (
            ("ort fp32 dense", "dense", "fp32"),
            ("ort fp32 sparse", "sparse", "fp32"),
            ("ort int8 QDQ sparse", "int8 QDQ", "int8"),
            ("ort int8 QOperator sparse", "int8 QOperator", "int8"),
            ("ort int8 QDQ s8 sparse", "int8 QDQ s8", "int8"),
        ):
            runner = OnnxRuntimeRunner(files[file], precision, threads)
            rows.append((name, runner, ""))
    if "openvino" in installed:
        for name, file, precision in (
            ("openvino fp32 dense", "dense", "fp32"),
            ("openvino bf16 dense", "dense", "bf16"),
            ("openvino fp32 sparse", "sparse", "fp32"),
            ("openvino bf16 sparse", "sparse", "bf16"),
            ("openvino int8 QDQ sparse", "int8 QDQ", "int8"),
            ("openvino int8 QDQ s8 sparse", "int8 QDQ s8", "int8"),
            ("openvino int8 nncf sparse", "int8 nncf", "int8"),
        ):
            if file not in files:
                continue
            runner = OpenVinoRunner(files[file], precision, threads)
            hint = runner.compiled.get_property("INFERENCE_PRECISION_HINT")
            rows.append((name, runner, f"compiled {hint}"))
    return rows


def time_rows(rows, images: np.ndarray, rounds: int, repeats: int) -> dict[str, float]:
    """Median over rounds of the median ms of ``repeats`` calls, rows interleaved."""
    for _, forward, _ in rows:
        forward(images)  # warm-up: allocations, kernel selection
    per_round: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(rounds):
        for name, forward, _ in rows:
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                forward(images)
                times.append(time.perf_counter() - start)
            per_round[name].append(1000 * statistics.median(times))
    return {name: statistics.median(values) for name, values in per_round.items()}


def agreement(reference: Candidates, candidates: Candidates) -> tuple[float, float]:
    """(largest |logit difference| over the first COMMON_TOP, share of those anchors shared)."""
    ref = reference.indices[0, :COMMON_TOP].tolist()
    got = candidates.indices[0, :COMMON_TOP].tolist()
    difference = reference.logits[0, :COMMON_TOP].float() - candidates.logits[0, :COMMON_TOP]
    return float(difference.abs().max()), len(set(ref) & set(got)) / len(ref)


def profile_openvino(runner: OpenVinoRunner, images: np.ndarray) -> list[str]:
    """Per-layer profile of one call, summed by (layer type, execution type)."""
    core = openvino_core()
    config = {key: runner.compiled.get_property(key) for key in ("INFERENCE_PRECISION_HINT",)}
    config.update({"PERF_COUNT": True, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY"})
    config["INFERENCE_NUM_THREADS"] = runner.compiled.get_property("INFERENCE_NUM_THREADS")
    compiled = core.compile_model(core.read_model(str(runner.path)), "CPU", config)
    request = compiled.create_infer_request()
    totals: dict[tuple[str, str], float] = collections.defaultdict(float)
    for _ in range(3):
        request.infer([images])
    for _ in range(3):
        request.infer([images])
        for layer in request.profiling_info:
            totals[(layer.node_type, layer.exec_type)] += layer.real_time.total_seconds() / 3
    return _share_lines(totals)


def profile_onnxruntime(path: Path, images: np.ndarray, threads: int) -> list[str]:
    """Per-node profile of a few calls (ONNX Runtime's own profiler), summed by op type."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as folder:
        options.profile_file_prefix = str(Path(folder) / "ort")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for _ in range(4):
            session.run(None, {"images": images})
        events = json.loads(Path(session.end_profiling()).read_text())
    totals: dict[tuple[str, str], float] = collections.defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            totals[(event["args"]["op_name"], "")] += event["dur"] / 1e6 / 4
    return _share_lines(totals)


def _share_lines(totals: dict[tuple[str, str], float], top: int = 8) -> list[str]:
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    lines = [
        f"{1000 * seconds:7.2f} ms {100 * seconds / whole:5.1f} %  {kind} {exec_type}".rstrip()
        for (kind, exec_type), seconds in ranked[:top]
    ]
    tail = {"TopK", "GatherElements", "Gather", "MatMul"}
    gather = sum(s for (kind, _), s in totals.items() if kind in tail)
    lines.append(f"TopK + Gather + MatMul (the graph's tail): {100 * gather / whole:.1f} %")
    return lines


def main() -> int:
    args = parse_args()
    checkpoint = load_checkpoint(MODEL)
    images = timed_frame(checkpoint.input_size)
    with tempfile.TemporaryDirectory(prefix="forward_speed_") as temporary:
        work = Path(args.work or temporary)
        work.mkdir(parents=True, exist_ok=True)
        files = export_files(checkpoint, work, args.calibration_frames)
        results: dict[str, dict] = {}
        for threads in args.threads:
            rows = build_rows(checkpoint, files, images, threads)
            ms = time_rows(rows, images, args.rounds, args.repeats)
            reference = rows[1][1](images)  # torch fp32 dense: the bare model + gather
            bare = ms[rows[0][0]]
            print(f"\n{MODEL}, 512x320, batch 1, {threads} thread(s), median ms per forward")
            header = f"{'row':28s} {'ms':>7s} {'/ bare':>7s} {'max dlogit':>10s} {'top-100':>7s}"
            print(header + "  note")
            for name, forward, note in rows:
                output = forward(images)
                difference, common = agreement(reference, output) if output else (0.0, 1.0)
                results[f"{name} @{threads}"] = {
                    "ms": ms[name], "ratio": ms[name] / bare, "max_dlogit": difference,
                    "top100_common": common, "note": note, "threads": threads,
                }  # fmt: skip
                print(
                    f"{name:28s} {ms[name]:7.1f} {ms[name] / bare:7.2f} {difference:10.4f} "
                    f"{100 * common:6.0f}%  {note}"
                )
            if args.profile:
                for name, forward, _ in rows:
                    if isinstance(forward, OpenVinoRunner):
                        print(f"\nprofile {name} ({threads} threads, PERF_COUNT):")
                        print("\n".join(profile_openvino(forward, images)))
                for name, file in (("ort fp32 dense", "dense"), ("ort int8 QDQ", "int8 QDQ")):
                    print(f"\nprofile {name} ({threads} threads, ONNX Runtime profiler):")
                    print("\n".join(profile_onnxruntime(files[file], images, threads)))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
