"""Multi-object tracking scores on boxes: CLEAR MOT (MOTA, MOTP) and identity scores (IDF1).

Both take tables with columns ``frame, id, x1, y1, x2, y2`` (ground truth and tracker
output) and match a prediction to a ground-truth person when their boxes overlap with
IoU >= ``iou_threshold`` (0.5, as MOTChallenge does).

- CLEAR MOT (Bernardin & Stiefelhagen 2008): frame by frame, a match of the previous frame
  is kept while it still overlaps enough; the rest are matched by the Hungarian algorithm on
  1 - IoU. MOTA = 1 - (misses + false positives + identity switches) / ground-truth boxes.
- IDF1 (Ristani et al. 2016): one global one-to-one assignment of tracker ids to true ids
  maximising the frames in which they match; IDF1 = 2 IDTP / (true boxes + predicted boxes).

``mot_challenge_scores`` runs TrackEval itself (HOTA, DetA, AssA, LocA with CLEAR and Identity) on
MOTChallenge files: the reference scoring of tracker comparisons (benchmarks/tracking_peers.py).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crowdpose3d.tracking.association import box_iou_matrix, linear_assignment

COLUMNS = ["frame", "id", "x1", "y1", "x2", "y2"]


@dataclass(frozen=True)
class TrackingScores:
    mota: float
    motp_iou: float  # mean IoU of the matched boxes
    idf1: float
    num_gt: int
    num_predictions: int
    misses: int
    false_positives: int
    id_switches: int

    def to_dict(self) -> dict:
        return asdict(self)


def tracking_scores(
    truth: pd.DataFrame, predicted: pd.DataFrame, iou_threshold: float = 0.5
) -> TrackingScores:
    """CLEAR MOT and IDF1 of ``predicted`` against ``truth`` (tables of `COLUMNS`)."""
    truth_by_frame = {f: g for f, g in truth[COLUMNS].groupby("frame")}
    predicted_by_frame = {f: g for f, g in predicted[COLUMNS].groupby("frame")}
    frames = sorted(set(truth_by_frame) | set(predicted_by_frame))
    empty = pd.DataFrame(columns=COLUMNS)
    last_match: dict[int, int] = {}  # true id -> tracker id it was last matched to
    misses = false_positives = switches = matches = 0
    iou_sum = 0.0
    pair_counts: dict[tuple[int, int], int] = {}
    for frame in frames:
        t = truth_by_frame.get(frame, empty)
        p = predicted_by_frame.get(frame, empty)
        t_ids, p_ids = t["id"].to_numpy(int), p["id"].to_numpy(int)
        iou = box_iou_matrix(t[COLUMNS[2:]].to_numpy(float), p[COLUMNS[2:]].to_numpy(float))
        for i in range(len(t_ids)):  # identity scores count every overlapping pair
            for j in np.flatnonzero(iou[i] >= iou_threshold):
                key = (int(t_ids[i]), int(p_ids[j]))
                pair_counts[key] = pair_counts.get(key, 0) + 1
        pairs = _clear_mot_pairs(t_ids, p_ids, iou, last_match, iou_threshold)
        for i, j in pairs:
            previous = last_match.get(int(t_ids[i]))
            if previous is not None and previous != p_ids[j]:
                switches += 1
            last_match[int(t_ids[i])] = int(p_ids[j])
            iou_sum += iou[i, j]
        matches += len(pairs)
        misses += len(t_ids) - len(pairs)
        false_positives += len(p_ids) - len(pairs)
    num_gt, num_predictions = len(truth), len(predicted)
    idtp = _identity_true_positives(pair_counts)
    return TrackingScores(
        mota=1 - (misses + false_positives + switches) / num_gt if num_gt else float("nan"),
        motp_iou=float(iou_sum / matches) if matches else float("nan"),
        idf1=2 * idtp / (num_gt + num_predictions) if num_gt + num_predictions else float("nan"),
        num_gt=num_gt,
        num_predictions=num_predictions,
        misses=misses,
        false_positives=false_positives,
        id_switches=switches,
    )


def _clear_mot_pairs(t_ids, p_ids, iou, last_match, threshold) -> list[tuple[int, int]]:
    """Keep last frame's correspondences that still overlap, Hungarian for the rest."""
    pairs, used_t, used_p = [], set(), set()
    p_index = {int(pid): j for j, pid in enumerate(p_ids)}
    for i, tid in enumerate(t_ids):
        j = p_index.get(last_match.get(int(tid), -(10**9)))
        if j is not None and j not in used_p and iou[i, j] >= threshold:
            pairs.append((i, j))
            used_t.add(i)
            used_p.add(j)
    rest_t = [i for i in range(len(t_ids)) if i not in used_t]
    rest_p = [j for j in range(len(p_ids)) if j not in used_p]
    if rest_t and rest_p:
        cost = 1 - iou[np.ix_(rest_t, rest_p)]
        for a, b in linear_assignment(cost, 1 - threshold + 1e-9).matches:
            pairs.append((rest_t[a], rest_p[b]))
    return pairs


def _identity_true_positives(pair_counts: dict[tuple[int, int], int]) -> int:
    """The largest number of matched boxes under a one-to-one true id <-> tracker id map."""
    if not pair_counts:
        return 0
    t_ids = sorted({t for t, _ in pair_counts})
    p_ids = sorted({p for _, p in pair_counts})
    t_index = {t: i for i, t in enumerate(t_ids)}
    p_index = {p: j for j, p in enumerate(p_ids)}
    counts = np.zeros((len(t_ids), len(p_ids)))
    for (t, p), n in pair_counts.items():
        counts[t_index[t], p_index[p]] = n
    cost = counts.max() - counts + 1  # lowest cost = most frames; pairs never seen: excluded
    pairs = linear_assignment(cost, counts.max() + 1).matches
    return int(counts[pairs[:, 0], pairs[:, 1]].sum())


