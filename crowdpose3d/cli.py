"""The `crowdpose3d` console script.

Sub-commands are added as the pipeline grows; each reports a user's mistake as one line on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from crowdpose3d import __version__
from crowdpose3d.messages import first_line
from crowdpose3d.pipeline.defaults import DEFAULT_DEVICE, DEFAULT_MODEL, DEFAULT_VERIFIER


def _list_models(args: argparse.Namespace) -> int:
    """Print the model presets and the built-in checkpoints."""
    from crowdpose3d.core.checkpoint import list_builtin
    from crowdpose3d.core.model import PRESETS

    print("presets (crowdpose3d.core.model.PRESETS):")
    for name, preset in PRESETS.items():
        print(
            f"  {name:<10} width x{preset.width_multiplier:g}, depth x{preset.depth_multiplier:g}, "
            f"heads {preset.head_channels} channels"
        )
    builtin = list_builtin()
    print("built-in checkpoints:", ", ".join(f"builtin:{n}" for n in builtin) or "none installed")
    return 0


def _synth(args: argparse.Namespace) -> int:
    """Write procedural crowd sequences in JTA's layout (crowdpose3d.data.synth)."""
    from crowdpose3d.data.synth import SynthConfig, generate_dataset, parse_split

    if args.overwrite and args.resume:
        print("crowdpose3d: --overwrite and --resume exclude each other; pick one", file=sys.stderr)
        return 2
    try:
        if args.split is not None:
            splits = parse_split(args.split)
            if args.sequences is not None and args.sequences != sum(splits.values()):
                raise ValueError(
                    f"--sequences {args.sequences} does not match --split {args.split} "
                    f"({sum(splits.values())} sequences); give one or make them agree"
                )
        else:
            count = 1 if args.sequences is None else args.sequences
            if count < 1:
                raise ValueError(f"--sequences must be >= 1, got {count}")
            splits = {"train": count}
        config = SynthConfig(
            num_frames=args.frames,
            fps=args.fps,
            width=args.width,
            height=args.height,
            min_people=args.min_people,
            max_people=args.max_people,
            vehicles=args.vehicles,
            renderer=args.renderer,
            street_furniture=args.street_furniture,
            motion=args.motion,
            backgrounds=args.backgrounds,
            **_ranges(args),
        )
        if config.backgrounds is not None:
            from crowdpose3d.data.photos import PhotoSet

            PhotoSet(config.backgrounds)  # before any file: one line if it is not there
        if config.motion == "jupedsim":
            from crowdpose3d.data.synth.pedsim import MISSING_JUPEDSIM, jupedsim_available

            if not jupedsim_available():  # one line, and the files say what was used
                print(f"crowdpose3d: {MISSING_JUPEDSIM}", file=sys.stderr)
                config = dataclasses.replace(config, motion="procedural")
        if config.renderer == "mesh":
            from crowdpose3d.data.synth.mesh_body import check_mesh_extra

            check_mesh_extra()  # before any file or progress bar
        written = generate_dataset(
            args.out_dir,
            config,
            splits,
            seed=args.seed,
            overwrite=args.overwrite,
            progress=True,
            resume=args.resume,
            workers=args.workers,
        )
    except (ValueError, FileExistsError, RuntimeError) as error:
        print(f"crowdpose3d: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} sequence(s) to {args.out_dir}")
    return 0


def _ranges(args: argparse.Namespace) -> dict:
    """SynthConfig ranges given on the command line (the rest keep their defaults)."""
    ranges = {}
    for option, key in (
        ("camera_height", "camera_height_m"),
        ("camera_pitch", "camera_pitch_deg"),
        ("photo_zoom", "photo_zoom"),
    ):
        value = getattr(args, option)
        if value is not None:
            ranges[key] = tuple(value)
    return ranges


def _photos(args: argparse.Namespace) -> int:
    """Fetch real photographs without people from Debian packages (crowdpose3d.data.photos)."""
    from crowdpose3d.data.photos import PHOTO_PACKAGES, fetch_photos

    packages = args.packages or list(PHOTO_PACKAGES)
    try:
        manifest = fetch_photos(
            args.out_dir, packages, debs=args.debs, max_side=args.max_side or None
        )
    except (ValueError, OSError) as error:  # PhotoError is a ValueError
        return _fail(first_line(error))
    images = manifest["images"]
    licences = sorted({record["licence"] for record in images})
    print(
        f"wrote {len(images)} photographs from {len(packages)} packages to {args.out_dir} "
        f"({len(manifest['skipped'])} left out for want of a licence); licences: "
        + ", ".join(licences)
    )
    return 0


