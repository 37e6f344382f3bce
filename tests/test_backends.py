"""Backends and precisions against torch fp32, the export round trip, and bad exported files.

The fixed image is a generated 512x320 street frame with 25 people run through the shipped
model (`builtin:crowd-small`), so the comparison is between real detections. Tolerances:

- fp32 on another backend: the same detections, boxes and 2D joints within 0.05 px,
  scores within 1e-3, 3D joints within 1e-3 (float reassociation only).
- bf16 and int8: of the reference people scoring >= 0.5, at least 90 % are found again at
  IoU >= 0.5; over those matches the median 2D joint error is under 2 px and the median
  score difference under 0.05 (reduced precision moves scores and offsets a little).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from crowdpose3d.cli import main
from crowdpose3d.core.anchors import anchor_grid
from crowdpose3d.core.boxes import pairwise_box_iou
from crowdpose3d.core.checkpoint import CheckpointError, load_checkpoint
from crowdpose3d.core.decode import PoseDecoder, gather_candidates
from crowdpose3d.core.model import PandaNet
from crowdpose3d.engine import backends
from crowdpose3d.engine.backends import choose, load_model
from crowdpose3d.engine.predictor import Predictor

HAS = {name: importlib.util.find_spec(name) is not None for name in ("onnxruntime", "openvino")}
HAS["onnx"] = importlib.util.find_spec("onnx") is not None
CPU = torch.device("cpu")
MODEL = "builtin:crowd-small"
# Reference people whose score is at least this are the ones a reduced precision must keep.
CONFIDENT = 0.5
# Fraction of them found again at IoU >= 0.5 (bf16 / int8).
MIN_RECALL = 0.9
MAX_MEDIAN_KP2D_PX = 2.0
MAX_MEDIAN_SCORE_DIFF = 0.05


def needs(*modules: str):
    missing = [m for m in modules if not HAS[m]]
    return pytest.mark.skipif(
        bool(missing),
        reason=f"{', '.join(missing)} not installed (pip install 'crowdpose3d[onnx,openvino]')",
    )


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    from crowdpose3d.data.synth import SynthConfig, generate_sequence

    config = SynthConfig(num_frames=1, fps=5, width=512, height=320, min_people=25, max_people=25)
    return next(iter(generate_sequence(config, seed=31))).image  # (320, 512, 3) uint8


@pytest.fixture(scope="module")
def reference(image):
    predictor = Predictor.from_spec(MODEL, device="cpu", score_threshold=0.1)
    poses = predictor([image])[0]
    assert (poses.scores >= CONFIDENT).sum() >= 10, "the fixed image needs real detections"
    return poses


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """fp32 and int8 ONNX files of the shipped model (int8: 8 calibration frames)."""
    if not (HAS["onnx"] and HAS["onnxruntime"]):
        pytest.skip("onnx / onnxruntime not installed (pip install 'crowdpose3d[onnx]')")
    from crowdpose3d.engine.export import export_model

    folder = tmp_path_factory.mktemp("exported")
    fp32 = export_model(MODEL, folder / "model.onnx")
    int8 = export_model(MODEL, folder / "model_int8.onnx", int8=True, calibration_frames=8)
    return {"fp32": fp32, "int8": int8}


def same_detections(poses, reference) -> None:
    """fp32 tolerance: the same people in the same order, values within float noise."""
    assert len(poses) == len(reference)
    np.testing.assert_allclose(poses.boxes, reference.boxes, atol=0.05)
    np.testing.assert_allclose(poses.scores, reference.scores, atol=1e-3)
    np.testing.assert_allclose(poses.kp2d, reference.kp2d, atol=0.05)
    np.testing.assert_allclose(poses.kp3d_rel, reference.kp3d_rel, atol=1e-3)


def close_detections(poses, reference) -> None:
    """bf16 / int8 tolerance (module docstring)."""
    confident = reference.scores >= CONFIDENT
    iou = pairwise_box_iou(
        torch.from_numpy(reference.boxes[confident]), torch.from_numpy(poses.boxes)
    ).numpy()  # (R, N)
    matched = iou.max(axis=1) >= 0.5 if iou.size else np.zeros(confident.sum(), bool)
    assert matched.mean() >= MIN_RECALL, f"found {matched.mean():.0%} of the confident people"
    best = iou.argmax(axis=1)[matched]
    kp_error = np.linalg.norm(poses.kp2d[best] - reference.kp2d[confident][matched], axis=-1)
    assert np.median(kp_error) < MAX_MEDIAN_KP2D_PX
    score_diff = np.abs(poses.scores[best] - reference.scores[confident][matched])
    assert np.median(score_diff) < MAX_MEDIAN_SCORE_DIFF


# --- decode only what matters ------------------------------------------------------------


def same_people(dense, sparse) -> None:
    """The same anchors read out, in the same order; values equal to float32 rounding (the
    batch is decoded in one op instead of per image)."""
    np.testing.assert_array_equal(dense.data["anchor"], sparse.data["anchor"])
    for name in ("boxes", "scores", "kp2d", "kp3d_rel"):
        np.testing.assert_allclose(
            getattr(dense, name), getattr(sparse, name), rtol=1e-6, atol=1e-4, err_msg=name
        )


@pytest.mark.parametrize("threshold", [0.05, 0.3, 0.6])
def test_candidate_decode_equals_the_dense_decode(image, threshold):
    checkpoint = load_checkpoint(MODEL)
    model = checkpoint.model
    batch = torch.from_numpy(np.stack([image, image[:, ::-1].copy()]))
    with torch.inference_mode():
        outputs = model(batch.permute(0, 3, 1, 2).float() / 255)
    anchors = anchor_grid(checkpoint.anchors, *model.output_size(320, 512), model.output_stride)
    decoder = PoseDecoder(score_threshold=threshold)
    dense = decoder(outputs, anchors)
    sparse = decoder.decode_candidates(gather_candidates(outputs, 1000), anchors)
    for a, b in zip(dense, sparse, strict=True):
        assert len(a) > 0 or threshold == 0.6
        same_people(a, b)


def test_candidate_decode_with_more_candidates_than_the_top_k():
    """A random model scores everything alike: thousands above the threshold, as in the
    dense decode only the pre_nms_top_k best of them are decoded."""
    torch.manual_seed(0)
    model = PandaNet(num_anchors=3, preset="tiny").eval()
    with torch.inference_mode():
        outputs = model(torch.rand(1, 3, 128, 128))
    anchors = anchor_grid(torch.tensor([[8.0, 16.0], [16, 32], [32, 64]]), 32, 32, 4)
    decoder = PoseDecoder(score_threshold=0.0, pre_nms_top_k=300)
    dense = decoder(outputs, anchors)[0]
    sparse = decoder.decode_candidates(gather_candidates(outputs, 300), anchors)[0]
    assert len(dense) > 10
    same_people(dense, sparse)


# --- every backend and precision against torch fp32 ---------------------------------------


def test_torch_bf16_on_cpu_is_accepted_and_close(image, reference):
    predictor = Predictor.from_spec(MODEL, device="cpu", precision="bf16", score_threshold=0.1)
    assert (predictor.backend, predictor.precision) == ("torch", "bf16")
    close_detections(predictor([image])[0], reference)


@pytest.mark.slow
@pytest.mark.parametrize(
    "backend, precision",
    [
        pytest.param("onnxruntime", "fp32", marks=needs("onnx", "onnxruntime")),
        pytest.param("openvino", "fp32", marks=needs("onnx", "openvino")),
        pytest.param("openvino", "bf16", marks=needs("onnx", "openvino")),
        pytest.param("onnxruntime", "int8", marks=needs("onnx", "onnxruntime")),
        pytest.param("openvino", "int8", marks=needs("onnx", "onnxruntime", "openvino")),
    ],
)
def test_backend_matches_torch_fp32(image, reference, exported, backend, precision):
    if precision == "bf16" and not backends.cpu_has_bf16():
        pytest.skip("this CPU has no bf16 instructions")
    path = exported["int8" if precision == "int8" else "fp32"]
    predictor = Predictor(
        load_model(path), device="cpu", backend=backend, precision=precision, score_threshold=0.1
    )
    assert (predictor.backend, predictor.precision) == (backend, precision)
    poses = predictor([image])[0]
    if precision == "fp32":
        same_detections(poses, reference)
    else:
        close_detections(poses, reference)


@pytest.mark.slow
@needs("onnx", "onnxruntime")
def test_checkpoint_on_onnxruntime_is_exported_once_and_cached(
    image, reference, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    predictor = Predictor.from_spec(MODEL, device="cpu", backend="onnxruntime", precision="fp32")
    poses = predictor([image, image[:160]])  # a batch of two sizes: both letterboxed
    same_detections(poses[0], reference[reference.scores > 0.3])
    assert len(poses[1]) > 0
    cached = sorted(backends.cache_dir().iterdir())
    assert len(cached) == 1 and cached[0].suffix == ".onnx"
    before = cached[0].stat().st_mtime_ns
    Predictor.from_spec(MODEL, device="cpu", backend="onnxruntime", precision="fp32")
    assert sorted(backends.cache_dir().iterdir()) == cached  # reused, not exported again
    assert cached[0].stat().st_mtime_ns == before


@pytest.mark.slow
@needs("onnx", "onnxruntime", "openvino")
@pytest.mark.parametrize("amx", [False, True])
def test_checkpoint_on_openvino_int8_takes_symmetric_activations_only_with_amx(
    image, reference, tmp_path, monkeypatch, amx
):
    """OpenVINO's int8 is quantised with int8 activations (zero point 0, its own cached file)
    on a CPU with AMX, where they run twice as fast; without AMX with uint8 ones, since
    there OpenVINO computes the int8 ones wrong (an AMD EPYC with AVX-512 VNNI found 56 % of
    the people). Either way the detections are the fp32 ones, within the int8 tolerance,
    where this machine can run the file right."""
    from crowdpose3d.engine import export

    this_cpu_has_amx = export.amx_int8_cpu()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(export, "amx_int8_cpu", lambda: amx)
    predictor = Predictor.from_spec(
        MODEL, device="cpu", backend="openvino", precision="int8", score_threshold=0.1
    )
    assert (predictor.backend, predictor.precision) == ("openvino", "int8")
    cached = sorted(backends.cache_dir().iterdir())
    assert [path.name.endswith(".int8s8.onnx" if amx else ".int8.onnx") for path in cached] == [
        True
    ]
    import onnx

    graph = onnx.load(str(cached[0]))
    zero_points = {
        onnx.numpy_helper.to_array(init).dtype
        for init in graph.graph.initializer
        if init.name.endswith("zero_point")
    }  # activations (int8 or uint8), weights int8, the biases' int32
    assert (np.dtype(np.uint8) in zero_points) is not amx
    if amx and not this_cpu_has_amx:
        return  # a symmetric file on a CPU without AMX: the case OpenVINO gets wrong
    close_detections(predictor([image])[0], reference)


def test_amx_is_read_from_the_cpu_flags(tmp_path):
    from crowdpose3d.engine.export import amx_int8_cpu

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_vnni amx_bf16 amx_int8\n")
    assert amx_int8_cpu(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_vnni\n")
    assert not amx_int8_cpu(cpuinfo)
    assert not amx_int8_cpu(tmp_path / "missing")


# --- export round trip ------------------------------------------------------------------------


@pytest.mark.slow
def test_onnx_export_round_trip(exported):
    checkpoint = load_checkpoint(MODEL)
    for precision, path in exported.items():
        model = load_model(path)
        assert isinstance(model, backends.ExportedModel)
        assert model.precision == precision
        assert model.skeleton is checkpoint.skeleton
        assert model.input_size == checkpoint.input_size
        assert model.name == MODEL
        assert model.output_stride == checkpoint.model.output_stride
        torch.testing.assert_close(model.anchors, checkpoint.anchors)


@pytest.mark.slow
@needs("onnx", "onnxruntime")
def test_onnx_file_has_dynamic_batch_and_size(exported):
    import onnxruntime as ort

    session = ort.InferenceSession(str(exported["fp32"]), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["batch", "height", "width", 3]
    images = np.zeros((3, 256, 384, 3), dtype=np.uint8)  # another batch and size
    logits, indices, boxes, kp2d, kp3d = session.run(None, {"images": images})
    assert logits.shape == (3, 1000) and kp3d.shape == (3, 1000, 22, 3)
    assert indices.max() < (256 // 4) * (384 // 4) * 10


@pytest.mark.slow
@needs("onnx", "onnxruntime", "openvino")
def test_openvino_models_closed_in_any_order_leave_signals_working(exported):
    """Two models on OpenVINO, the first one closed first, then a signal with a Python
    handler: the process lives. (Each OpenVINO CPU plugin instance swaps the thread's
    alternate signal stack and puts the old one back when destroyed; out of order, that
    left an unmapped stack and a SIGSEGV: `backends.openvino_core`.)"""
    script = textwrap.dedent(
        f"""
        import gc, signal, subprocess
        from pathlib import Path
        from crowdpose3d.engine.backends import OpenVinoRunner
        first = OpenVinoRunner(Path({str(exported["fp32"])!r}), "bf16", 1)
        second = OpenVinoRunner(Path({str(exported["fp32"])!r}), "bf16", 1)
        del first
        gc.collect()
        del second
        gc.collect()
        signal.signal(signal.SIGCHLD, lambda *_: None)
        subprocess.run(["true"], check=True)
        print("alive")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "alive" in done.stdout, (done.returncode, done.stderr[-400:])


