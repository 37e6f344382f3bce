"""Runners of the PandaNet forward pass: torch, ONNX Runtime and OpenVINO, fp32 / bf16 / int8.

Every runner takes the letterboxed batch, (B, H, W, 3) uint8 RGB, and returns the
`Candidates` of each image (`crowdpose3d.core.decode.gather_candidates`: the best ``top_k``
anchors and their predictions), so the `Predictor` decodes the same small arrays whatever
ran the network.

    backend       precisions        needs
    torch         fp32, bf16        (always installed); bf16 is autocast (CPU or CUDA)
    onnxruntime   fp32, int8        pip install 'crowdpose3d[onnx]'
    openvino      fp32, bf16, int8  pip install 'crowdpose3d[openvino]' (CPU only)

``backend="auto"`` / ``precision="auto"`` (`choose`) pick the fastest combination this
machine has, in the order of `CPU_PREFERENCE`: on CUDA torch fp16; on a CPU with bf16
instructions (AVX512-BF16 or AMX) bf16 on OpenVINO (a checkpoint is exported for it once,
where `onnx` is installed), else on torch; elsewhere fp32 on ONNX Runtime, OpenVINO, then
torch. int8 is never chosen automatically (it costs accuracy, see docs/models.md); ask
for it.

A checkpoint (``.pt``, ``builtin:NAME``) runs on any backend: for ONNX Runtime and OpenVINO
it is exported first, once, by a child process, into a cache (`exported_file`; int8 is
calibrated then, about a minute on 2 cores); an exported file (``.onnx``, OpenVINO
``.xml``) runs on ONNX Runtime or OpenVINO. `load_model` reads either kind with one-line
`CheckpointError`s.

Threads: on a CPU the runner's threads compete with the pipeline's other stages. Runners
use ``threads`` intra-op threads (ONNX Runtime and OpenVINO by default: every CPU this
process may use; torch: ``torch.set_num_threads`` when given, process-wide, else torch's
own default), one inter-op thread, and ONNX Runtime's spin-waiting is off, so a runner
waiting for its next batch leaves the cores to decoding, lifting and tracking.
"""

from __future__ import annotations

import atexit
import functools
import json
import logging
import os
import tempfile
import threading
import weakref
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from torch import Tensor

from crowdpose3d.core.checkpoint import (
    CheckpointError,
    PandaNetCheckpoint,
    load_checkpoint,
    resolve_model_path,
)
from crowdpose3d.core.decode import Candidates
from crowdpose3d.core.skeleton import Skeleton, get_skeleton
from crowdpose3d.messages import first_line

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "Choice",
    "ExportedModel",
    "Runner",
    "available_backends",
    "choose",
    "cpu_has_bf16",
    "load_model",
    "make_runner",
]

log = logging.getLogger("crowdpose3d.backends")

BACKENDS = ("torch", "onnxruntime", "openvino")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")  # fp16: torch on CUDA only
# Precisions each backend runs (on a CPU; torch also runs fp16 on CUDA).
SUPPORTED = {
    "torch": ("fp32", "fp16", "bf16"),
    "onnxruntime": ("fp32", "int8"),
    "openvino": ("fp32", "bf16", "int8"),
}
# `choose`'s order of preference on a CPU, fastest first. Whole pipeline, ms per frame,
# `python benchmarks/backends.py --threads 1` (docs/backends.md, run B, sparse heads, a
# loaded machine): bf16 openvino 50.5 < torch 95.6; fp32 openvino 152.8 < onnxruntime
# 178.7 < torch 193.8; int8 openvino 52.5 < onnxruntime 115.6.
CPU_PREFERENCE = {
    "bf16": ("openvino", "torch"),
    "fp32": ("onnxruntime", "openvino", "torch"),
    "int8": ("onnxruntime", "openvino"),
}
# The Python module that each optional backend needs, and the extra that installs it.
BACKEND_MODULES = {"onnxruntime": ("onnxruntime", "onnx"), "openvino": ("openvino", "openvino")}
EXPORTED_SUFFIXES = (".onnx", ".xml")
# Candidates per image of exported graphs (engine.export.DEFAULT_TOP_K).
DEFAULT_TOP_K = 1000
# Autocast dtypes of the torch runner; fp32 runs without autocast.
TORCH_DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
# OpenVINO's INFERENCE_PRECISION_HINT per precision (int8 files carry their own int8 ops;
# the rest of such a graph runs in f32).
OPENVINO_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
# (H, W) of an OpenVINO runner's first call, made when it is built (`OpenVinoRunner`),
# unless it is told the model's input size: the shipped models'. (A much smaller image can
# have fewer candidates than the graph's top-k, which OpenVINO refuses.)
WARM_UP_SIZE = (320, 512)