def _train(args: argparse.Namespace) -> int:
    """Train PandaNet from a YAML config (crowdpose3d.engine.trainer)."""
    from pydantic import ValidationError

    from crowdpose3d.engine.trainer import load_config, train

    try:
        overrides = {"output_dir": args.output} if args.output else None
        config = load_config(args.config, overrides)
        last = train(config, resume=args.resume)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "config"
        return _fail(f"invalid training config {args.config}: {where}: {error['msg']}")
    except (OSError, ValueError) as exc:
        return _fail(first_line(exc))
    print(f"wrote {last}")
    return 0


def _fail(message: str, code: int = 2) -> int:
    """One line on stderr for a user's mistake (exit code 2) or a failed run (1)."""
    print(f"crowdpose3d: {message}", file=sys.stderr)
    return code


def _evaluate(args: argparse.Namespace) -> int:
    """Evaluate a model on labelled data: AP, 3DPCK, MPJPE and the paper's tables."""
    import json
    from pathlib import Path

    from crowdpose3d.core.checkpoint import CheckpointError
    from crowdpose3d.data.errors import DatasetError
    from crowdpose3d.engine.evaluator import evaluate, load_samples
    from crowdpose3d.engine.predictor import Predictor

    try:
        predictor = Predictor.from_spec(
            args.model,
            device=args.device,
            score_threshold=args.score_threshold,
            batch_size=args.batch_size,
            backend=args.backend,
            precision=args.precision,
            verifier=args.verifier,
        )
        samples = load_samples(
            args.data, split=args.split, frame_step=args.frame_step, max_frames=args.max_frames
        )
    except (CheckpointError, ValueError, OSError) as error:  # DatasetError is a ValueError
        return _fail(first_line(error))
    try:
        result = evaluate(predictor, samples, progress=True)
    except (DatasetError, OSError) as error:  # e.g. a video that cannot be decoded
        return _fail(f"evaluation failed: {first_line(error)}")
    print(f"model {args.model} (verifier {args.verifier}) on {args.data} ({args.split})")
    print(result.format_tables())
    if args.json:
        report = {
            "model": str(args.model),
            "data": str(args.data),
            "split": args.split,
            "frame_step": args.frame_step,
            "max_frames": args.max_frames,
            "score_threshold": args.score_threshold,
            "verifier": args.verifier,
            "backend": predictor.backend,
            "precision": predictor.precision,
            **result.to_dict(),
        }
        path = Path(args.json)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(report, indent=2) + "\n")
        except OSError as error:
            return _fail(f"cannot write {path}: {error.strerror or error}")
        print(f"wrote {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    """A checkpoint -> an ONNX file or OpenVINO IR, fp32 or int8 (crowdpose3d.engine.export)."""
    import logging

    from crowdpose3d.core.checkpoint import CheckpointError
    from crowdpose3d.engine.export import export_model

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        path = export_model(
            args.model,
            args.output,
            int8=args.int8,
            calibration_frames=args.calibration_frames,
            symmetric_activations=True if args.symmetric_activations else None,
        )
    except (CheckpointError, ValueError, ImportError, OSError) as error:
        return _fail(first_line(error))
    print(f"wrote {path} ({'int8' if args.int8 else 'fp32'}); run it with --model {path}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    """The camera of a video from its people: a camera file with the uncertainty."""
    import json
    import logging
    from pathlib import Path

    from crowdpose3d.calibrate import CalibrationError, calibrate_video
    from crowdpose3d.files import atomic_path
    from crowdpose3d.pipeline.stage import StageError

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        estimate, facts = calibrate_video(
            args.video,
            seconds=args.seconds,
            model=args.model,
            device=args.device,
            fov_deg=args.fov,
            backend=args.backend,
            precision=args.precision,
        )
    except (CalibrationError, StageError, ValueError, OSError) as error:
        return _fail(first_line(error))
    data = {**estimate.to_dict(), "source": facts.get("source"), "fps": facts.get("fps")}
    text = json.dumps(data, indent=2)
    print(f"camera: {estimate.describe()}", file=sys.stderr)
    if args.output is None:
        print(text)
        return 0
    path = Path(args.output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as partial:
            Path(partial).write_text(text + "\n")
    except OSError as error:
        return _fail(f"cannot write {path}: {error.strerror or error}")
    print(f"wrote {path}; use it with crowdpose3d track --camera {path}", file=sys.stderr)
    return 0


def _execute_pipeline(
    config, overwrite: bool, resume: bool, quiet: bool = False, metrics_port: int | None = None
) -> int:
    """Open and run a validated pipeline; users' mistakes and stage failures are one line."""
    import logging

    from tqdm import tqdm

    from crowdpose3d.pipeline.multi import MultiPipelineConfig, MultiRunner
    from crowdpose3d.pipeline.runner import PipelineError, PipelineRunner
    from crowdpose3d.pipeline.signals import StopOnSignals
    from crowdpose3d.pipeline.stage import StageContext, StageError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if overwrite and resume:
        return _fail("--overwrite and --resume exclude each other; pick one")
    context = StageContext(overwrite=overwrite, resume=resume)
    if isinstance(config, MultiPipelineConfig):  # several sources: one batched model
        runner = MultiRunner(config, context)
    else:
        runner = PipelineRunner(config, context)
    server = None
    if metrics_port is not None:  # before anything opens, so a taken port fails first
        from crowdpose3d.pipeline.metrics import MetricsError, serve_metrics

        try:
            server = serve_metrics(runner, metrics_port)
        except MetricsError as error:
            return _fail(str(error))
    with StopOnSignals(runner.context.stop) as signals:  # SIGTERM / SIGINT: a clean stop
        try:
            runner.open()
        except (StageError, ValueError, OSError) as error:
            if server is not None:
                server.shutdown()
            return _fail(first_line(error))
        facts = runner.context.facts
        bar = tqdm(
            total=facts.total_frames,
            unit="frame",
            desc=str(facts.source_id or "frames"),
            disable=quiet or bool(facts.live),
        )
        try:
            report = runner.run(on_frame=lambda frame: bar.update())
        except PipelineError as error:
            bar.close()
            return _fail(str(error), code=1)
        finally:
            if server is not None:
                server.shutdown()
        bar.close()
    if not quiet:
        print(report.format(), file=sys.stderr)
    failures = getattr(report, "failures", {})  # a multi-source run: sources that failed
    for source_id, failure in failures.items():
        _fail(f"source {source_id}: {failure}", code=1)
    if signals.exit_code is not None or report.interrupted:
        print("crowdpose3d: interrupted; the results so far are written", file=sys.stderr)
        return signals.exit_code or 130
    return 1 if failures else 0


def _run(args: argparse.Namespace) -> int:
    """Run a declarative pipeline file (``sources:``: several sources, one batched model)."""
    from crowdpose3d.pipeline.config import (
        ConfigError,
        load_pipeline,
        parse_assignments,
        read_pipeline,
    )
    from crowdpose3d.pipeline.multi import is_multi_source, load_multi_pipeline

    try:
        variables = parse_assignments(args.set or [])
        if is_multi_source(read_pipeline(args.pipeline, variables)):
            load = load_multi_pipeline
        else:
            load = load_pipeline
        config = load(args.pipeline, variables, args.allow_custom_stages)
    except ConfigError as error:
        return _fail(str(error))
    return _execute_pipeline(config, args.overwrite, args.resume, args.quiet, args.metrics_port)


def _track(args: argparse.Namespace) -> int:
    """The default pipeline on one video or stream."""
    from crowdpose3d.api import track_pipeline
    from crowdpose3d.pipeline.config import ConfigError

    try:
        config = track_pipeline(
            args.source,
            args.output,
            model=args.model,
            device=args.device,
            camera=_camera_options(args),
            overlay=args.overlay,
            mot=args.mot,
            backend=args.backend,
            precision=args.precision,
            threads=args.threads,
            parquet=_parquet_options(args),
            verifier=args.verifier,
        )
    except (ConfigError, ValueError) as error:
        return _fail(str(error))
    return _execute_pipeline(config, args.overwrite, args.resume, args.quiet, args.metrics_port)


def _parquet_options(args: argparse.Namespace) -> dict:
    """The Parquet sink's part size, retention and free-space options given on the CLI."""
    given = {
        "rows_per_part": args.rows_per_part,
        "seconds_per_part": args.seconds_per_part,
        "retain_parts": args.retain_parts,
        "retain_bytes": None if args.retain_gb is None else int(args.retain_gb * 2**30),
        "retain_age_s": None if args.retain_days is None else args.retain_days * 86400.0,
        "min_free_bytes": None if args.min_free_mb is None else int(args.min_free_mb * 2**20),
    }
    return {key: value for key, value in given.items() if value is not None}


def _batch(args: argparse.Namespace) -> int:
    """The default pipeline on many videos at once, one Ray task each (crowdpose3d.batch)."""
    from crowdpose3d import batch
    from crowdpose3d.pipeline.config import ConfigError

    try:
        options = batch.BatchOptions(
            model=args.model,
            device=args.device,
            backend=args.backend,
            precision=args.precision,
            camera=_camera_options(args),
            retries=args.retries,
            cpus_per_video=args.cpus_per_video,
            gpus_per_video=args.gpus_per_video,
        )
        jobs = batch.plan_jobs(args.inputs, args.output)
        batch.pipeline_for(jobs[0], args.output, options)  # a wrong option fails before Ray
        finished = []

        def progress(result: batch.VideoResult, final: bool) -> None:
            if final:
                finished.append(result)
            print(batch.progress_line(result, final, len(finished), len(jobs)), file=sys.stderr)

        results = batch.run_batch(
            jobs, args.output, options, progress, address=args.ray_address, num_cpus=args.num_cpus
        )
    except (batch.BatchError, ConfigError, ValueError, OSError) as error:
        return _fail(first_line(error))
    print(batch.format_summary(results))
    failed = [result for result in results if result.status == "failed"]
    for result in failed:
        _fail(batch.failure_line(result), code=1)
    return 1 if failed else 0


def _serve(args: argparse.Namespace) -> int:
    """Camera groups as Ray actors, one batched model each (crowdpose3d.serve)."""
    import logging
    import threading

    from crowdpose3d import serve
    from crowdpose3d.pipeline.config import ConfigError, parse_assignments
    from crowdpose3d.pipeline.signals import StopOnSignals

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        plan = serve.load_cameras(args.cameras, parse_assignments(args.set or []))
        stop = threading.Event()  # set by a signal: every group flushes and ends
        with StopOnSignals(stop):  # SIGTERM / SIGINT: every group flushes its parts
            finals = serve.serve(
                plan,
                stop,
                address=args.ray_address,
                num_cpus=args.num_cpus,
                seconds=args.seconds,
                report_every_s=args.report_every_s,
            )
    except (serve.BatchError, ConfigError, ValueError, OSError) as error:
        return _fail(first_line(error))
    table, failures = serve.format_finals(finals, plan)
    print(table)
    for failure in failures:
        _fail(failure, code=1)
    return 1 if failures else 0


def _camera_options(args: argparse.Namespace) -> dict:
    """--camera FILE.json (a camera with intrinsics and pose, or the lift's options such as
    fx, fy, cx, cy, height_m, pitch_deg) and --fov / --camera-height / --camera-pitch."""
    import json
    from pathlib import Path

    options: dict = {}
    if args.camera in ("auto", "none"):  # estimate the camera from the people, or don't
        options = {"camera": args.camera}
    elif args.camera:
        path = Path(args.camera)
        try:
            data = dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise ValueError(f"cannot read the camera file {path}: {error}") from None
        # A full camera (intrinsics + pose, as `crowdpose3d synth` writes) or lift options.
        options = {"camera_file": str(path)} if "intrinsics" in data else data
    if args.fov is not None:
        options["fov_deg"] = args.fov
    if args.camera_height is not None:
        options["height_m"] = args.camera_height
    if args.camera_pitch is not None:
        options["pitch_deg"] = args.camera_pitch
    return options


def _demo(args: argparse.Namespace) -> int:
    """The default pipeline on a generated sample clip, compared with its ground truth."""
    from pathlib import Path

    import pandas as pd

    from crowdpose3d.demo import compare_with_truth, make_sample_clip, truth_table
    from crowdpose3d.pipeline.config import ConfigError, validate_pipeline
    from crowdpose3d.pipeline.defaults import default_pipeline
    from crowdpose3d.tracks.schema import TRACK_ID

    out = Path(args.out)
    print(f"sample clip: {out / 'sample'} (synthetic street scene with labels)", file=sys.stderr)
    try:
        clip = make_sample_clip(out / "sample")
    except (OSError, ValueError) as error:
        return _fail(f"cannot write the sample clip under {out}: {first_line(error)}")
    tracks_dir, overlay = out / "tracks", out / "overlay.mp4"
    try:
        config = validate_pipeline(
            default_pipeline(
                str(clip.video),
                str(tracks_dir),
                model=args.model,
                device=args.device,
                camera={"camera_file": str(clip.camera)},
                overlay=str(overlay),
            ),
            "crowdpose3d demo",
        )
    except ConfigError as error:
        return _fail(str(error))
    code = _execute_pipeline(config, overwrite=True, resume=False)
    if code:
        return code
    tracks = pd.read_parquet(tracks_dir)
    found = compare_with_truth(tracks, truth_table(clip.root))
    print(f"\ntracks: {tracks_dir} ({len(tracks)} rows, {tracks[TRACK_ID].nunique()} tracks)")
    print(f"overlay: {overlay}")
    print(f"against the ground truth ({found['frames']} frames):")
    print(
        f"  people per frame: {found['true_people_per_frame']:.1f} visible, "
        f"{found['found_people_per_frame']:.1f} tracked"
    )
    print(
        f"  MOTA {found['mota']:.3f}  IDF1 {found['idf1']:.3f}  identity switches "
        f"{found['id_switches']}  misses {found['misses']}  false positives "
        f"{found['false_positives']}"
    )
    print(
        f"  root position error: median {found['root_error_median_m']:.2f} m, 90th percentile "
        f"{found['root_error_p90_m']:.2f} m; depth error median "
        f"{found['root_depth_error_median_pct']:.1f} % ({found['matched_for_root_error']} matches)"
    )
    print(f"read them back: pandas.read_parquet({str(tracks_dir)!r})")
    return 0


def _add_backend_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "torch", "onnxruntime", "openvino"],
        help="what runs the model (auto: the fastest installed; the choice is logged)",
    )
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "int8", "fp16"],
        help="auto: fp16 on CUDA, bf16 on CPUs that have it, else fp32; int8 needs "
        "onnxruntime or openvino",
    )


