"""`crowdpose3d demo`: the whole pipeline on a sample clip with ground truth, no arguments.

It generates (once) a short synthetic street clip with its camera and labels, runs the
default pipeline with the shipped model (tracks as Parquet, an overlay video), reads the
tracks back with pandas and prints what it found against the ground truth: people per
frame, MOTA / IDF1 / identity switches (`crowdpose3d.track_metrics`) and the error of the
lifted root positions in metres.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lap
import numpy as np
import pandas as pd

from crowdpose3d.track_metrics import box_iou, tracking_scores

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
    columns = ["frame", "id", "x1", "y1", "x2", "y2", "root_x_m", "root_y_m", "root_z_m"]
    return pd.DataFrame(rows, columns=columns)


def tracks_as_boxes(tracks: pd.DataFrame) -> pd.DataFrame:
    """A tracks dataset -> the ``frame, id, x1, y1, x2, y2`` table the scores read."""
    return tracks.rename(
        columns={"track_id": "id", "box_x1": "x1", "box_y1": "y1", "box_x2": "x2", "box_y2": "y2"}
    )


def compare_with_truth(tracks: pd.DataFrame, truth: pd.DataFrame) -> dict[str, float]:
    """Tracking scores and root-position errors of a tracks dataset against the truth."""
    predicted = tracks_as_boxes(tracks)
    scores = tracking_scores(truth, predicted)
    errors = root_errors(predicted, truth)
    frames = sorted(set(truth["frame"]) | set(predicted["frame"]))
    return {
        **scores.to_dict(),
        "frames": len(frames),
        "true_people_per_frame": len(truth) / max(len(frames), 1),
        "found_people_per_frame": len(predicted) / max(len(frames), 1),
        "root_error_median_m": float(np.median(errors)) if len(errors) else float("nan"),
        "root_error_p90_m": float(np.percentile(errors, 90)) if len(errors) else float("nan"),
        "root_depth_error_median_pct": _depth_error_pct(predicted, truth),
        "matched_for_root_error": int(len(errors)),
    }


def _matches(predicted: pd.DataFrame, truth: pd.DataFrame):
    """Per frame, (prediction row, truth row) pairs overlapping with IoU >= 0.5."""
    by_frame = dict(tuple(truth.groupby("frame")))
    for frame, p in predicted.groupby("frame"):
        t = by_frame.get(frame)
        if t is None or not len(p):
            continue
        corners = ["x1", "y1", "x2", "y2"]
        iou = box_iou(p[corners].to_numpy(float), t[corners].to_numpy(float))
        _, rows, _ = lap.lapjv(1 - iou, extend_cost=True, cost_limit=0.5)
        for i, j in enumerate(rows):
            if j >= 0:
                yield p.iloc[i], t.iloc[int(j)]


def root_errors(predicted: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """Euclidean root errors (metres) of the matched predictions."""
    columns = ["root_x_m", "root_y_m", "root_z_m"]
    errors = [
        float(np.linalg.norm(p[columns].to_numpy(float) - t[columns].to_numpy(float)))
        for p, t in _matches(predicted, truth)
    ]
    return np.asarray([e for e in errors if np.isfinite(e)])


def _depth_error_pct(predicted: pd.DataFrame, truth: pd.DataFrame) -> float:
    ratios = [
        abs(p["root_z_m"] - t["root_z_m"]) / t["root_z_m"] * 100
        for p, t in _matches(predicted, truth)
        if np.isfinite(p["root_z_m"])
    ]
    return float(np.median(ratios)) if ratios else float("nan")