@dataclass
class ExportedModel:
    """An exported model file (`crowdpose3d.engine.export`) and its metadata.

    Attributes mirror `PandaNetCheckpoint` where they mean the same thing: anchors (A, 2),
    skeleton, input_size (height, width), name. ``kind`` is "onnx" or "openvino" (IR).
    """

    path: Path
    kind: str
    anchors: Tensor
    skeleton: Skeleton
    input_size: tuple[int, int]
    name: str
    output_stride: int
    top_k: int
    precision: str  # "fp32" or "int8": what the file holds
    metadata: dict[str, Any] = field(default_factory=dict)

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) of the output grid for an input of ``height x width``."""
        return height // self.output_stride, width // self.output_stride


def load_model(spec: str | Path, device: str | torch.device = "cpu"):
    """``builtin:NAME``, a checkpoint, an ``.onnx`` or an OpenVINO ``.xml`` file ->
    `PandaNetCheckpoint` or `ExportedModel`; `CheckpointError` (one line) when unusable."""
    if Path(str(spec)).suffix.lower() in EXPORTED_SUFFIXES:
        return read_exported(resolve_model_path(spec))
    return load_checkpoint(spec, device=device)


def read_exported(path: Path) -> ExportedModel:
    """The metadata of an exported file; `CheckpointError` for a foreign or broken file."""
    kind = "openvino" if path.suffix.lower() == ".xml" else "onnx"
    metadata = _read_onnx_metadata(path) if kind == "onnx" else _read_openvino_metadata(path)
    from crowdpose3d.engine.export import EXPORT_FORMAT, EXPORT_FORMAT_VERSION

    if metadata.get("format") != EXPORT_FORMAT:
        raise CheckpointError(
            f"{path} is a model file without crowdpose3d's metadata (anchors, skeleton); "
            "write one with `crowdpose3d export`"
        )
    try:
        version = int(metadata["format_version"])
        if version > EXPORT_FORMAT_VERSION:
            raise CheckpointError(
                f"{path} was written by a newer crowdpose3d (export format {version}, this "
                f"version reads up to {EXPORT_FORMAT_VERSION}); upgrade crowdpose3d"
            )
        height, width = json.loads(metadata["input_size"])
        return ExportedModel(
            path=path,
            kind=kind,
            anchors=torch.tensor(json.loads(metadata["anchors"]), dtype=torch.float32),
            skeleton=get_skeleton(metadata["skeleton"]),
            input_size=(int(height), int(width)),
            name=metadata.get("model_name") or str(path),
            output_stride=int(metadata["output_stride"]),
            top_k=int(metadata["top_k"]),
            precision=metadata.get("precision", "fp32"),
            metadata=metadata,
        )
    except (KeyError, ValueError, TypeError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(
            f"{path} has broken crowdpose3d metadata ({first_line(error)[:200]}); export it "
            "again with `crowdpose3d export`"
        ) from None


def _read_onnx_metadata(path: Path) -> dict[str, str]:
    try:
        import onnx
    except ImportError:
        raise CheckpointError(
            f"reading {path} needs onnx: pip install 'crowdpose3d[onnx]'"
        ) from None
    try:
        graph = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # noqa: BLE001 - any parse failure of an untrusted file
        raise CheckpointError(
            f"{path} is not a readable ONNX file ({first_line(error)[:200]}); is it complete "
            "and written by `crowdpose3d export`?"
        ) from None
    return {entry.key: entry.value for entry in graph.metadata_props}


def _read_openvino_metadata(path: Path) -> dict[str, str]:
    try:
        import openvino  # noqa: F401 - only whether it is installed
    except ImportError:
        raise CheckpointError(
            f"reading {path} needs openvino: pip install 'crowdpose3d[openvino]'"
        ) from None
    try:
        model = openvino_core().read_model(str(path))
    except Exception as error:  # noqa: BLE001 - any parse failure of an untrusted file
        raise CheckpointError(
            f"{path} is not a readable OpenVINO IR file ({first_line(error)[:200]}); it needs "
            "its .bin beside it, as `crowdpose3d export` writes them"
        ) from None
    if not model.has_rt_info(["crowdpose3d", "format"]):
        return {}
    info = model.get_rt_info()["crowdpose3d"]
    return {key: str(info[key].astype(str)) for key in info}


@functools.cache
def openvino_core() -> Any:
    """The process's one OpenVINO ``Core``, alive until the process exits.

    One, not one per model: OpenVINO's CPU plugin, each time an instance of it is created,
    sets a 20 KB alternate signal stack on the calling thread and, when that instance is
    destroyed, puts back the stack it found. Plugins destroyed in another order than they
    were made (two models loaded, the first one closed first) leave the thread's alternate
    stack pointing at unmapped memory, and the next signal with a Python handler (Python
    installs its handlers with SA_ONSTACK: SIGCHLD once a DataLoader has workers, SIGINT,
    SIGALRM) kills the process with SIGSEGV. Measured with OpenVINO 2026.4
    (tests/test_backends.py::test_openvino_models_closed_in_any_order_leave_signals_working).
    A Core that lives as long as the process keeps one plugin instance for all models.
    """
    import openvino as ov

    return ov.Core()


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX-BF16), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def available_backends() -> list[str]:
    """The backends whose packages are installed, torch first."""
    import importlib.util

    found = ["torch"]
    for backend, (module, _) in BACKEND_MODULES.items():
        if importlib.util.find_spec(module) is not None:
            found.append(backend)
    return found


class Choice(NamedTuple):
    backend: str
    precision: str
    reason: str  # why, for the log line


def choose(
    backend: str,
    precision: str,
    device: torch.device,
    exported: bool = False,
    file_precision: str | None = None,
    file_kind: str | None = None,
) -> Choice:
    """Resolve ``auto`` in ``backend`` / ``precision`` for this machine, and check the pair.

    ``exported``: the model is an exported file (not torch); ``file_precision``: "int8"
    for a quantised file, which then runs as int8; ``file_kind``: "openvino" for an
    OpenVINO IR file, which only OpenVINO runs (an ONNX file runs on either).

    Raises ValueError (one line) for an unknown name, a backend that is not installed or
    a pair that cannot run here.
    """
    if backend not in ("auto", *BACKENDS):
        raise ValueError(f"unknown backend {backend!r}; use auto, {', '.join(BACKENDS)}")
    if precision not in ("auto", *PRECISIONS):
        raise ValueError(f"unknown precision {precision!r}; use auto, {', '.join(PRECISIONS)}")
    installed = available_backends()
    if exported:
        installed = [name for name in installed if name != "torch"]
    if file_kind == "openvino":
        installed = [name for name in installed if name == "openvino"]
    reasons = []
    if precision == "auto" and file_precision == "int8":
        precision = "int8"
        reasons.append("precision int8: the file is quantised")
    if precision == "auto":
        if device.type == "cuda":
            precision, why = "fp16", "CUDA device"
        elif backend != "auto" and "bf16" not in SUPPORTED.get(backend, ()):
            precision, why = "fp32", f"{backend} has no bf16 on CPUs"
        elif cpu_has_bf16():
            precision, why = "bf16", "the CPU has bf16 instructions"
        else:
            precision, why = "fp32", "the CPU has no bf16 instructions"
        if backend == "auto" and device.type != "cuda":
            if not any(name in installed for name in CPU_PREFERENCE[precision]):
                precision, why = "fp32", f"no installed backend runs {precision} here"
        reasons.append(f"precision {precision}: {why}")
    if backend == "auto":
        if device.type == "cuda":
            order: tuple[str, ...] = ("torch",)
        else:
            order = CPU_PREFERENCE.get(precision, ("torch",))
        candidates = [name for name in order if name in installed]
        if not exported and not _can_export():  # a checkpoint reaches them through ONNX
            candidates = [name for name in candidates if name == "torch"]
        if not candidates:
            raise ValueError(_missing_backend(precision, exported))
        backend = candidates[0]
        reasons.append(f"backend {backend}: the fastest installed for {precision}")
    elif backend != "torch" and backend not in installed:
        module, extra = BACKEND_MODULES[backend]
        raise ValueError(f"backend {backend} needs {module}: pip install 'crowdpose3d[{extra}]'")
    if exported and backend == "torch":
        raise ValueError(
            "an exported model (.onnx, .xml) runs on onnxruntime or openvino, not torch; "
            "use --backend auto or give the checkpoint"
        )
    if device.type == "cuda" and backend != "torch":
        raise ValueError(f"backend {backend} runs on the CPU here; use --device cpu or torch")
    if precision not in SUPPORTED[backend]:
        runs = [name for name in BACKENDS if precision in SUPPORTED[name]]
        raise ValueError(
            f"backend {backend} does not run {precision}; use {' or '.join(runs)} for "
            f"{precision}, or precision {' / '.join(SUPPORTED[backend])}"
        )
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision fp16 needs a CUDA device; use bf16 or fp32 on a CPU")
    return Choice(backend, precision, "; ".join(reasons) or "as asked")


def _can_export() -> bool:
    """Whether checkpoints can be exported here (the onnx package), for `choose`'s auto."""
    import importlib.util

    return importlib.util.find_spec("onnx") is not None