def _add_verifier_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--verifier",
        default=default,
        metavar="builtin|none|PATH.npz",
        help="re-score the detections with a detection verifier (docs/models.md, "
        f'"A detection verifier"): builtin, none or a weights file ({default})',
    )


def _add_model_and_camera_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="builtin:NAME, a checkpoint or .onnx/.xml"
    )
    parser.add_argument("--device", default=DEFAULT_DEVICE, help="auto, cpu, cuda or cuda:N")
    _add_backend_options(parser)
    parser.add_argument(
        "--camera",
        metavar="CAMERA.json",
        help="camera intrinsics / lift options; default auto: estimate the camera from "
        "the people; none: no ground plane",
    )
    parser.add_argument("--fov", type=float, help="horizontal field of view in degrees")
    parser.add_argument("--camera-height", type=float, help="camera height above ground (m)")
    parser.add_argument("--camera-pitch", type=float, help="camera pitch below horizon (deg)")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overwrite", action="store_true", help="replace results already in the output"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue after the earlier run's last complete frame (every sink, from the same "
        "frame, the tracks with the same ids); a live stream's run always continues an "
        "existing output, appending (new parts and frames numbered after the earlier ones); "
        "SIGTERM / SIGINT stop a run cleanly (exit 143 / 130)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or stage report")
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics (per-stage frames, fps, latency, drops, reconnects, "
        "parts, disk free; per source, with the batcher's figures, for a sources: file) on "
        "http://0.0.0.0:PORT/metrics (off by default)",
    )