@pytest.mark.slow
@needs("onnx", "onnxruntime", "openvino")
def test_openvino_first_calls_from_several_threads_at_once_do_not_deadlock(exported):
    """Four runners whose first calls start at the same moment on four threads, in a fresh
    process (twice): all return. (Before each runner made its first call when built, 6 of
    8 such processes froze: a static of OpenVINO's Python binding initialised under a guard
    that holds the GIL; `OpenVinoRunner`.)"""
    script = textwrap.dedent(
        f"""
        import threading
        from pathlib import Path
        import numpy as np
        from crowdpose3d.engine.backends import OpenVinoRunner
        runners = [OpenVinoRunner(Path({str(exported["fp32"])!r}), "bf16", 1) for _ in range(4)]
        images = np.zeros((1, 320, 512, 3), np.uint8)
        barrier = threading.Barrier(len(runners))
        def first_call(runner):
            barrier.wait()
            runner(images)
        threads = [threading.Thread(target=first_call, args=(r,)) for r in runners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print("returned")
        """
    )
    for _ in range(2):
        try:
            done = subprocess.run(
                [sys.executable, "-c", script], capture_output=True, text=True, timeout=90
            )
        except subprocess.TimeoutExpired:
            pytest.fail("the first calls froze the process (no return in 90 s)")
        assert done.returncode == 0 and "returned" in done.stdout, done.stderr[-400:]


