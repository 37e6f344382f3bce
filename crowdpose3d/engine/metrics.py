"""Evaluation metrics of PandaNet (paper section 4): detection AP, 3DPCK and MPJPE.

Pure numpy. The rules (see docs/evaluation.md):

- Matching, per image: predictions in descending score order each take the still unmatched
  ground-truth box with the highest IoU, when that IoU is >= 0.5; a prediction left without
  one (a duplicate, a false alarm) is a false positive.
- AP: PASCAL VOC all-point interpolated average precision at IoU 0.5 over the whole set.
- 3D: the network predicts root-relative poses whose bone lengths sum to 1. A matched
  prediction is multiplied by its ground-truth person's scale (the sum of the GT bone
  lengths, as `normalize_pose` computes it) and compared with the GT pose minus the GT root
  ("ground-truth translations and scales", as the paper shows its JTA results). Joints whose
  3D is not labelled are ignored; a person whose root is not labelled has no 3D evaluation.
- 3DPCK: a joint is correct when its error is *less than* 150 mm (exactly 150 mm is wrong;
  errors are rounded to 0.001 mm first so float32 storage cannot decide the boundary). Every
  labelled joint of an undetected person is wrong.
- MPJPE: mean error in mm over the labelled joints of matched people.

`PoseEvaluation` accumulates counts image by image (memory does not grow with the data set)
and returns an `EvaluationResult` with the paper's tables: distance-wise 3DPCK (Table 3),
joint-wise 3DPCK (Table 4), per-sequence MPJPE and 3DPCK (Tables 5 and 6).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from crowdpose3d.core.skeleton import MUPOTS17, Skeleton, normalize_pose
from crowdpose3d.data.sample import Sample
from crowdpose3d.geometry.boxes import box_iou_matrix
from crowdpose3d.poses import Poses

__all__ = [
    "DISTANCE_EDGES_M",
    "EvaluationResult",
    "PoseEvaluation",
    "average_precision",
    "box_iou_matrix",
    "distance_labels",
    "joint_errors",
    "match_people",
    "scale_to_ground_truth",
    "sequence_group",
]

IOU_THRESHOLD = 0.5
PCK_THRESHOLD_MM = 150.0
DISTANCE_EDGES_M = (10.0, 20.0, 30.0, 40.0)  # Table 3: <10, 10-20, 20-30, 30-40, >40 m
ERROR_DECIMALS_MM = 3  # errors are rounded to the micrometre before the 3DPCK comparison


# ---------------------------------------------------------------------- detection
def match_people(
    pred_boxes: np.ndarray,
    pred_scores: np.ndarray,
    gt_boxes: np.ndarray,
    iou_threshold: float = IOU_THRESHOLD,
) -> np.ndarray:
    """Greedy matching of one image's predictions to its ground truth.

    pred_boxes (P, 4), pred_scores (P,), gt_boxes (G, 4) xyxy. In descending score order
    (ties: input order), each prediction takes the unmatched GT with the highest IoU if that
    IoU is >= ``iou_threshold``. Returns (P,) int64: the matched GT index, or -1.
    """
    iou = box_iou_matrix(pred_boxes, gt_boxes)  # (P, G)
    matches = np.full(len(iou), -1, dtype=np.int64)
    taken = np.zeros(iou.shape[1], dtype=bool)
    for p in np.argsort(-np.asarray(pred_scores, dtype=np.float64), kind="stable"):
        if taken.all():
            break
        candidates = np.where(taken, -1.0, iou[p])
        g = int(candidates.argmax())
        if candidates[g] >= iou_threshold:
            matches[p] = g
            taken[g] = True
    return matches


def average_precision(scores: np.ndarray, is_tp: np.ndarray, num_gt: int) -> float:
    """PASCAL VOC all-point interpolated AP (fraction in [0, 1]) of a ranked detection list.

    scores (D,) and is_tp (D,) bool over every detection of the data set; num_gt the number
    of ground-truth people. Precision is made monotone (each recall level takes the best
    precision at that recall or beyond) and integrated over recall. NaN when num_gt is 0.
    """
    if num_gt <= 0:
        return math.nan
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    tp = np.asarray(is_tp, dtype=bool)[order]
    cum_tp = np.cumsum(tp)
    cum_fp = np.cumsum(~tp)
    recall = cum_tp / num_gt
    precision = cum_tp / np.maximum(cum_tp + cum_fp, 1)
    recall = np.concatenate(([0.0], recall, [1.0]))
    precision = np.concatenate(([0.0], precision, [0.0]))
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # envelope
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


# ---------------------------------------------------------------------- 3D errors
def scale_to_ground_truth(
    pred_rel: np.ndarray, gt_kp3d: np.ndarray, gt_valid: np.ndarray, skeleton: Skeleton
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Put normalised predictions at their ground truth's scale.

    pred_rel (N, K, 3) root-relative, bone-length-normalised (``Poses.kp3d_rel``);
    gt_kp3d (N, K, 3) metres; gt_valid (N, K). Returns (prediction (N, K, 3) metres, GT
    root-relative (N, K, 3) metres, valid (N, K)): the prediction times the GT scale (sum
    of the GT bone lengths), GT minus its root; valid is False for unlabelled joints and for
    every joint of a person whose scale cannot be computed (root unlabelled).
    """
    gt_kp3d = np.asarray(gt_kp3d, dtype=np.float64)
    normalised, scale = normalize_pose(gt_kp3d, skeleton, gt_valid)  # (N, K, 3), (N,)
    valid = np.asarray(gt_valid, dtype=bool) & (scale > 0)[:, None]
    gt_rel = normalised * scale[:, None, None]
    pred = np.asarray(pred_rel, dtype=np.float64) * scale[:, None, None]
    return pred, gt_rel, valid