def _add_parquet_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows-per-part", type=int, help="rows per Parquet part (50000)")
    parser.add_argument(
        "--seconds-per-part", type=float, help="a part at least this often, live (60)"
    )
    parser.add_argument(
        "--retain-parts", type=int, help="keep only the newest N parts (and overlay/MOT segments)"
    )
    parser.add_argument(
        "--retain-gb", type=float, help="keep at most this many GiB of parts (live: 20)"
    )
    parser.add_argument("--retain-days", type=float, help="remove parts older than this (live: 30)")
    parser.add_argument(
        "--min-free-mb",
        type=float,
        help="write no part while the disk has less free (256); the rows wait in memory",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crowdpose3d", description="Multi-person 3D pose tracks from video (PandaNet)."
    )
    parser.add_argument("--version", action="version", version=f"crowdpose3d {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    models = commands.add_parser("models", help="list model presets and built-in checkpoints")
    models.set_defaults(handler=_list_models)

    synth = commands.add_parser(
        "synth",
        help="generate synthetic crowd videos with JTA-format annotations",
        description="Procedural crowd (and traffic) scenes written as JTA lays them out: "
        "OUT_DIR/{videos,annotations,cameras}/<split>/seq_<N>.{mp4,json}.",
    )
    synth.add_argument("out_dir", metavar="OUT_DIR", help="output directory (empty or new)")
    synth.add_argument(
        "--sequences",
        type=int,
        default=None,
        help="number of sequences (all train unless --split; default 1)",
    )
    synth.add_argument(
        "--split",
        default=None,
        metavar="train=T,val=V,test=S",
        help="sequences per split, numbered as JTA numbers them",
    )
    synth.add_argument("--frames", type=int, default=900, help="frames per sequence (900)")
    synth.add_argument("--fps", type=float, default=30.0, help="frames per second (30)")
    synth.add_argument("--width", type=int, default=928, help="image width (928)")
    synth.add_argument("--height", type=int, default=576, help="image height (576)")
    synth.add_argument(
        "--min-people", type=int, default=5, help="fewest people simulated in a sequence (5)"
    )
    synth.add_argument(
        "--max-people", type=int, default=30, help="most people simulated in a sequence (30)"
    )
    synth.add_argument(
        "--vehicles", action="store_true", help="add a road with cars, vans, trucks and buses"
    )
    synth.add_argument(
        "--renderer",
        choices=["solids", "mesh"],
        default="solids",
        help="solids: shaded capsules, fast (default); mesh: articulated anny body meshes "
        "rendered with OpenGL (needs the 'mesh' extra)",
    )
    synth.add_argument(
        "--street-furniture",
        action="store_true",
        help="mesh renderer: add lamp posts, signs, tripods, bollards, bins, benches, trunks",
    )
    synth.add_argument(
        "--motion",
        choices=["procedural", "jupedsim"],
        default="procedural",
        help="procedural: each walker steers alone (default); jupedsim: a collision-free "
        "crowd simulation with groups, a queue and people waiting (needs the 'crowd' extra)",
    )
    synth.add_argument(
        "--backgrounds",
        default=None,
        metavar="PHOTO_DIR",
        help="real photographs behind the people (a folder made by `crowdpose3d photos`)",
    )
    synth.add_argument(
        "--photo-zoom", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
        help="with --backgrounds: zoom range of the photograph over just covering the "
        "frame (1 1.4; 3 3: a third of the photo's width, as close-up views)",
    )  # fmt: skip
    synth.add_argument(
        "--camera-height", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
        help="camera height range in metres (1.5 15)",
    )  # fmt: skip
    synth.add_argument(
        "--camera-pitch", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
        help="camera pitch range below the horizon in degrees (5 45)",
    )  # fmt: skip
    synth.add_argument("--seed", type=int, default=0, help="dataset seed (0)")
    synth.add_argument(
        "--workers", type=int, default=1, help="processes making sequences in parallel (1)"
    )
    synth.add_argument(
        "--resume",
        action="store_true",
        help="keep the finished sequences of an interrupted run with the same options",
    )
    synth.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty OUT_DIR, replacing earlier seq_* files",
    )
    synth.set_defaults(handler=_synth)

    photos = commands.add_parser(
        "photos",
        help="fetch real photographs without people from Debian packages (for training)",
        description="apt-get download each package (no install), unpack it with dpkg-deb, "
        "keep its photographs with the licence read from its copyright file: "
        "OUT_DIR/images/<package>/*, OUT_DIR/manifest.json. opencv-doc is refused "
        "(evaluation data only).",
    )
    photos.add_argument("out_dir", metavar="OUT_DIR", help="where the photographs go")
    photos.add_argument(
        "--packages", nargs="+", default=None, metavar="PACKAGE",
        help="Debian packages to take photographs from (default: "
        "crowdpose3d.data.photos.PHOTO_PACKAGES)",
    )  # fmt: skip
    photos.add_argument(
        "--debs", default=None, metavar="DIR",
        help="use the .deb files already in DIR instead of downloading them",
    )  # fmt: skip
    photos.add_argument(
        "--max-side", type=int, default=1920, metavar="PIXELS",
        help="store larger photographs shrunk to this longer side (1920; 0 keeps them)",
    )  # fmt: skip
    photos.set_defaults(handler=_photos)

    train = commands.add_parser(
        "train",
        help="train PandaNet from a YAML config (see configs/)",
        description="Train PandaNet; several processes with torchrun train with DDP.",
    )
    train.add_argument("config", help="training config (YAML), e.g. configs/train_synth_small.yaml")
    train.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/last.pt")
    train.add_argument("--output", help="override the config's output_dir")
    train.set_defaults(handler=_train)
    evaluation = commands.add_parser(
        "eval",
        help="evaluate a model: AP, 3DPCK, MPJPE (the paper's tables)",
        description="Evaluate a checkpoint on labelled frames with the paper's metrics "
        "(docs/evaluation.md). DATA is a JTA-format root (JTA or `crowdpose3d synth` output), "
        "panoptic:ROOT or mupots:ROOT.",
    )
    evaluation.add_argument(
        "--model", required=True, help="builtin:NAME, a checkpoint path or an exported .onnx/.xml"
    )
    evaluation.add_argument("--data", required=True, metavar="DATA", help="labelled data (above)")
    evaluation.add_argument("--split", default="test", help="data split (test)")
    evaluation.add_argument("--frame-step", type=int, default=1, help="keep every N-th frame (1)")
    evaluation.add_argument(
        "--max-frames", type=int, default=None, help="at most N frames, spread evenly (all)"
    )
    evaluation.add_argument(
        "--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N"
    )
    evaluation.add_argument(
        "--score-threshold", type=float, default=0.3, help="minimum detection score (0.3)"
    )
    evaluation.add_argument("--batch-size", type=int, default=8, help="images per batch (8)")
    _add_backend_options(evaluation)
    # The network alone by default, as every model-card figure; the pipeline's default
    # (DEFAULT_VERIFIER) with --verifier builtin.
    _add_verifier_option(evaluation, "none")
    evaluation.add_argument("--json", metavar="OUT.json", help="also write the results as JSON")
    evaluation.set_defaults(handler=_evaluate)

    export = commands.add_parser(
        "export",
        help="write a model as ONNX or OpenVINO IR (fp32 or int8) for --model",
        description="Export a checkpoint to ONNX (OUT.onnx) or OpenVINO IR (OUT.xml + .bin): "
        "dynamic batch and size, the anchors, skeleton, input size and name in the file's "
        "metadata; --int8 quantises it, calibrated on generated frames. Needs "
        "pip install 'crowdpose3d[onnx]' (and [openvino] for .xml).",
    )
    export.add_argument("--model", default=DEFAULT_MODEL, help="builtin:NAME or a path")
    export.add_argument("-o", "--output", required=True, metavar="OUT", help="OUT.onnx or OUT.xml")
    export.add_argument("--int8", action="store_true", help="post-training int8 quantisation")
    export.add_argument(
        "--calibration-frames", type=int, default=32, help="generated frames for --int8 (32)"
    )
    export.add_argument(
        "--symmetric-activations",
        action="store_true",
        help="--int8 with int8 activations (zero point 0): for OpenVINO on a CPU with AMX, "
        "which runs it about twice as fast (without AMX OpenVINO gets it wrong); the default "
        "for .xml on such a CPU (else uint8)",
    )
    export.set_defaults(handler=_export)

    run = commands.add_parser(
        "run",
        help="run a pipeline file (see pipelines/)",
        description="Run a declarative pipeline: source -> stages -> sinks (YAML).",
    )
    run.add_argument("pipeline", help="pipeline file, e.g. pipelines/video_to_parquet.yaml")
    run.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="fill ${NAME} in the file"
    )
    run.add_argument(
        "--allow-custom-stages",
        action="store_true",
        help="a pipeline file is code: allow its package.module:Class stages (refused "
        "otherwise) only if you trust the file",
    )
    _add_run_options(run)
    run.set_defaults(handler=_run)

    track = commands.add_parser(
        "track",
        help="video or stream -> Parquet 3D pose tracks (the default pipeline)",
        description="Detect, lift and track every person of SOURCE (a video file or an "
        "RTSP/HTTP URL) and write the tracks dataset to OUT_DIR.",
    )
    track.add_argument("source", metavar="SOURCE", help="video file or stream URL")
    track.add_argument("-o", "--output", required=True, metavar="OUT_DIR", help="tracks dataset")
    _add_model_and_camera_options(track)
    track.add_argument("--overlay", metavar="OUT.mp4", help="also draw the tracks on a video")
    track.add_argument(
        "--mot",
        metavar="OUT.txt",
        help="also write MOTChallenge text (a live source: OUT-from-<frame>.txt segments)",
    )
    track.add_argument(
        "--threads", type=int, help="the model's CPU threads (default: every usable CPU)"
    )
    _add_verifier_option(track, DEFAULT_VERIFIER)
    _add_run_options(track)
    _add_parquet_options(track)
    track.set_defaults(handler=_track)

    batch_run = commands.add_parser(
        "batch",
        help="many videos -> one tracks dataset, one Ray task per video",
        description="Run the default pipeline on every INPUT as Ray tasks (a local cluster, "
        "or --ray-address) and write OUT_DIR/source=<id>/part-*.parquet; a rerun skips the "
        "videos already complete. pip install 'crowdpose3d[ray]'.",
    )
    batch_run.add_argument("inputs", nargs="+", metavar="INPUT", help="video files or URLs")
    batch_run.add_argument(
        "-o", "--output", required=True, metavar="OUT_DIR", help="tracks dataset"
    )
    batch_run.add_argument(
        "--ray-address", metavar="ADDR", help="connect to this Ray cluster (default: start one)"
    )
    batch_run.add_argument("--num-cpus", type=int, help="CPUs of the local cluster (default: all)")
    batch_run.add_argument(
        "--cpus-per-video", type=float, default=1.0, help="CPU slots and torch threads (1)"
    )
    batch_run.add_argument(
        "--gpus-per-video", type=float, default=0.0, help="GPU slots per video (0: CPU only)"
    )
    batch_run.add_argument(
        "--retries", type=int, default=1, help="further attempts for a failed video (1)"
    )
    _add_model_and_camera_options(batch_run)
    batch_run.set_defaults(handler=_batch)

    serve_run = commands.add_parser(
        "serve",
        help="many live cameras: camera groups as Ray actors, one batched model each",
        description="Run the cameras of CAMERAS.yaml in groups, each a Ray actor with one "
        "batched model (restarted by Ray when it dies, resuming its cameras' parts), writing "
        "OUTPUT/source=<camera>/part-*.parquet. pip install 'crowdpose3d[ray]'.",
    )
    serve_run.add_argument("cameras", metavar="CAMERAS.yaml", help="output, cameras, groups")
    serve_run.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="fill ${NAME} in the file"
    )
    serve_run.add_argument(
        "--ray-address", metavar="ADDR", help="connect to this Ray cluster (default: start one)"
    )
    serve_run.add_argument("--num-cpus", type=int, help="CPUs of the local cluster (default: all)")
    serve_run.add_argument(
        "--seconds", type=float, help="stop after this long (default: until Ctrl-C / SIGTERM)"
    )
    serve_run.add_argument(
        "--report-every-s", type=float, default=60.0, help="status line period (60)"
    )
    serve_run.set_defaults(handler=_serve)

    calibrate = commands.add_parser(
        "calibrate",
        help="estimate the camera (field of view, pitch, roll, height) from the people it sees",
        description="Run the model on the first seconds of VIDEO and fit the camera to the "
        "people standing or walking on the ground (head and feet against a stature prior); "
        "writes a camera file with the uncertainty, for crowdpose3d track --camera.",
    )
    calibrate.add_argument("video", metavar="VIDEO", help="video file or stream URL")
    calibrate.add_argument(
        "-o", "--output", metavar="CAMERA.json", help="write here (default: print the JSON)"
    )
    calibrate.add_argument(
        "--seconds", type=float, default=10.0, help="of video to calibrate on (10)"
    )
    calibrate.add_argument("--fov", type=float, help="a known horizontal field of view (deg)")
    calibrate.add_argument(
        "--model", default=DEFAULT_MODEL, help="builtin:NAME, a checkpoint or .onnx/.xml"
    )
    calibrate.add_argument("--device", default=DEFAULT_DEVICE, help="auto, cpu, cuda or cuda:N")
    _add_backend_options(calibrate)
    calibrate.set_defaults(handler=_calibrate)

    demo = commands.add_parser(
        "demo",
        help="run the default pipeline on a sample clip and compare with its ground truth",
    )
    demo.add_argument("--out", default="out/demo", help="output folder (out/demo)")
    demo.add_argument("--model", default=DEFAULT_MODEL, help="builtin:NAME or a path")
    demo.add_argument("--device", default=DEFAULT_DEVICE, help="auto, cpu, cuda or cuda:N")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("crowdpose3d: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