@needs("onnx", "onnxruntime", "openvino")
def test_openvino_ir_export_round_trip(tmp_path, image, reference):
    assert main(["export", "--model", MODEL, "-o", str(tmp_path / "model.xml")]) == 0
    model = load_model(tmp_path / "model.xml")
    assert model.kind == "openvino" and model.input_size == (320, 512)
    predictor = Predictor(model, device="cpu", backend="auto", precision="fp32")
    assert predictor.backend == "openvino"
    same_detections(predictor([image])[0], reference[reference.scores > 0.3])


# --- choices and one-line errors -----------------------------------------------------------


def test_auto_choice_follows_the_cpu(monkeypatch):
    monkeypatch.setattr(backends, "available_backends", lambda: ["torch"])
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: True)
    assert choose("auto", "auto", CPU)[:2] == ("torch", "bf16")
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: False)
    assert choose("auto", "auto", CPU)[:2] == ("torch", "fp32")
    monkeypatch.setattr(backends, "available_backends", lambda: ["torch", "onnxruntime"])
    assert choose("auto", "auto", CPU)[:2] == ("onnxruntime", "fp32")
    assert choose("auto", "int8", CPU)[:2] == ("onnxruntime", "int8")
    monkeypatch.setattr(backends, "available_backends", lambda: BACKENDS_ALL)
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: True)
    assert choose("auto", "auto", CPU)[:2] == ("openvino", "bf16")
    # Without OpenVINO, bf16 runs on torch (autocast).
    monkeypatch.setattr(backends, "available_backends", lambda: ["torch", "onnxruntime"])
    assert choose("auto", "auto", CPU)[:2] == ("torch", "bf16")
    monkeypatch.setattr(backends, "available_backends", lambda: BACKENDS_ALL)
    # An exported file on a bf16 CPU: OpenVINO's bf16 (torch does not run it).
    assert choose("auto", "auto", CPU, exported=True)[:2] == ("openvino", "bf16")
    # Without onnx a checkpoint cannot reach OpenVINO (it is exported first): fp32 torch.
    monkeypatch.setattr(backends, "_can_export", lambda: False)
    assert choose("auto", "fp32", CPU)[:2] == ("torch", "fp32")
    monkeypatch.setattr(backends, "_can_export", lambda: True)
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: False)
    assert choose("auto", "auto", CPU)[:2] == ("onnxruntime", "fp32")
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: True)
    assert "bf16 instructions" in choose("auto", "auto", CPU).reason
    # An exported file on a machine with ONNX Runtime only: fp32, or int8 for an int8 file.
    monkeypatch.setattr(backends, "available_backends", lambda: ["torch", "onnxruntime"])
    assert choose("auto", "auto", CPU, exported=True)[:2] == ("onnxruntime", "fp32")
    assert choose("auto", "auto", CPU, True, "int8")[:2] == ("onnxruntime", "int8")
    # An OpenVINO IR file runs only on OpenVINO, whatever else is installed or faster.
    monkeypatch.setattr(backends, "available_backends", lambda: BACKENDS_ALL)
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: False)
    ir_choice = choose("auto", "auto", CPU, exported=True, file_kind="openvino")
    assert ir_choice[:2] == ("openvino", "fp32")
    monkeypatch.setattr(backends, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(backends, "available_backends", lambda: BACKENDS_ALL)
    # A named backend without bf16 gets fp32 from precision auto, not an error.
    assert choose("onnxruntime", "auto", CPU)[:2] == ("onnxruntime", "fp32")
    assert choose("openvino", "auto", CPU)[:2] == ("openvino", "bf16")


BACKENDS_ALL = ["torch", "onnxruntime", "openvino"]


@pytest.mark.parametrize(
    "backend, precision, exported, message",
    [
        ("torch", "int8", False, "backend torch does not run int8; use onnxruntime or openvino"),
        ("onnxruntime", "bf16", False, "backend onnxruntime does not run bf16"),
        ("torch", "fp32", True, "an exported model (.onnx, .xml) runs on onnxruntime or openvino"),
        ("torch", "fp16", False, "precision fp16 needs a CUDA device"),
        ("tensorrt", "fp32", False, "unknown backend 'tensorrt'"),
        ("torch", "fp8", False, "unknown precision 'fp8'"),
    ],
)
def test_impossible_choices_are_one_line(monkeypatch, backend, precision, exported, message):
    monkeypatch.setattr(backends, "available_backends", lambda: BACKENDS_ALL)
    with pytest.raises(ValueError) as error:
        choose(backend, precision, CPU, exported=exported)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_missing_backend_names_the_extra(monkeypatch):
    monkeypatch.setattr(backends, "available_backends", lambda: ["torch"])
    with pytest.raises(ValueError, match=r"pip install 'crowdpose3d\[openvino\]'"):
        choose("openvino", "fp32", CPU)
    with pytest.raises(ValueError, match=r"needs onnxruntime or openvino"):
        choose("auto", "int8", CPU)


def bad_files(folder):
    """name -> a file that is not a usable exported model."""
    files = {
        "garbage.onnx": b"not a model at all\x00\x01" * 50,
        "empty.onnx": b"",
        "garbage.xml": b"<net><broken",
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    names = list(files) + ["missing.onnx"]
    if HAS["onnx"]:
        import onnx
        from onnx import TensorProto, helper

        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])],
            "foreign",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )
        onnx.save(helper.make_model(graph), str(folder / "foreign.onnx"))
        names.append("foreign.onnx")
    return names