def joint_errors(
    pred_rel: np.ndarray, gt_kp3d: np.ndarray, gt_valid: np.ndarray, skeleton: Skeleton
) -> np.ndarray:
    """(N, K) per-joint 3D errors in mm of GT-scaled predictions; NaN where not evaluated."""
    pred, gt_rel, valid = scale_to_ground_truth(pred_rel, gt_kp3d, gt_valid, skeleton)
    errors = np.linalg.norm(pred - gt_rel, axis=-1) * 1000.0
    return np.where(valid, errors, np.nan)


def distance_labels(edges: tuple[float, ...] = DISTANCE_EDGES_M) -> list[str]:
    """Column names of the distance bins: ["<10", "10-20", ..., ">40"]."""
    inner = [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return [f"<{edges[0]:g}", *inner, f">{edges[-1]:g}"]


def sequence_group(sequence: str) -> str:
    """The row of the per-sequence tables a sample's ``sequence`` belongs to.

    ``panoptic/160422_haggling1/00_16`` -> ``Haggling`` (Table 5 pools cameras and
    numbered takes of a scenario); otherwise the last part naming the sequence
    (``mupots/TS3`` -> ``TS3``, ``jta/test/seq_3`` -> ``seq_3``).
    """
    parts = [p for p in sequence.split("/") if p]
    if not parts:
        return "all"
    if parts[0] == "panoptic" and len(parts) >= 2:
        scenario = re.sub(r"^\d+_", "", parts[1])
        return re.sub(r"\d+$", "", scenario).capitalize() or parts[1]
    if parts[0] in ("jta", "synth") and len(parts) >= 3:
        return parts[2]
    return parts[-1]


# ---------------------------------------------------------------------- results
@dataclass
class EvaluationResult:
    """What `PoseEvaluation` measured. AP and 3DPCK are percentages (0-100), errors in mm;
    NaN (``None`` in `to_dict`) where nothing was there to measure.

    pck_by_distance: bin label (``"<10"`` ... ``">40"``) -> 3DPCK, plus ``"all"``.
    people_by_distance: bin label -> GT people with a 3D pose in that bin.
    pck_by_group: joint group (the skeleton's groups, else joint names) -> 3DPCK, + ``"all"``.
    by_sequence: row name (`sequence_group`) -> {"mpjpe_mm", "pck3d", "people", "images"};
        in order of first appearance, then ``"mean"`` (unweighted mean of the rows).
    """

    skeleton: str
    num_images: int
    num_people: int
    num_detections: int
    num_matched: int
    ap: float
    pck3d: float
    mpjpe_mm: float
    pck_threshold_mm: float = PCK_THRESHOLD_MM
    iou_threshold: float = IOU_THRESHOLD
    pck_by_distance: dict[str, float] = field(default_factory=dict)
    people_by_distance: dict[str, int] = field(default_factory=dict)
    pck_by_group: dict[str, float] = field(default_factory=dict)
    by_sequence: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready dict (NaN -> None)."""
        return _nan_to_none(asdict(self))

    def format_tables(self) -> str:
        """The results as text tables laid out like the paper's Tables 3-6."""
        lines = [
            f"{self.num_images} images, {self.num_people} people, {self.num_detections} "
            f"detections ({self.num_matched} matched at IoU >= {self.iou_threshold:g}); "
            f"skeleton {self.skeleton}; 3DPCK at {self.pck_threshold_mm:g} mm, GT scale",
            "",
            "Detection and 3D pose",
            _table(
                ["AP", "3DPCK", "MPJPE (mm)"],
                [[_fmt(self.ap), _fmt(self.pck3d), _fmt(self.mpjpe_mm)]],
            ),
            "",
            "Distance-wise 3DPCK (distance to the camera in metres; Table 3)",
            _table(
                ["Dist.", *self.pck_by_distance],
                [
                    ["3DPCK", *(_fmt(v) for v in self.pck_by_distance.values())],
                    ["people", *(str(v) for v in self.people_by_distance.values())],
                ],
            ),
            "",
            "Joint-wise 3DPCK (Table 4)",
            _table(list(self.pck_by_group), [[_fmt(v) for v in self.pck_by_group.values()]]),
            "",
            "Per sequence (MPJPE: Table 5, 3DPCK: Table 6)",
            _table(
                ["sequence", "MPJPE (mm)", "3DPCK", "people", "images"],
                [
                    [
                        name,
                        _fmt(row["mpjpe_mm"]),
                        _fmt(row["pck3d"]),
                        _fmt_count(row.get("people")),
                        _fmt_count(row.get("images")),
                    ]
                    for name, row in self.by_sequence.items()
                ],
            ),
        ]
        return "\n".join(lines)


def _nan_to_none(value):
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _fmt(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def _fmt_count(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else str(int(value))


def _table(header: list[str], rows: list[list[str]]) -> str:
    """Right-aligned columns (the first left-aligned), two spaces apart."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        rest = [f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return "\n".join(["  " + line(header)] + ["  " + line(row) for row in rows])


def _percent(correct: float, total: float) -> float:
    return 100.0 * correct / total if total > 0 else math.nan


# ---------------------------------------------------------------------- accumulator
@dataclass
class _Counts:
    """3DPCK and MPJPE counters of one row of a table."""

    correct: int = 0  # labelled joints within the threshold
    total: int = 0  # labelled joints of every GT person (missed people included)
    error_sum: float = 0.0  # mm, over labelled joints of matched people
    error_count: int = 0
    people: int = 0
    images: int = 0

    def add(self, errors: np.ndarray, valid: np.ndarray, correct: np.ndarray, measured: np.ndarray):
        """One image's people: errors (N, K) mm; valid, correct, measured (N, K) bool."""
        self.correct += int(correct.sum())
        self.total += int(valid.sum())
        self.error_sum += float(errors[measured].sum())
        self.error_count += int(measured.sum())
        self.people += len(valid)

    @property
    def pck(self) -> float:
        return _percent(self.correct, self.total)

    @property
    def mpjpe(self) -> float:
        return self.error_sum / self.error_count if self.error_count else math.nan


class PoseEvaluation:
    """Accumulates one image at a time (``add(poses, sample)``), then ``result()``.

    Args:
        skeleton: the joint set of the predictions; samples on another skeleton are mapped
            to it (`Sample.mapped_to`) and the joints it cannot map are ignored.
        pck_threshold_mm: 3DPCK threshold (strictly less than it is correct).
        iou_threshold: box IoU for a prediction to match a person.
        distance_edges_m: bin edges on the GT root depth (camera z); a person exactly on an
            edge goes to the farther bin.
        group_of: ``sample.sequence`` -> per-sequence table row (`sequence_group`).
        universal_mupots: on MuPoTS17, compare with ``sample.extra["kp3d_univ"]`` (the
            official evaluation's universal-skeleton poses) when a sample carries it.
    """

    def __init__(
        self,
        skeleton: Skeleton,
        pck_threshold_mm: float = PCK_THRESHOLD_MM,
        iou_threshold: float = IOU_THRESHOLD,
        distance_edges_m: tuple[float, ...] = DISTANCE_EDGES_M,
        group_of: Callable[[str], str] = sequence_group,
        universal_mupots: bool = True,
    ) -> None:
        self.skeleton = skeleton
        self.pck_threshold_mm = float(pck_threshold_mm)
        self.iou_threshold = float(iou_threshold)
        self.distance_edges_m = tuple(float(e) for e in distance_edges_m)
        self.group_of = group_of
        self.universal_mupots = universal_mupots
        self._groups = skeleton.groups or tuple((j, (i,)) for i, j in enumerate(skeleton.joints))

        self._scores: list[np.ndarray] = []
        self._is_tp: list[np.ndarray] = []
        self.num_images = 0
        self.num_people = 0
        self.num_matched = 0
        num_joints, num_bins = skeleton.num_joints, len(self.distance_edges_m) + 1
        self._all = _Counts()
        self._joint_correct = np.zeros(num_joints, dtype=np.int64)
        self._joint_total = np.zeros(num_joints, dtype=np.int64)
        self._bins = [_Counts() for _ in range(num_bins)]
        self._sequences: dict[str, _Counts] = {}

    def add(self, poses: Poses, sample: Sample) -> None:
        """Score one image: the predictions ``poses`` against the labels of ``sample``."""
        if len(poses) and poses.num_joints != self.skeleton.num_joints:
            raise ValueError(
                f"predictions have {poses.num_joints} joints, the evaluation's skeleton "
                f"{self.skeleton.name} has {self.skeleton.num_joints}"
            )
        universal = (
            self.universal_mupots
            and sample.skeleton == MUPOTS17 == self.skeleton
            and "kp3d_univ" in sample.extra
        )
        gt_kp3d = sample.extra["kp3d_univ"] if universal else None
        sample = sample.mapped_to(self.skeleton)
        gt_kp3d = sample.kp3d if gt_kp3d is None else np.asarray(gt_kp3d, dtype=np.float64)
        self.num_images += 1
        self.num_people += len(sample)

        # Detection: (P,) GT index or -1.
        matches = match_people(poses.boxes, poses.scores, sample.boxes, self.iou_threshold)
        self._scores.append(poses.scores.astype(np.float64))
        self._is_tp.append(matches >= 0)
        self.num_matched += int((matches >= 0).sum())

        # 3D: each GT person gets its matched prediction's pose (zeros when missed).
        n, k = len(sample), self.skeleton.num_joints
        found = matches >= 0
        matched = np.zeros(n, dtype=bool)
        matched[matches[found]] = True
        pred_rel = np.zeros((n, k, 3), dtype=np.float64)
        pred_rel[matches[found]] = poses.kp3d_rel[found]
        errors = joint_errors(pred_rel, gt_kp3d, sample.kp3d_valid, self.skeleton)  # (N, K) mm
        valid = ~np.isnan(errors)  # labelled, on a person with a scale
        measured = valid & matched[:, None]
        correct = measured & (np.round(errors, ERROR_DECIMALS_MM) < self.pck_threshold_mm)
        errors = np.nan_to_num(errors)

        self._all.add(errors, valid, correct, measured)
        self._joint_correct += correct.sum(axis=0)
        self._joint_total += valid.sum(axis=0)

        depth = sample.kp3d[:, self.skeleton.root, 2]  # (N,) metres
        bins = np.searchsorted(self.distance_edges_m, depth, side="right")  # (N,)
        has_3d = valid.any(axis=1)
        for b, counts in enumerate(self._bins):
            people = (bins == b) & has_3d
            counts.add(errors[people], valid[people], correct[people], measured[people])

        row = self._sequences.setdefault(self.group_of(sample.sequence), _Counts())
        row.add(errors, valid, correct, measured)
        row.images += 1

    def result(self) -> EvaluationResult:
        scores = np.concatenate(self._scores) if self._scores else np.zeros(0)
        is_tp = np.concatenate(self._is_tp) if self._is_tp else np.zeros(0, dtype=bool)
        labels = distance_labels(self.distance_edges_m)
        by_sequence = {
            name: {
                "mpjpe_mm": c.mpjpe,
                "pck3d": c.pck,
                "people": c.people,
                "images": c.images,
            }
            for name, c in self._sequences.items()
        }
        if by_sequence:
            by_sequence["mean"] = {
                "mpjpe_mm": _nanmean([r["mpjpe_mm"] for r in by_sequence.values()]),
                "pck3d": _nanmean([r["pck3d"] for r in by_sequence.values()]),
            }
        pck_by_group = {
            name: _percent(
                self._joint_correct[list(joints)].sum(), self._joint_total[list(joints)].sum()
            )
            for name, joints in self._groups
        }
        return EvaluationResult(
            skeleton=self.skeleton.name,
            num_images=self.num_images,
            num_people=self.num_people,
            num_detections=len(scores),
            num_matched=self.num_matched,
            ap=100.0 * average_precision(scores, is_tp, self.num_people),
            pck3d=self._all.pck,
            mpjpe_mm=self._all.mpjpe,
            pck_threshold_mm=self.pck_threshold_mm,
            iou_threshold=self.iou_threshold,
            pck_by_distance={
                **{label: c.pck for label, c in zip(labels, self._bins, strict=True)},
                "all": self._all.pck,
            },
            people_by_distance={
                **{label: c.people for label, c in zip(labels, self._bins, strict=True)},
                "all": sum(c.people for c in self._bins),
            },
            pck_by_group={**pck_by_group, "all": self._all.pck},
            by_sequence=by_sequence,
        )


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan
