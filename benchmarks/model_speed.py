"""Size, cost and speed of the PandaNet presets.

Prints, per preset and input size: parameters (millions), GFLOPs (2 x conv multiply-adds,
see crowdpose3d.core.model.estimate_gflops) and forward milliseconds per frame (batch 1,
torch.inference_mode, median over timed repeats after warm-up) on CPU in fp32, and on CUDA
when available in fp32 and with fp16 / bf16 autocast.

    python benchmarks/model_speed.py                       # all presets, 512x320 and 928x576
    python benchmarks/model_speed.py --quick               # "small" at 512x320, a smoke run
    python benchmarks/model_speed.py --presets small tiny --sizes 640x384 --json out.json

Sizes are WIDTHxHEIGHT. Big models on CPU get fewer repeats (see --budget-s) so the default
run takes a few minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from crowdpose3d.core.model import PRESETS, PandaNet, count_parameters, estimate_gflops

# (column name, device, autocast dtype or None for plain fp32)
CPU_MODES = [("cpu fp32", "cpu", None)]
CUDA_MODES = [
    ("cuda fp32", "cuda", None),
    ("cuda fp16", "cuda", torch.float16),
    ("cuda bf16", "cuda", torch.bfloat16),
]


def parse_size(text: str) -> tuple[int, int]:
    """'512x320' -> (width, height), both multiples of 32."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"size {text!r} is not WIDTHxHEIGHT, e.g. 512x320"
        ) from None
    if width <= 0 or height <= 0 or width % 32 or height % 32:
        raise argparse.ArgumentTypeError(f"size {text!r}: width and height must be multiples of 32")
    return width, height


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--presets",
        nargs="+",
        default=["tiny", "small", "medium", "darknet53"],
        choices=sorted(PRESETS),
        help="presets to measure (default: all)",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        default=[(512, 320), (928, 576)],
        metavar="WxH",
        help="input sizes, WIDTHxHEIGHT (default: 512x320 928x576)",
    )
    parser.add_argument(
        "--repeats", type=int, default=20, help="timed forward passes per row, at most (default 20)"
    )
    parser.add_argument(
        "--budget-s",
        type=float,
        default=6.0,
        help="seconds of timed runs per row; slow rows get fewer repeats, at least 3 (default 6)",
    )
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto: CPU, and CUDA too when available; cpu or cuda: only that one",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's own)"
    )
    parser.add_argument("--subpixel-off", action="store_true", help="output stride 8 models")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: small preset, 512x320, 5 repeats"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.presets, args.sizes, args.repeats = ["small"], [(512, 320)], 5
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available to torch")
    return args


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