def _missing_backend(precision: str, exported: bool) -> str:
    if exported:
        return "an exported model needs onnxruntime or openvino: pip install 'crowdpose3d[onnx]'"
    return f"precision {precision} needs onnxruntime or openvino: pip install 'crowdpose3d[onnx]'"


class Runner(Protocol):
    """One forward pass of a batch: (B, H, W, 3) uint8 -> `Candidates` (torch tensors)."""

    backend: str
    precision: str

    def __call__(self, images: np.ndarray) -> Candidates: ...


def default_threads() -> int:
    """Every CPU this process may run on (its affinity mask, e.g. a container's share)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class TorchRunner:
    """The eager torch model (CPU or CUDA), fp32 or bf16 / fp16 autocast."""

    backend = "torch"

    def __init__(
        self,
        checkpoint: PandaNetCheckpoint,
        device: torch.device,
        precision: str,
        top_k: int,
        threads: int | None = None,
    ) -> None:
        from crowdpose3d.engine.export import DeployedPandaNet

        self.precision = precision
        self.device = device
        if threads is not None and device.type == "cpu":
            torch.set_num_threads(threads)  # torch's intra-op pool is one per process
        self.graph = DeployedPandaNet(checkpoint.model.eval().to(device), top_k).eval()

    def __call__(self, images: np.ndarray) -> Candidates:
        batch = torch.from_numpy(images).to(self.device)  # (B, H, W, 3) uint8
        dtype = TORCH_DTYPES[self.precision]
        autocast = (
            torch.autocast(device_type=self.device.type, dtype=dtype)
            if dtype is not None
            else nullcontext()
        )
        with torch.inference_mode(), autocast:
            return Candidates(*self.graph(batch))


class OnnxRuntimeRunner:
    """An exported ONNX file on ONNX Runtime's CPU execution provider."""

    backend = "onnxruntime"

    def __init__(self, path: Path, precision: str, threads: int) -> None:
        import onnxruntime as ort

        self.precision = precision
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # noqa: BLE001 - an untrusted file: one line
            raise CheckpointError(
                f"{path}: ONNX Runtime cannot run it ({first_line(error)[:200]})"
            ) from None

    def __call__(self, images: np.ndarray) -> Candidates:
        from crowdpose3d.engine.export import INPUT_NAME

        outputs = self.session.run(None, {INPUT_NAME: images})
        return Candidates(*(torch.from_numpy(output) for output in outputs))


