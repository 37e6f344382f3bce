"""`crowdpose3d demo`: the whole pipeline on a sample clip with ground truth, no arguments.

It generates (once) a short synthetic street clip with its camera and labels, runs the
default pipeline with the shipped model (tracks as Parquet, an overlay video), reads the
tracks back with pandas and prints what it found against the ground truth: people per
frame, MOTA / IDF1 / identity switches (`crowdpose3d.tracking.metrics`) and the error of the
lifted root positions in metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crowdpose3d.tracking.association import box_iou_matrix, linear_assignment
from crowdpose3d.tracking.metrics import COLUMNS, tracking_scores
from crowdpose3d.tracks.schema import BOX_COLUMNS, FRAME, ROOT_COLUMNS, TRACK_ID

SAMPLE_SPLIT = "test"
MIN_VISIBLE_FRACTION = 0.25  # a true person counts as visible with this share of joints seen
MIN_BOX_HEIGHT_PX = 12.0  # ... and a box at least this tall


@dataclass(frozen=True)
class SampleClip:
    root: Path  # JTA layout: videos/, annotations/, cameras/
    video: Path
    camera: Path


def make_sample_clip(
    folder: str | Path,
    seed: int = 11,
    frames: int = 50,
    fps: float = 10.0,
    size: tuple[int, int] = (320, 512),
    people: tuple[int, int] = (6, 14),
) -> SampleClip:
    """Write (unless already there) one synthetic sequence with labels and its camera."""
    from crowdpose3d.data.synth import SynthConfig, write_sequence

    root = Path(folder)
    clip = SampleClip(
        root,
        root / "videos" / SAMPLE_SPLIT / "seq_1.mp4",
        root / "cameras" / SAMPLE_SPLIT / "seq_1.json",
    )
    if not (clip.video.is_file() and clip.camera.is_file()):
        config = SynthConfig(
            num_frames=frames,
            fps=fps,
            height=size[0],
            width=size[1],
            min_people=people[0],
            max_people=people[1],
        )
        write_sequence(root, SAMPLE_SPLIT, 1, config, seed=seed)
    return clip


def truth_table(root: str | Path, split: str = SAMPLE_SPLIT) -> pd.DataFrame:
    """The visible people of a JTA-layout clip: frame (0-based), id, box, root (metres)."""
    from crowdpose3d.data.jta import JTADataset

    rows = []
    for sample in JTADataset(root, split=split):
        seen = sample.visible.mean(axis=1) >= MIN_VISIBLE_FRACTION
        tall = (sample.boxes[:, 3] - sample.boxes[:, 1]) >= MIN_BOX_HEIGHT_PX
        root_joint = sample.kp3d[:, sample.skeleton.root]  # (N, 3)
        for i in np.flatnonzero(seen & tall):
            rows.append(
                [sample.frame - 1, int(sample.person_ids[i]), *sample.boxes[i], *root_joint[i]]
            )
    return pd.DataFrame(rows, columns=[*COLUMNS, *ROOT_COLUMNS])


def tracks_as_boxes(tracks: pd.DataFrame) -> pd.DataFrame:
    """A tracks dataset -> the ``frame, id, x1, y1, x2, y2`` table the scores read."""
    _, track, *corners = COLUMNS  # the frame column has the same name in both
    return tracks.rename(columns={TRACK_ID: track, **dict(zip(BOX_COLUMNS, corners, strict=True))})


def compare_with_truth(tracks: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Tracking scores and root-position errors of a tracks dataset against the truth."""
    predicted = tracks_as_boxes(tracks)
    scores = tracking_scores(truth, predicted)
    found, true = matched_roots(predicted, truth)  # (M, 3) each
    finite = np.isfinite(found).all(axis=1)
    errors = np.linalg.norm(found[finite] - true[finite], axis=1)
    depth_pct = np.abs(found[finite, 2] - true[finite, 2]) / true[finite, 2] * 100
    frames = sorted(set(truth[FRAME]) | set(predicted[FRAME]))
    return {
        **scores.to_dict(),
        "frames": len(frames),
        "true_people_per_frame": len(truth) / max(len(frames), 1),
        "found_people_per_frame": len(predicted) / max(len(frames), 1),
        "root_error_median_m": float(np.median(errors)) if len(errors) else float("nan"),
        "root_error_p90_m": float(np.percentile(errors, 90)) if len(errors) else float("nan"),
        "root_depth_error_median_pct": float(np.median(depth_pct)) if len(errors) else float("nan"),
        "matched_for_root_error": int(len(errors)),
    }


def matched_roots(predicted: pd.DataFrame, truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Roots (metres) of the predictions and true people matched per frame (IoU >= 0.5,
    Hungarian) -> ((M, 3) predicted, (M, 3) true)."""
    corners, roots = COLUMNS[2:], list(ROOT_COLUMNS)
    by_frame = dict(tuple(truth.groupby(FRAME)))
    found, true = [np.zeros((0, 3))], [np.zeros((0, 3))]
    for frame, p in predicted.groupby(FRAME):
        t = by_frame.get(frame)
        if t is None:
            continue
        iou = box_iou_matrix(p[corners].to_numpy(float), t[corners].to_numpy(float))
        pairs = linear_assignment(1 - iou, cost_limit=0.5).matches  # (K, 2)
        found.append(p[roots].to_numpy(float)[pairs[:, 0]])
        true.append(t[roots].to_numpy(float)[pairs[:, 1]])
    return np.concatenate(found), np.concatenate(true)