class CpuSnapshot(NamedTuple):
    """Busy CPU seconds of the whole machine and of this process, at one instant."""

    machine_busy_s: float
    own_s: float
    wall_s: float

    @classmethod
    def take(cls) -> CpuSnapshot | None:
        """None where /proc/stat is missing (not Linux)."""
        try:
            with open("/proc/stat") as stat:
                jiffies = [int(value) for value in stat.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        busy = sum(jiffies) - jiffies[3] - jiffies[4]  # all but idle and iowait
        return cls(busy / os.sysconf("SC_CLK_TCK"), time.process_time(), time.perf_counter())

    def other_cpus_since(self, start: CpuSnapshot) -> float:
        """Average number of CPUs kept busy by other processes between start and self."""
        others = (self.machine_busy_s - start.machine_busy_s) - (self.own_s - start.own_s)
        return max(0.0, others / max(self.wall_s - start.wall_s, 1e-9))


def other_cpus_now(interval_s: float = 1.0) -> float | None:
    """CPUs kept busy by other processes over the next `interval_s` seconds."""
    start = CpuSnapshot.take()
    time.sleep(interval_s)
    end = CpuSnapshot.take()
    return None if start is None or end is None else end.other_cpus_since(start)


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def time_forward(
    run: Callable[[], Any], synchronize: Callable[[], None], repeats: int, budget_s: float
) -> tuple[float, int]:
    """Median milliseconds of `run` after warm-up, and the number of timed repeats."""

    def timed() -> float:
        synchronize()
        start = time.perf_counter()
        run()
        synchronize()
        return time.perf_counter() - start

    warmup = [timed()]  # first call: allocations, oneDNN / cuDNN kernel selection
    while len(warmup) < 3 and sum(warmup) < budget_s / 4:
        warmup.append(timed())
    count = max(min(3, repeats), min(repeats, int(budget_s / warmup[-1])))
    return 1000 * statistics.median(timed() for _ in range(count)), count


def make_runner(
    model: PandaNet, height: int, width: int, device: str, dtype: torch.dtype | None
) -> tuple[Callable[[], None], Callable[[], None]]:
    """A batch-1 forward pass (autocast to `dtype` when given) and the matching sync."""
    images = torch.rand(1, 3, height, width, device=device)

    def run() -> None:
        with torch.inference_mode(), torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            model(images)

    def synchronize() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    return run, synchronize


def measure(
    preset: str, width: int, height: int, modes: list[tuple], args: argparse.Namespace
) -> dict[str, Any]:
    """One table row: size, cost and the timing of every mode for one preset and size."""
    subpixel = not args.subpixel_off
    with torch.device("meta"):  # counts FLOPs from shapes alone, without computing
        flops_model = PandaNet(preset=preset, subpixel=subpixel)
    row: dict[str, Any] = {
        "preset": preset,
        "size": f"{width}x{height}",
        "output": "x".join(map(str, reversed(flops_model.output_size(height, width)))),
        "params_m": count_parameters(flops_model) / 1e6,
        "gflops": estimate_gflops(flops_model, height, width),
        "ms": {},
        "repeats": {},
    }
    model = PandaNet(preset=preset, subpixel=subpixel).eval()
    start = CpuSnapshot.take()
    for name, device, dtype in modes:
        model = model.to(device)
        run, synchronize = make_runner(model, height, width, device, dtype)
        ms, count = time_forward(run, synchronize, args.repeats, args.budget_s)
        row["ms"][name], row["repeats"][name] = ms, count
    end = CpuSnapshot.take()
    row["other_cpus"] = None if start is None or end is None else end.other_cpus_since(start)
    return row


def format_table(rows: list[dict[str, Any]], mode_names: list[str]) -> str:
    header = ["preset", "input", "output", "params M", "GFLOPs"]
    header += [f"{name} ms" for name in mode_names] + ["repeats", "other CPUs"]
    lines = [header]
    for row in rows:
        cells = [row["preset"], row["size"], row["output"]]
        cells += [f"{row['params_m']:.2f}", f"{row['gflops']:.2f}"]
        cells += [f"{row['ms'][name]:.1f}" for name in mode_names]
        cells.append("/".join(str(row["repeats"][name]) for name in mode_names))
        other = row["other_cpus"]
        cells.append("?" if other is None else f"{other:.1f}" + (" !" if other > 0.25 else ""))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(
            cell.ljust(w) if i < 3 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    modes: list[tuple] = []
    if args.device in ("auto", "cpu"):
        modes += CPU_MODES
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        torch.backends.cudnn.benchmark = True
        modes += CUDA_MODES
        if not torch.cuda.is_bf16_supported():
            modes.remove(CUDA_MODES[2])
    mode_names = [name for name, _, _ in modes]

    info = machine_info()
    print(
        f"machine: {info['cpu']}, {info['cpu_count']} CPUs ({info['cpus_usable']} usable), "
        f"torch {info['torch']} ({info['cpu_capability']}), "
        f"{info['torch_threads']} torch threads, Python {info['python']}"
    )
    busy = other_cpus_now()
    if busy is not None and busy > 0.25:
        print(
            f"warning: other processes keep {busy:.1f} CPUs busy: they compete with torch's "
            "threads and inflate the CPU timings"
        )
    if info["cuda_device"]:
        print(f"cuda: {info['cuda_device']}")
    print(
        "batch 1, torch.inference_mode, median ms per frame after warm-up; "
        "GFLOPs = 2 x conv multiply-adds; "
        f"{'no sub-pixel conv (stride 8)' if args.subpixel_off else 'output stride 4'}"
    )
    print(flush=True)

    rows = []
    for preset in args.presets:
        for width, height in args.sizes:
            rows.append(measure(preset, width, height, modes, args))
            print(
                f"  measured {preset} {width}x{height}: "
                + ", ".join(f"{n} {rows[-1]['ms'][n]:.1f} ms" for n in mode_names),
                file=sys.stderr,
                flush=True,
            )
    print(format_table(rows, mode_names))
    if any((row["other_cpus"] or 0) > 0.25 for row in rows):
        print(
            "!: other processes kept CPUs busy during that row; its CPU timings are inflated, "
            "rerun it on a quiet machine"
        )

    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": info, "rows": rows}, handle, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