class OpenVinoRunner:
    """An exported ONNX or IR file compiled for OpenVINO's CPU plugin."""

    backend = "openvino"

    def __init__(
        self,
        path: Path,
        precision: str,
        threads: int,
        input_size: tuple[int, int] = WARM_UP_SIZE,
    ) -> None:
        self.precision = precision
        self.path = path
        config = {
            "INFERENCE_PRECISION_HINT": OPENVINO_HINTS[precision],
            "PERFORMANCE_HINT": "LATENCY",  # one stream: one batch at a time, all threads
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
        }
        try:
            core = openvino_core()
            self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        except Exception as error:  # noqa: BLE001 - an untrusted file: one line
            raise CheckpointError(
                f"{path}: OpenVINO cannot run it ({first_line(error)[:200]})"
            ) from None
        self.request = self.compiled.create_infer_request()
        # One call now, on the thread that builds the runner: the first call in a process
        # initialises a static of OpenVINO's Python binding (numpy's API) under a guard that
        # holds the GIL, and two threads making their first calls at once deadlock (3 of 16
        # tries, OpenVINO 2026.4: one thread in ``__cxa_guard_acquire`` holding the GIL, the
        # other inside pybind11's ``call_once`` waiting for it; the whole process freezes).
        self.request.infer([np.zeros((1, *input_size, 3), np.uint8)])  # (B, H, W, 3)
        # Held during a call; taken for good when the interpreter exits (`_park_at_exit`).
        self._calling = threading.Lock()
        atexit.register(_park_at_exit, weakref.ref(self))

    def __call__(self, images: np.ndarray) -> Candidates:
        with self._calling:
            self.request.infer([images])
            # Copies: the request's output buffers are reused by the next batch.
            outputs = [self.request.get_output_tensor(i).data.copy() for i in range(5)]
            return Candidates(*(torch.from_numpy(output) for output in outputs))