@pytest.mark.parametrize("index", range(5))
def test_bad_exported_files_are_one_line(tmp_path, capsys, index):
    names = bad_files(tmp_path)
    if index >= len(names):
        pytest.skip("onnx not installed: no foreign ONNX file to write")
    name = names[index]
    if name.endswith(".xml") and not HAS["openvino"]:
        pytest.skip("openvino not installed")
    if name.endswith(".onnx") and name != "missing.onnx" and not HAS["onnx"]:
        pytest.skip("onnx not installed")
    with pytest.raises(CheckpointError) as error:
        load_model(tmp_path / name)
    assert "\n" not in str(error.value) and str(tmp_path / name) in str(error.value)
    code = main(["eval", "--model", str(tmp_path / name), "--data", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("crowdpose3d: ") and "Traceback" not in err


def test_export_refuses_an_unknown_suffix(tmp_path, capsys):
    assert main(["export", "-o", str(tmp_path / "model.trt")]) == 2
    err = capsys.readouterr().err
    assert "name it .onnx (ONNX) or .xml (OpenVINO IR)" in err and err.count("\n") == 1


@pytest.mark.slow
def test_pandanet_stage_loads_an_exported_file(exported, tmp_path):
    from crowdpose3d.pipeline.stage import StageContext, StageError
    from crowdpose3d.stages.pandanet import PandaNetParams, PandaNetStage

    context = StageContext()
    stage = PandaNetStage(PandaNetParams(model=str(exported["int8"]), device="cpu"))
    stage.open(context)
    assert context.facts.precision == "int8"
    assert context.facts.backend in ("onnxruntime", "openvino")
    assert context.facts.model_input_size == [320, 512]
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x01garbage")
    with pytest.raises(StageError) as error:
        PandaNetStage(PandaNetParams(model=str(tmp_path / "bad.onnx"))).open(StageContext())
    assert "\n" not in str(error.value) and "bad.onnx" in str(error.value)


def test_pandanet_stage_reports_the_time_of_each_step(image):
    from crowdpose3d.pipeline.frame import Frame
    from crowdpose3d.pipeline.stage import StageContext
    from crowdpose3d.stages.pandanet import PandaNetParams, PandaNetStage

    stage = PandaNetStage(PandaNetParams(device="cpu", backend="torch", precision="fp32"))
    assert stage.counters() == {}  # not opened: nothing timed
    stage.open(StageContext())
    frames = [Frame(source_id="s", index=i, pts_s=i / 5, image=image) for i in range(2)]
    assert len(list(stage(iter(frames)))) == 2
    counters = stage.counters()
    assert set(counters) == {"letterbox_ms", "forward_ms", "decode_ms", "verify_ms"}
    assert stage.predictor.images_seen == 2
    assert all(counters[f"{step}_ms"] > 0 for step in ("letterbox", "forward", "decode"))
    assert counters["verify_ms"] >= 0  # the detection verifier's re-scoring (0 without one)
    # a 512x320 frame is copied into the batch: far less work than the network's forward
    assert counters["forward_ms"] > counters["letterbox_ms"]


def test_torch_runner_uses_the_threads_asked_for():
    before = torch.get_num_threads()
    try:
        Predictor.from_spec(MODEL, device="cpu", backend="torch", precision="fp32", threads=1)
        assert torch.get_num_threads() == 1  # `--threads 1` reached torch's pool
    finally:
        torch.set_num_threads(before)