#: MOTChallenge class of a person to score, and of one to ignore (a tracker's box on it is
#: neither a hit nor a false positive: TrackEval's preprocessing drops it).
PEDESTRIAN_CLASS = 1
DISTRACTOR_CLASS = 8
#: TrackEval's headline figures, as ``mot_challenge_scores`` returns them.
TRACKEVAL_KEYS = ("HOTA", "DetA", "AssA", "LocA", "MOTA", "IDF1", "IDSW")


def mot_ground_truth_text(truth: pd.DataFrame, ignored: pd.DataFrame | None = None) -> str:
    """MOTChallenge ``gt.txt`` lines (``frame,id,left,top,width,height,1,class,1``, frames
    from 1) of a table of `COLUMNS` with 0-based frames; the ``ignored`` rows (people too
    hidden or small to demand) are written as distractors."""
    parts = [(truth, PEDESTRIAN_CLASS)]
    if ignored is not None:
        parts.append((ignored, DISTRACTOR_CLASS))
    lines = []
    for table, label in parts:
        for frame, pid, x1, y1, x2, y2 in table[COLUMNS].itertuples(index=False):
            lines.append(
                (
                    int(frame) + 1,
                    f"{int(frame) + 1},{int(pid)},{x1:.2f},{y1:.2f},"
                    f"{x2 - x1:.2f},{y2 - y1:.2f},1,{label},1\n",
                )
            )
    return "".join(line for _, line in sorted(lines, key=lambda item: item[0]))


def mot_challenge_scores(
    ground_truth: dict[str, tuple[Path, int]], results: dict[str, dict[str, Path]]
) -> dict[str, dict[str, float]]:
    """TrackEval's HOTA, CLEAR and Identity metrics of MOTChallenge result files.

    Args:
        ground_truth: sequence name -> (its ``gt.txt``, number of frames).
        results: tracker name -> sequence name -> its result file (every sequence).

    Returns:
        tracker name -> `TRACKEVAL_KEYS` combined over the sequences as TrackEval combines
        them (HOTA, DetA, AssA, LocA averaged over the IoU thresholds 0.05-0.95; MOTA and
        IDF1 at IoU 0.5; IDSW the sum).
    """
    with contextlib.redirect_stdout(io.StringIO()):  # it prints about absent extras
        import trackeval  # optional dependency: the `trackeval` extra, installed --no-deps

    with tempfile.TemporaryDirectory(prefix="trackeval_") as work:
        gt_folder, trackers_folder = Path(work, "gt"), Path(work, "trackers")
        for seq, (path, _) in ground_truth.items():
            (gt_folder / seq / "gt").mkdir(parents=True)
            shutil.copyfile(path, gt_folder / seq / "gt" / "gt.txt")
        for tracker, files in results.items():
            (trackers_folder / tracker / "data").mkdir(parents=True)
            for seq in ground_truth:
                shutil.copyfile(files[seq], trackers_folder / tracker / "data" / f"{seq}.txt")
        evaluator = trackeval.Evaluator(
            {
                "USE_PARALLEL": False,
                "PRINT_RESULTS": False,
                "PRINT_CONFIG": False,
                "TIME_PROGRESS": False,
                "OUTPUT_SUMMARY": False,
                "OUTPUT_DETAILED": False,
                "PLOT_CURVES": False,
                "OUTPUT_EMPTY_CLASSES": False,
            }
        )
        dataset = trackeval.datasets.MotChallenge2DBox(
            {
                "GT_FOLDER": str(gt_folder),
                "TRACKERS_FOLDER": str(trackers_folder),
                "SKIP_SPLIT_FOL": True,
                "SEQ_INFO": {s: n for s, (_, n) in ground_truth.items()},
                "TRACKERS_TO_EVAL": list(results),
                "PRINT_CONFIG": False,
            }
        )
        metrics = [
            trackeval.metrics.HOTA({"PRINT_CONFIG": False}),
            trackeval.metrics.CLEAR({"PRINT_CONFIG": False}),
            trackeval.metrics.Identity({"PRINT_CONFIG": False}),
        ]
        with contextlib.redirect_stdout(io.StringIO()):
            output, messages = evaluator.evaluate([dataset], metrics)
    scores = {}
    for tracker in results:
        message = messages["MotChallenge2DBox"][tracker]
        if message != "Success":
            raise RuntimeError(f"TrackEval could not score {tracker}: {message}")
        combined = output["MotChallenge2DBox"][tracker]["COMBINED_SEQ"]["pedestrian"]
        scores[tracker] = {
            "HOTA": float(np.mean(combined["HOTA"]["HOTA"])),
            "DetA": float(np.mean(combined["HOTA"]["DetA"])),
            "AssA": float(np.mean(combined["HOTA"]["AssA"])),
            "LocA": float(np.mean(combined["HOTA"]["LocA"])),
            "MOTA": float(combined["CLEAR"]["MOTA"]),
            "IDF1": float(combined["Identity"]["IDF1"]),
            "IDSW": float(combined["CLEAR"]["IDSW"]),
        }
    return scores