def _park_at_exit(runner_ref: weakref.ref) -> None:
    """At interpreter exit: wait for the runner's call in progress and let no other start.

    A process that exits while daemon threads keep calling OpenVINO's ``infer`` aborts
    ("terminate called without an active exception") or hangs as the interpreter tears
    OpenVINO down: 4 of 6 tries of a script doing that, OpenVINO 2026.4; 0 of 76 with this
    handler. It is not a cure: in one full test-suite run on a busy machine the same script
    aborted 3 times in 4 (cause unknown), so the pipeline's own rule stays the guard: its
    runners join every thread before they return. Parked callers are daemon threads (exit
    handlers run after the others have ended); they stay blocked until the process is gone.
    """
    runner = runner_ref()
    if runner is not None:
        runner._calling.acquire()
        runner.request = runner.compiled = None  # closed here, not during the teardown


def make_runner(
    model: PandaNetCheckpoint | ExportedModel,
    backend: str,
    precision: str,
    device: torch.device,
    threads: int | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> Runner:
    """The runner for a resolved (`choose`) backend and precision.

    A checkpoint given to ONNX Runtime or OpenVINO is exported to ONNX first (and quantised
    for int8), once, in a child process, and cached (`exported_file`); an exported fp32
    file asked to run int8 is refused (export it with ``--int8``), an int8 file runs as
    int8 whatever was asked.
    """
    if backend == "torch":
        if isinstance(model, ExportedModel):
            raise ValueError("an exported model runs on onnxruntime or openvino, not torch")
        return TorchRunner(model, device, precision, top_k, threads)  # None: torch's own
    threads = threads or default_threads()

    def build(path: Path, precision: str) -> Runner:
        if backend == "openvino":
            return OpenVinoRunner(path, precision, threads, model.input_size)
        return OnnxRuntimeRunner(path, precision, threads)

    if isinstance(model, ExportedModel):
        if precision == "int8" and model.precision != "int8":
            raise ValueError(
                f"{model.path} holds fp32 weights; for int8 write one with "
                "`crowdpose3d export --int8` or give the checkpoint"
            )
        if model.precision == "int8" and precision != "int8":
            log.info("%s is quantised: it runs as int8", model.path)
            precision = "int8"
        if model.kind == "openvino" and backend != "openvino":
            raise ValueError(f"{model.path} is OpenVINO IR: it runs on backend openvino")
        return build(model.path, precision)
    from crowdpose3d.engine.export import (
        amx_int8_cpu,
        calibration_images,
        export_onnx,
        quantize_int8,
    )

    # int8 for OpenVINO: symmetric int8 activations where the CPU has AMX, else uint8 ones
    # (engine.export.export_model says why).
    symmetric = backend == "openvino" and precision == "int8" and amx_int8_cpu()
    if model.name and top_k == DEFAULT_TOP_K:
        path = exported_file(model.name, int8=precision == "int8", symmetric=symmetric)
        return build(path, precision)
    with tempfile.TemporaryDirectory(prefix="crowdpose3d_runner_") as folder:
        path = export_onnx(model, Path(folder) / "model.onnx", top_k=top_k)
        if precision == "int8":
            log.info("quantising %s to int8 (calibration on generated frames)", model.name)
            images = calibration_images(model.input_size)
            path = quantize_int8(
                path, Path(folder) / "model_int8.onnx", images, symmetric_activations=symmetric
            )
        return build(path, precision)


def cache_dir() -> Path:
    """Where exported copies of checkpoints are kept: $XDG_CACHE_HOME/crowdpose3d/exported
    (default ~/.cache/crowdpose3d/exported)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "crowdpose3d" / "exported"


def exported_file(spec: str, int8: bool, symmetric: bool = False) -> Path:
    """An ONNX export of checkpoint ``spec`` (fp32 or int8), made once and cached.

    ``symmetric``: int8 activations with zero point 0 (for OpenVINO) instead of uint8.

    The export runs in a child process (``crowdpose3d export``): tracing, the ONNX proto
    and the quantiser's calibration need several hundred MB that a long run should not
    keep. The cache key is the checkpoint file's content, the int8 flag and the source of
    the modules that shape the graph, so a changed checkpoint or graph is exported again.
    """
    import hashlib
    import subprocess
    import sys

    from crowdpose3d.core import decode, model, sparse_heads
    from crowdpose3d.engine import export

    digest = hashlib.sha256(resolve_model_path(spec).read_bytes())
    for module in (decode, model, sparse_heads, export):
        digest.update(Path(module.__file__).read_bytes())
    symmetric = symmetric and int8
    digest.update((b"int8" + b"s8" * symmetric) if int8 else b"fp32")
    folder = cache_dir()
    path = folder / f"{Path(str(spec)).stem.replace('builtin:', '')}-{digest.hexdigest()[:16]}"
    path = path.with_suffix((".int8s8.onnx" if symmetric else ".int8.onnx") if int8 else ".onnx")
    if path.is_file():
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(tempfile.mkdtemp(prefix="crowdpose3d_export_")) / path.name
    kind = ("int8, symmetric activations" if symmetric else "int8") if int8 else "fp32"
    log.info("exporting %s to %s once (%s; later runs reuse it)", spec, path, kind)
    command = [
        sys.executable,
        "-m",
        "crowdpose3d.cli",
        "export",
        "--model",
        str(spec),
        "-o",
        str(path),
    ]
    if int8:
        command += ["--int8"] + (["--symmetric-activations"] if symmetric else [])
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not path.is_file():
        lines = done.stderr.strip().splitlines()
        raise ValueError(f"exporting {spec} failed: {lines[-1] if lines else done.returncode}")
    return path
