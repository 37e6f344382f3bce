"""Writing synthetic sequences to disk exactly as the JTA dataset lays them out.

    OUT_DIR/videos/<split>/seq_<N>.mp4        H.264, yuv420p, no B-frames
    OUT_DIR/annotations/<split>/seq_<N>.json  JTA rows (see below)
    OUT_DIR/cameras/<split>/seq_<N>.json      camera, fps, frame count, seed, settings

An annotation file is a JSON list of rows [frame, person_id, joint_type, x2D, y2D, x3D,
y3D, z3D, occluded, self_occluded] (fabbrimatteo/JTA-Dataset README): frames count from
1, joint types follow the JTA-22 order, 2D in pixels from the top-left corner, 3D in
metres in the camera frame (x right, y down, z forward), flags 0/1.

Sequence numbers follow JTA: train sequences are seq_0 .. seq_<T-1>; test and val share
the numbers after that, interleaved (JTA: test seq_256, seq_258, ...; val seq_257,
seq_259, ..., as fabbrimatteo/LoCO's loaders read them).
Files are written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from crowdpose3d.data.synth.config import SynthConfig
from crowdpose3d.data.synth.sequence import SynthFrame, generate_sequence
from crowdpose3d.files import publish

SPLITS = ("train", "val", "test")
ENCODER_THREADS = 2  # fixed, so that the H.264 bytes do not depend on the machine


def parse_split(text: str) -> dict[str, int]:
    """'train=6,val=1,test=1' -> {'train': 6, 'val': 1, 'test': 1}."""
    counts: dict[str, int] = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or name not in SPLITS or not value.strip().isdigit():
            raise ValueError(
                f"bad split {item.strip()!r} in {text!r}: write e.g. train=6,val=1,test=1"
            )
        if name in counts:
            raise ValueError(f"split {name!r} given twice in {text!r}")
        counts[name] = int(value)
    return counts


def sequence_numbers(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """(split, number) of every sequence, numbered as JTA numbers its files."""
    unknown = set(counts) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {sorted(unknown)}; use {', '.join(SPLITS)}")
    train = counts.get("train", 0)
    out = [("train", i) for i in range(train)]
    left = {"test": counts.get("test", 0), "val": counts.get("val", 0)}
    number = train
    while left["test"] or left["val"]:
        for split in ("test", "val"):
            if left[split]:
                out.append((split, number))
                left[split] -= 1
                number += 1
    return out


def sequence_seed(dataset_seed: int, number: int) -> int:
    """The seed of sequence `number` of a dataset generated with `dataset_seed`."""
    state = np.random.SeedSequence([int(dataset_seed), int(number)]).generate_state(1)
    return int(state[0])


def frame_rows(frame: SynthFrame) -> list[list[float | int]]:
    """The JTA rows of one frame, people by id, joints in JTA order."""
    rows: list[list[float | int]] = []
    order = np.argsort(frame.person_ids, kind="stable")
    for n in order:
        pid = int(frame.person_ids[n])
        uv = np.round(frame.joints2d[n], 3).tolist()
        xyz = np.round(frame.joints3d[n], 5).tolist()
        occluded = frame.occluded[n].astype(int).tolist()
        self_occluded = frame.self_occluded[n].astype(int).tolist()
        for j in range(len(uv)):
            rows.append([frame.frame, pid, j, *uv[j], *xyz[j], occluded[j], self_occluded[j]])
    return rows


class VideoWriter:
    """H.264 MP4 through PyAV: yuv420p, constant frame rate, no B-frames."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float, crf: int = 23,
                 preset: str = "veryfast") -> None:  # fmt: skip
        self.container = av.open(str(path), mode="w", format="mp4")
        rate = Fraction(fps).limit_denominator(1001)
        stream = self.container.add_stream(
            "libx264",
            rate=rate,
            options={"crf": str(crf), "preset": preset, "bf": "0", "g": str(int(4 * fps))},
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = ENCODER_THREADS
        stream.codec_context.time_base = 1 / rate
        self.stream = stream
        self.index = 0

    def write(self, image: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = self.index
        self.index += 1
        self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        self.container.mux(self.stream.encode(None))
        self.container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_sequence(
    out_dir: str | Path,
    split: str,
    number: int,
    config: SynthConfig,
    seed: int,
    on_frame: Any = None,
) -> dict[str, Path]:
    """Generate one sequence and write its video, annotations and camera files."""
    out_dir = Path(out_dir)
    name = f"seq_{number}"
    paths = _sequence_paths(out_dir, split, number)
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    sequence = generate_sequence(config, seed)
    partial = {key: path.with_name(path.name + ".partial") for key, path in paths.items()}
    rows: list[list[float | int]] = []
    with VideoWriter(partial["video"], config.width, config.height, config.fps, config.crf,
                     config.preset) as video:  # fmt: skip
        for frame in sequence:
            video.write(frame.image)
            rows.extend(frame_rows(frame))
            if on_frame is not None:
                on_frame()
    partial["annotations"].write_text(json.dumps(rows, separators=(", ", ": ")))
    camera = {
        **sequence.camera.to_dict(),
        "fps": config.fps,
        "num_frames": config.num_frames,
        "seed": seed,
        "split": split,
        "sequence": name,
        "settings": config.to_dict(),
    }
    partial["camera"].write_text(json.dumps(camera, indent=2))
    for key, path in paths.items():
        publish(partial[key], path)
    return paths


def generate_dataset(
    out_dir: str | Path,
    config: SynthConfig | None = None,
    splits: Mapping[str, int] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = False,
    resume: bool = False,
    workers: int = 1,
) -> list[dict[str, Path]]:
    """Write a JTA-style dataset of synthetic sequences; returns each sequence's paths.

    splits: sequences per split, e.g. {"train": 6, "val": 1, "test": 1} (default one
    train sequence). A non-empty out_dir is refused unless overwrite, which first removes
    the seq_* files of a previous run (nothing else), or resume, which keeps the finished
    sequences of an interrupted run with the same settings and seed and makes the rest.
    workers > 1 makes sequences in that many processes (one thread each).
    """
    config = config or SynthConfig()
    splits = dict(splits or {"train": 1})
    numbers = sequence_numbers(splits)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(f"{out_dir} is a file, not a directory")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    done: set[tuple[str, int]] = set()
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if overwrite:
            _remove_previous(out_dir)
        elif resume:
            done = _finished(out_dir, numbers, config, seed)
        else:
            raise FileExistsError(
                f"output directory {out_dir} is not empty; choose another, pass --resume to "
                "finish an interrupted run, or --overwrite"
            )
    todo = [(split, number) for split, number in numbers if (split, number) not in done]
    bar = _progress(len(todo) * config.num_frames) if progress else None
    try:
        if workers == 1 or len(todo) <= 1:
            for split, number in todo:
                on_frame = bar.update if bar is not None else None
                write_sequence(
                    out_dir, split, number, config, sequence_seed(seed, number), on_frame
                )
        else:
            _write_in_processes(out_dir, todo, config, seed, workers, bar)
    finally:
        if bar is not None:
            bar.close()
    return [_sequence_paths(out_dir, split, number) for split, number in numbers]


def _write_in_processes(out_dir, todo, config, seed, workers, bar) -> None:
    """Sequences in `workers` spawned processes, each single-threaded."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
        futures = [
            pool.submit(write_sequence, out_dir, split, number, config, sequence_seed(seed, number))
            for split, number in todo
        ]
        for future in as_completed(futures):
            future.result()
            if bar is not None:
                bar.update(config.num_frames)


def _one_thread() -> None:
    os.environ["LP_NUM_THREADS"] = "1"  # Mesa llvmpipe's rasteriser threads
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _sequence_paths(out_dir: Path, split: str, number: int) -> dict[str, Path]:
    name = f"seq_{number}"
    return {
        "video": out_dir / "videos" / split / f"{name}.mp4",
        "annotations": out_dir / "annotations" / split / f"{name}.json",
        "camera": out_dir / "cameras" / split / f"{name}.json",
    }


def _finished(
    out_dir: Path, numbers: list[tuple[str, int]], config: SynthConfig, seed: int
) -> set[tuple[str, int]]:
    """The sequences already written with these settings; refuses other settings."""
    done = set()
    for split, number in numbers:
        paths = _sequence_paths(out_dir, split, number)
        if not all(p.is_file() for p in paths.values()):
            continue
        camera = json.loads(paths["camera"].read_text())
        if camera.get("settings") != config.to_dict() or camera.get("seed") != sequence_seed(
            seed, number
        ):
            raise FileExistsError(
                f"{paths['camera']} was made with other settings or another seed; "
                "resume with the same options, or pass --overwrite"
            )
        done.add((split, number))
    return done


def _remove_previous(out_dir: Path) -> None:
    for kind, suffixes in (("videos", (".mp4",)), ("annotations", (".json",)),
                           ("cameras", (".json",))):  # fmt: skip
        for split in SPLITS:
            folder = out_dir / kind / split
            if folder.is_dir():
                for path in _matching(folder, suffixes):
                    path.unlink()


def _matching(folder: Path, suffixes: Iterable[str]) -> list[Path]:
    return [
        p for p in folder.iterdir()
        if p.name.startswith("seq_") and any(p.name.endswith(s) or p.name.endswith(s + ".partial")
                                             for s in suffixes)
    ]  # fmt: skip


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc="synth", dynamic_ncols=True)
