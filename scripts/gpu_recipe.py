"""The GPU recipe: generate synthetic data, train a preset at 928x576 in a time budget,
evaluate it on the held-out sets and write the checkpoint, on one machine without internet.

    python scripts/gpu_recipe.py out/gpu                      # one H200-class GPU, 16 cores
    python scripts/gpu_recipe.py out/gpu --photos out/photos  # + composites and negatives
    python scripts/gpu_recipe.py out/smoke --smoke            # CPU, tiny, about a minute

Steps (each skipped when its output is already there, so a rerun resumes):
1. training data with `crowdpose3d.data.synth.generate_dataset` in parallel processes
   (``--workers``, default: all cores but two): solids crowds (procedural and, when JuPedSim
   is installed, JuPedSim motion), solids traffic, anny meshes with street furniture when
   the mesh extra and EGL are there, and composites on real photographs with ``--photos``;
2. the held-out sets of docs/models.md (the same commands and seeds: solids 999, meshes
   998, meshes with furniture 997; the mesh sets only when the mesh renderer works);
3. a throughput probe (two short runs whose difference gives seconds per step), then the
   training run with ``max_iterations`` set so that it fits ``--train-minutes`` (the poly
   learning-rate decay needs the total up front);
4. evaluation on every held-out set (AP, 3DPCK, MPJPE) and, with ``--photos``, detections
   per real photograph without people; ``OUT/report.json`` and ``OUT/model.pt``.

The GPU timing is untested: no GPU was lent when this was written. ``--smoke`` (tiny sizes,
a few steps, CPU) is what the test suite runs (tests/test_gpu_recipe.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Plan:
    """Sizes of one recipe run."""

    width: int
    height: int
    preset: str
    batch_size: int
    learning_rate: float
    warmup: int
    frames: int  # per training sequence
    crowd_sequences: int
    traffic_sequences: int
    mesh_sequences: int
    photo_sequences: int
    heldout_frames: int
    heldout_sequences: tuple[int, int, int]  # solids, meshes, meshes + furniture
    probe_steps: tuple[int, int]  # the two probe runs' lengths
    fixed_iterations: int | None  # smoke: no probe, this many steps
    loader_workers: int


FULL = Plan(
    width=928, height=576, preset="medium", batch_size=32, learning_rate=0.02, warmup=300,
    frames=30, crowd_sequences=160, traffic_sequences=40, mesh_sequences=60,
    photo_sequences=40, heldout_frames=20, heldout_sequences=(6, 6, 4),
    probe_steps=(10, 40), fixed_iterations=None, loader_workers=12,
)  # fmt: skip
SMOKE = Plan(
    width=160, height=96, preset="tiny", batch_size=2, learning_rate=0.005, warmup=0,
    frames=3, crowd_sequences=2, traffic_sequences=1, mesh_sequences=0, photo_sequences=1,
    heldout_frames=2, heldout_sequences=(1, 0, 0), probe_steps=(0, 0), fixed_iterations=3,
    loader_workers=0,
)  # fmt: skip
HELDOUT_SEEDS = (999, 998, 997)  # docs/models.md's held-out sets
HELDOUT_SIZE = (512, 320)  # they are made at 512x320 and letterboxed by the predictor
PHOTO_SCORE = 0.5  # a detection at this score on a photograph without people is a false alarm


REQUIRED = ("torch", "numpy", "cv2", "av", "pandas", "pyarrow", "yaml", "pydantic", "tqdm",
            "filterpy", "lap")  # fmt: skip


def _missing_modules() -> list[str]:
    """Modules the recipe needs that this Python cannot import (a bare GPU machine)."""
    import importlib.util

    return [name for name in REQUIRED if importlib.util.find_spec(name) is None]


def _log(message: str) -> None:
    print(f"[gpu_recipe {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _mesh_works() -> bool:
    try:
        import anny  # noqa: F401
        import moderngl

        moderngl.create_standalone_context(backend="egl").release()
    except Exception:
        return False
    return True


def _synth(out: Path, workers: int, seed: int, sequences: dict[str, int], **settings) -> Path:
    from crowdpose3d.data.synth import SynthConfig, generate_dataset

    if (out / "done").is_file():
        return out
    config = SynthConfig(**settings)
    started = time.perf_counter()
    generate_dataset(out, config, sequences, seed=seed, resume=out.exists(), workers=workers)
    frames = sum(sequences.values()) * config.num_frames
    _log(f"{out.name}: {frames} frames in {time.perf_counter() - started:.0f} s")
    (out / "done").write_text("")
    return out


def make_data(out: Path, plan: Plan, workers: int, photos: Path | None) -> tuple[list, dict]:
    """Training sources (DataSource dicts) and held-out sets {name: folder}."""
    from crowdpose3d.data.synth.pedsim import jupedsim_available

    data = out / "data"
    size = {"width": plan.width, "height": plan.height, "fps": 5.0, "num_frames": plan.frames}
    mesh = plan.mesh_sequences > 0 and _mesh_works()
    sources = []
    half = max(1, plan.crowd_sequences // 2)
    motion = "jupedsim" if jupedsim_available() else "procedural"
    _log(f"crowd motion: {motion}; mesh renderer: {'yes' if mesh else 'no (solids only)'}")
    runs = [
        ("solids_crowd", 100, {"train": half}, {"min_people": 1, "max_people": 60}),
        ("solids_crowd_sim", 150, {"train": plan.crowd_sequences - half},
         {"min_people": 1, "max_people": 60, "motion": motion}),
        ("solids_traffic", 200, {"train": plan.traffic_sequences},
         {"min_people": 1, "max_people": 40, "vehicles": True}),
    ]  # fmt: skip
    if mesh:
        runs.append(("mesh_street", 600, {"train": plan.mesh_sequences},
                     {"min_people": 1, "max_people": 60, "renderer": "mesh",
                      "street_furniture": True, "motion": motion}))  # fmt: skip
    if photos is not None and plan.photo_sequences:
        runs.append(("photo_composites", 700, {"train": plan.photo_sequences},
                     {"min_people": 1, "max_people": 40, "backgrounds": str(photos),
                      "camera_pitch_deg": (3.0, 20.0), "camera_height_m": (1.5, 8.0),
                      "motion": motion}))  # fmt: skip
    for name, seed, sequences, settings in runs:
        if sum(sequences.values()) == 0:
            continue
        folder = _synth(data / name, workers, seed, sequences, **size, **settings)
        sources.append({"type": "jta", "root": str(folder), "cache_dir": str(out / "cache")})
    if photos is not None:
        sources.append({"type": "photos", "root": str(photos), "repeat": 4})

    heldout = {}
    held = {"width": HELDOUT_SIZE[0], "height": HELDOUT_SIZE[1], "fps": 5.0,
            "num_frames": plan.heldout_frames, "min_people": 10, "max_people": 60}  # fmt: skip
    if plan is SMOKE:
        held.update(width=plan.width, height=plan.height, min_people=2, max_people=6)
    sets = [
        ("synth_heldout", HELDOUT_SEEDS[0], plan.heldout_sequences[0], {}),
        ("mesh_heldout", HELDOUT_SEEDS[1], plan.heldout_sequences[1], {"renderer": "mesh"}),
        ("mesh_street_heldout", HELDOUT_SEEDS[2], plan.heldout_sequences[2],
         {"renderer": "mesh", "street_furniture": True}),
    ]  # fmt: skip
    for name, seed, count, settings in sets:
        if count == 0 or (settings.get("renderer") == "mesh" and not mesh):
            continue
        heldout[name] = _synth(data / name, workers, seed, {"test": count}, **held, **settings)
    return sources, heldout


def _train_config(out: Path, plan: Plan, sources: list, iterations: int, name: str):
    from crowdpose3d.engine.trainer import TrainConfig

    return TrainConfig(
        output_dir=str(out / name),
        data=sources,
        model={"preset": plan.preset, "skeleton": "jta22", "num_anchors": 10},
        input_size=(plan.height, plan.width),
        batch_size=plan.batch_size,
        epochs=1000,
        max_iterations=iterations,
        learning_rate=plan.learning_rate,
        warmup_iterations=min(plan.warmup, max(iterations // 5, 0)),
        num_workers=plan.loader_workers,
        anchor_samples=300 if plan is FULL else 20,
        loss={
            "selection": "pose",
            "weighting": "task+anchor+joint",
            "classification_balance": "balanced",
        },  # fmt: skip
        augment={
            "min_scale": 0.7,
            "max_scale": 1.5,
            "flip": True,
            "color_jitter": True,
            "camera_effects": True,
        },  # fmt: skip
        amp=True,
    )


def train_in_budget(out: Path, plan: Plan, sources: list, minutes: float) -> tuple[Path, dict]:
    """Probe the speed, then train for as many steps as fit -> (checkpoint, timings)."""
    from crowdpose3d.engine.trainer import train

    timing: dict = {}
    if plan.fixed_iterations is not None:
        iterations = plan.fixed_iterations
    else:
        seconds = []
        for steps in plan.probe_steps:
            config = _train_config(out, plan, sources, steps, f"probe_{steps}")
            started = time.perf_counter()
            train(config, progress=False)
            seconds.append(time.perf_counter() - started)
            shutil.rmtree(out / f"probe_{steps}", ignore_errors=True)
        per_step = (seconds[1] - seconds[0]) / (plan.probe_steps[1] - plan.probe_steps[0])
        overhead = max(seconds[0] - plan.probe_steps[0] * per_step, 0.0)
        iterations = max(int((60 * minutes - overhead) / max(per_step, 1e-3)), 1)
        timing.update(seconds_per_step=per_step, startup_s=overhead, probe_s=sum(seconds))
        _log(f"probe: {per_step:.3f} s per step, {overhead:.0f} s start-up -> {iterations} steps")
    config = _train_config(out, plan, sources, iterations, "run")
    started = time.perf_counter()
    last = train(config, resume=(out / "run" / "last.pt").is_file(), progress=plan is FULL)
    timing.update(iterations=iterations, train_s=time.perf_counter() - started)
    _log(f"trained {iterations} steps in {timing['train_s']:.0f} s")
    return last, timing


def evaluate_all(checkpoint: Path, heldout: dict, photos: Path | None, device: str) -> dict:
    from crowdpose3d.data.photos import NegativePhotos
    from crowdpose3d.engine.evaluator import evaluate, load_samples
    from crowdpose3d.engine.predictor import Predictor

    predictor = Predictor.from_spec(checkpoint, device=device, score_threshold=0.3)
    results = {}
    for name, folder in heldout.items():
        result = evaluate(predictor, load_samples(folder, split="test"), progress=False)
        results[name] = {"ap": result.ap, "pck3d": result.pck3d, "mpjpe_mm": result.mpjpe_mm,
                         "people": result.num_people, "images": result.num_images}  # fmt: skip
        _log(f"{name}: AP {result.ap:.1f} / 3DPCK {result.pck3d:.1f} / {result.mpjpe_mm:.1f} mm")
    if photos is not None:  # the held-out photographs: never composited nor trained on
        negatives = NegativePhotos(photos, split="heldout")
        alarms = 0
        for index in range(len(negatives)):
            detections = predictor([negatives[index].image])[0]
            alarms += int((detections.scores >= PHOTO_SCORE).sum())
        results["photos_without_people"] = {
            "photos": len(negatives),
            f"detections_per_photo_at_{PHOTO_SCORE}": alarms / max(len(negatives), 1),
        }
        _log(f"photos without people: {alarms} detections at >= {PHOTO_SCORE}")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a few steps (CPU)")
    parser.add_argument("--preset", choices=["medium", "darknet53"], default=None)
    parser.add_argument("--train-minutes", type=float, default=9.0, help="training budget (9)")
    parser.add_argument("--workers", type=int, default=None, help="data processes (cores - 2)")
    parser.add_argument("--photos", type=Path, default=None, help="`crowdpose3d photos` folder")
    parser.add_argument("--device", default="auto", help="evaluation device (auto)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package, uninstalled
    missing = _missing_modules()
    if missing:
        print(f"gpu_recipe: this Python lacks {', '.join(missing)}; install the project "
              "(pip install -e .) or bring wheels for them", file=sys.stderr)  # fmt: skip
        return 2

    import torch

    plan = SMOKE if args.smoke else FULL
    if args.preset and not args.smoke:
        plan = Plan(**{**plan.__dict__, "preset": args.preset})
    if not args.smoke and not torch.cuda.is_available():
        print("gpu_recipe: no CUDA device; run with --smoke on a CPU", file=sys.stderr)
        return 2
    if args.photos is not None and not (args.photos / "manifest.json").is_file():
        print(f"gpu_recipe: {args.photos} has no manifest.json; make it with "
              "`crowdpose3d photos DIR`", file=sys.stderr)  # fmt: skip
        return 2
    workers = args.workers or max(1, (os.cpu_count() or 2) - 2)
    if args.smoke:
        workers = 1
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sources, heldout = make_data(out, plan, workers, args.photos)
    data_s = time.perf_counter() - started
    last, timing = train_in_budget(out, plan, sources, args.train_minutes)
    model = out / "model.pt"
    shutil.copyfile(last, model)
    results = evaluate_all(model, heldout, args.photos, args.device)
    report = {
        "smoke": args.smoke,
        "preset": plan.preset,
        "input_size": [plan.height, plan.width],
        "data_s": data_s,
        **timing,
        "total_s": time.perf_counter() - started,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "results": results,
        "checkpoint": str(model),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    _log(f"wrote {model} and {out / 'report.json'} ({report['total_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
