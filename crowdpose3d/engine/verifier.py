"""`DetectionVerifier`: a small learned second stage that re-scores PandaNet's detections.

The shipped network fires on real street furniture, windows and walls (docs/models.md,
"Real imagery against false alarms"). Retraining it on a CPU is slow; this verifier is
cheap: after decode + NMS, for every detection of an image, it reads a few numbers that
every backend's output gives (`Poses` after `Predictor` decoding: the score, the box, the
2D joints) plus one image cue, and a tiny numpy network (logistic regression or one hidden
layer) turns them into the probability that the box holds a person.

Features per detection (`FEATURE_NAMES`, `verifier_features`), in the image's own pixels:

- the network's score as a logit, the box height over the image height (log), its aspect
  (log width / height), whether it touches the left/right or top/bottom image border;
- the linear score of OpenCV's HOG people detector (Dalal & Triggs' INRIA SVM, shipped
  inside OpenCV: `cv2.HOGDescriptor_getDefaultPeopleDetector`) on the box's crop resized to
  its 64x128 window (`HOG_WINDOW`, the person filling `HOG_PERSON_FRACTION` of its height):
  the one cue learnt from real photographs of people;
- its overlap with the image's other detections: the largest IoU with a higher-scoring one,
  and how many overlap it at all (fragments of one person, boxes on a facade's windows);
- the 2D joints relative to the box (centre and height; K x 2 values) and the joints' extent
  over the box's width and height (a skeleton drawn on a lamp post is thin and short);
- where the HOG score comes from (round 4): the SVM's score is a sum over its 7 x 15
  blocks, and the parts of that sum over the window's top third (head and shoulders), its
  middle third (torso and hips) and the absolute difference between its left and right
  three block columns (people are nearly symmetric, a pole beside a wall or a sign's edge
  is not). Free given the descriptor; weights trained before them (`BASE_FEATURES`
  inputs) read only the features before them.

The re-scored score replaces the network's (`Poses.scores`); the network's own is kept in
``Poses.data["network_score"]``, and detections whose new score is below the predictor's
threshold are dropped. The verifier sees every detection the network scores at least
`VERIFIER_INPUT_SCORE` (the predictor decodes down to it), so what it is given does not
depend on the threshold asked for.

The cascade (optional, in the weights file): HOG is most of the cost (about 0.2-0.3 ms per
crop) and most detections are clear cases. A linear "cheap" score (``cascade.weight`` /
``cascade.bias``: a least-squares fit of the full verifier's logit on every feature but
HOG) is computed first; a detection whose cheap logit lies more than ``cascade.margin``
below the call's threshold is dropped, one more than the margin above
``cascade.accept_logit`` keeps the cheap score (a sure person), and only the others get
their HOG crop and the full verifier. The margin is chosen on the training data's
validation split (`crowdpose3d.engine.verifier_training.fit_cascade`); weights without
the cascade, or ``cascade=False``, score every detection in full.

Round 5: weights may also carry a calibration (``calibration.logit_in`` / ``logit_out``,
`CALIBRATION_KEYS`): a monotone piecewise-linear map of the logit, fitted so that at the
held-out evaluation's 0.3 too the verifier keeps as many validation positives as the
network's score did (the AP a verifier lost was those positives; docs/models.md, "The
verifier in round 5"); an optional ``offset.score_logit`` (a residual verifier, the
network's logit added to the output); and feature 58, the score of OpenCV's Daimler
pedestrian SVM (48x96 window), computed only for weights that read it.

Weights: an ``.npz`` written by `crowdpose3d.engine.verifier_training`
(``scripts/train_verifier.py``); the shipped one is `BUILTIN_VERIFIER`. docs/models.md,
"A detection verifier", has how it was trained and what it changes.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from crowdpose3d.poses import Poses

__all__ = [
    "BASE_FEATURES",
    "BUILTIN_VERIFIER",
    "CALIBRATION_KEYS",
    "CASCADE_KEYS",
    "FEATURE_NAMES",
    "OFFSET_KEY",
    "VERIFIER_CHOICES",
    "VERIFIER_INPUT_SCORE",
    "DetectionVerifier",
    "daimler_people_scores",
    "hog_block_scores",
    "hog_features",
    "hog_people_scores",
    "load_verifier",
    "pairwise_iou",
    "piecewise_linear",
    "verifier_features",
]

BUILTIN_VERIFIER = Path(__file__).resolve().parent.parent / "weights" / "detection-verifier.npz"
# What the ``verifier`` option of the pandanet stage, `Predictor` and the CLI take besides a
# path: the shipped weights or no verifier.
VERIFIER_CHOICES = ("builtin", "none")
# The verifier re-scores the detections the network scores at least this high (the
# pandanet stage's default threshold, what it is trained on): with a verifier the
# `Predictor` decodes down to it, whatever its own threshold, which then applies to the
# verifier's score.
VERIFIER_INPUT_SCORE = 0.1
# OpenCV's default people detector reads a 64 x 128 (width x height) window...
HOG_WINDOW = (64, 128)
# ... in which the INRIA training people stand about 96 pixels tall: a box is widened to the
# window's aspect and grown so the person fills this fraction of the window's height.
HOG_PERSON_FRACTION = 96 / 128
# Joints of the skeleton (JTA-22, the shipped model's); the features depend on it.
NUM_JOINTS = 22
# The network's score enters as a logit, clipped to this magnitude (scores of 0 or 1).
MAX_LOGIT = 10.0
# A box is "at the border" when it comes within this many pixels of an image edge.
BORDER_PX = 2.0
# Any overlap above this IoU counts as a neighbouring detection.
NEIGHBOUR_IOU = 0.1
_EPS = 1e-6
# A residual verifier (round 5) adds this weight times the network's own logit (feature 0,
# not standardised) to its output: it learns a correction to the network's score.
OFFSET_KEY = "offset.score_logit"
# A calibrated verifier (round 5) maps its logit through a monotone piecewise-linear
# function with these knots (raw logit -> output logit; slope 1 beyond the end knots).
CALIBRATION_KEYS = ("calibration.logit_in", "calibration.logit_out")
# The weights of the optional cascade (`DetectionVerifier`, module docstring).
CASCADE_KEYS = ("cascade.weight", "cascade.bias", "cascade.margin", "cascade.accept_logit")

FEATURE_NAMES = (
    "score_logit",
    "log_height_over_image",
    "log_aspect",
    "touches_left_right",
    "touches_top_bottom",
    "hog_people_score",
    "max_iou_with_better",
    "log1p_neighbours",
    *(f"joint{j}_{axis}" for j in range(NUM_JOINTS) for axis in ("x", "y")),
    "joints_width_over_box",
    "joints_height_over_box",
    "hog_top_score",
    "hog_middle_score",
    "hog_left_right_difference",
    "hog_daimler_score",
)
# Round 3's weights read the first 54 features (up to joints_height_over_box) ...
BASE_FEATURES = FEATURE_NAMES.index("hog_top_score")
# ... round 4's the first 57 (without the Daimler pedestrian SVM's score, round 5).
ROUND4_FEATURES = FEATURE_NAMES.index("hog_daimler_score")
# OpenCV's second people SVM (`cv2.HOGDescriptor_getDaimlerPeopleDetector`, trained on the
# Daimler pedestrian benchmark's real street images) reads a 48 x 96 window.
DAIMLER_WINDOW = (48, 96)
# The columns that need the HOG descriptor: the ones the cascade defers.
HOG_FEATURES = np.array(
    [FEATURE_NAMES.index(name) for name in FEATURE_NAMES if name.startswith("hog_")]
)
# OpenCV's 64x128 window has 7 x 15 blocks of 16 x 16 pixels at a stride of 8; the
# descriptor lists them column by column (x outer, y inner), 36 values each.
HOG_BLOCKS = (7, 15)
HOG_BLOCK_VALUES = 36


def _hog() -> tuple[cv2.HOGDescriptor, np.ndarray, float]:
    """OpenCV's default HOG descriptor, its SVM weights (3780,) and bias."""
    hog = cv2.HOGDescriptor()  # 64x128 window, 8x8 cells, 16x16 blocks, 9 bins
    detector = np.asarray(cv2.HOGDescriptor_getDefaultPeopleDetector(), np.float32).ravel()
    return hog, detector[:-1], float(detector[-1])


def _daimler() -> tuple[cv2.HOGDescriptor, np.ndarray, float]:
    """OpenCV's Daimler HOG descriptor (48x96 window), its SVM weights (1980,) and bias."""
    hog = cv2.HOGDescriptor(DAIMLER_WINDOW, (16, 16), (8, 8), (8, 8), 9)
    detector = np.asarray(cv2.HOGDescriptor_getDaimlerPeopleDetector(), np.float32).ravel()
    return hog, detector[:-1], float(detector[-1])


def _window_crop(image: np.ndarray, box: np.ndarray, window: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) image, xyxy box -> the (window h, window w, 3) crop with the box's person
    filling `HOG_PERSON_FRACTION` of its height (pixels outside repeat the border)."""
    x1, y1, x2, y2 = box
    win_w, win_h = window
    height = max(y2 - y1, 1.0) / HOG_PERSON_FRACTION  # window height in image pixels
    width = height * win_w / win_h
    centre = ((x1 + x2) / 2, (y1 + y2) / 2)
    # Affine map from the window to the image: scale and translate.
    scale = height / win_h
    matrix = np.array(
        [[scale, 0, centre[0] - width / 2], [0, scale, centre[1] - height / 2]], np.float64
    )
    return cv2.warpAffine(
        image,
        matrix,
        window,
        flags=cv2.WARP_INVERSE_MAP | (cv2.INTER_AREA if scale > 1 else cv2.INTER_LINEAR),
        borderMode=cv2.BORDER_REPLICATE,
    )


def daimler_people_scores(image: np.ndarray, boxes: np.ndarray, daimler=None) -> np.ndarray:
    """(H, W, 3) uint8 image, (N, 4) xyxy boxes -> (N,) linear scores of OpenCV's Daimler
    pedestrian SVM on each box's `DAIMLER_WINDOW` crop."""
    hog, weights, bias = daimler or _daimler()
    scores = np.zeros(len(boxes))
    for i, box in enumerate(np.asarray(boxes, dtype=np.float64)):
        crop = _window_crop(image, box, DAIMLER_WINDOW)  # (96, 48, 3)
        scores[i] = float(hog.compute(crop).ravel() @ weights) + bias
    return scores


def hog_people_scores(image: np.ndarray, boxes: np.ndarray, hog=None) -> np.ndarray:
    """(H, W, 3) uint8 image, (N, 4) xyxy boxes -> (N,) linear scores of OpenCV's people
    SVM on each box's `HOG_WINDOW` crop (pixels outside the image repeat its border)."""
    hog = hog or _hog()
    return hog_block_scores(image, boxes, hog).sum(axis=(1, 2)) + hog[2]


def hog_block_scores(image: np.ndarray, boxes: np.ndarray, hog=None) -> np.ndarray:
    """(H, W, 3) uint8 image, (N, 4) xyxy boxes -> (N, 7, 15) float32: each `HOG_BLOCKS`
    block's share of the people SVM's score (block columns x rows; the score is their sum
    plus the SVM's bias)."""
    hog, weights, bias = hog or _hog()
    columns, rows = HOG_BLOCKS
    per_block = weights.reshape(columns, rows, HOG_BLOCK_VALUES)
    scores = np.zeros((len(boxes), columns, rows), dtype=np.float32)
    for i, box in enumerate(np.asarray(boxes, dtype=np.float64)):
        crop = _window_crop(image, box, HOG_WINDOW)  # (128, 64, 3)
        descriptor = hog.compute(crop).reshape(columns, rows, HOG_BLOCK_VALUES)
        scores[i] = (descriptor * per_block).sum(axis=2)
    return scores


def hog_features(image: np.ndarray, boxes: np.ndarray, hog=None, daimler=None) -> np.ndarray:
    """(N, 4) boxes -> (N, 5) the `HOG_FEATURES` columns: the people SVM's score, its top
    and middle thirds' shares and |left - right| (see the module docstring), and the
    Daimler SVM's score when ``daimler`` (its descriptor, `_daimler`, or True) is given
    (else 0)."""
    hog = hog or _hog()
    if daimler is True:
        daimler = _daimler()
    blocks = hog_block_scores(image, boxes, hog).astype(np.float64)  # (N, 7, 15)
    third = HOG_BLOCKS[1] // 3
    side = HOG_BLOCKS[0] // 2  # 3 block columns each side of the middle one
    return np.stack(
        (
            blocks.sum(axis=(1, 2)) + hog[2],
            blocks[:, :, :third].sum(axis=(1, 2)),
            blocks[:, :, third : 2 * third].sum(axis=(1, 2)),
            np.abs(blocks[:, :side].sum(axis=(1, 2)) - blocks[:, -side:].sum(axis=(1, 2))),
            daimler_people_scores(image, boxes, daimler) if daimler else np.zeros(len(boxes)),
        ),
        axis=1,
    )


def _hog_columns(image, boxes, hog, rows, daimler) -> np.ndarray:
    """(N, 5) `hog_features` of ``boxes`` where ``rows`` (N,) bool (None: all), else 0."""
    if rows is None:
        return hog_features(image, boxes, hog, daimler)
    columns = np.zeros((len(boxes), len(HOG_FEATURES)))
    if rows.any():
        columns[rows] = hog_features(image, boxes[rows], hog, daimler)
    return columns


def pairwise_iou(boxes: np.ndarray, others: np.ndarray | None = None) -> np.ndarray:
    """(N, 4) and (M, 4) xyxy boxes (``others`` None: ``boxes`` again) -> (N, M) IoU."""
    others = boxes if others is None else others

    def area(b: np.ndarray) -> np.ndarray:
        return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)

    x1 = np.maximum(boxes[:, None, 0], others[None, :, 0])
    y1 = np.maximum(boxes[:, None, 1], others[None, :, 1])
    x2 = np.minimum(boxes[:, None, 2], others[None, :, 2])
    y2 = np.minimum(boxes[:, None, 3], others[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)  # (N, M)
    return inter / (area(boxes)[:, None] + area(others)[None, :] - inter + _EPS)


def verifier_features(
    image: np.ndarray,
    poses: Poses,
    hog=None,
    hog_rows: np.ndarray | None = None,
    daimler=True,
) -> np.ndarray:
    """(H, W, 3) uint8 image and its `Poses` (original pixels) -> (N, F) float32 features
    (`FEATURE_NAMES`). ``hog_rows`` (N,) bool: compute the HOG score only for these
    detections (the others' HOG columns, `HOG_FEATURES`, are left 0; None: all).
    ``daimler``: True or `_daimler`'s descriptor; falsy: its column is left 0 (weights
    that do not read it need not pay for it)."""
    n = len(poses)
    if n == 0:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    if poses.num_joints != NUM_JOINTS:
        raise ValueError(
            f"the detection verifier reads {NUM_JOINTS} joints, the model gives "
            f"{poses.num_joints}: use --verifier none"
        )
    image_h, image_w = image.shape[:2]
    boxes = poses.boxes.astype(np.float64)  # (N, 4)
    width = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    height = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    scores = np.clip(poses.scores.astype(np.float64), _EPS, 1 - _EPS)
    logit = np.clip(np.log(scores / (1 - scores)), -MAX_LOGIT, MAX_LOGIT)
    left_right = (boxes[:, 0] <= BORDER_PX) | (boxes[:, 2] >= image_w - BORDER_PX)
    top_bottom = (boxes[:, 1] <= BORDER_PX) | (boxes[:, 3] >= image_h - BORDER_PX)
    iou = pairwise_iou(boxes)  # (N, N)
    np.fill_diagonal(iou, 0.0)
    better = scores[None, :] > scores[:, None]  # [i, j]: j scores higher than i
    max_iou_better = np.where(better, iou, 0.0).max(axis=1)
    neighbours = (iou > NEIGHBOUR_IOU).sum(axis=1)
    centre = np.stack(((boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2), -1)
    joints = (poses.kp2d.astype(np.float64) - centre[:, None]) / height[:, None, None]  # (N,K,2)
    extent = poses.kp2d.max(axis=1) - poses.kp2d.min(axis=1)  # (N, 2)
    columns = [
        logit,
        np.log(height / image_h),
        np.log(width / height),
        left_right,
        top_bottom,
        np.zeros(n),  # hog_people_score, filled below
        max_iou_better,
        np.log1p(neighbours),
    ]
    features = np.concatenate(
        (
            np.stack(columns, axis=1),
            joints.reshape(n, -1),
            extent[:, :1] / width[:, None],
            extent[:, 1:] / height[:, None],
            np.zeros((n, len(FEATURE_NAMES) - BASE_FEATURES)),  # the HOG parts, filled below
        ),
        axis=1,
    )
    features[:, HOG_FEATURES] = _hog_columns(image, boxes, hog, hog_rows, daimler)
    return features.astype(np.float32)


class DetectionVerifier:
    """A loaded verifier: ``verifier(image, poses)`` -> the poses re-scored and filtered.

    Args:
        weights: name -> array as `crowdpose3d.engine.verifier_training.save_verifier`
            writes them: ``mean`` / ``std`` (F,) feature standardisation, ``hidden.weight``
            (H, F) and ``hidden.bias`` (H,) (absent for logistic regression), ``output.weight``
            (1, H or F), ``output.bias`` (1,); optionally the cascade (module docstring):
            ``cascade.weight`` (F,), ``cascade.bias``, ``cascade.margin``,
            ``cascade.accept_logit`` (1,) each; optionally ``offset.score_logit`` (1,), a
            residual verifier's weight on the network's own logit (`OFFSET_KEY`);
            optionally ``calibration.logit_in`` / ``calibration.logit_out`` (K,) increasing
            knots of a monotone map applied to the logit (`CALIBRATION_KEYS`).
        name: where the weights came from (for messages and reports).
        cascade: use the weights' cascade when they have one (False: HOG for every crop).

    ``counts`` adds up, over the calls, the detections scored and the HOG crops computed.
    """

    def __init__(
        self, weights: dict[str, np.ndarray], name: str = "verifier", cascade: bool = True
    ) -> None:
        self.name = name
        self.weights = {k: np.asarray(v) for k, v in weights.items()}
        needed = ("mean", "std", "output.weight", "output.bias")
        missing = [key for key in needed if key not in self.weights]
        if missing:
            raise ValueError(f"{name} is not a detection verifier (no {', '.join(missing)})")
        inputs = self.weights["mean"].shape[0]
        if inputs not in (BASE_FEATURES, ROUND4_FEATURES, len(FEATURE_NAMES)):
            raise ValueError(
                f"{name} reads {inputs} features, this version computes {len(FEATURE_NAMES)}: "
                "retrain it with scripts/train_verifier.py"
            )
        self.inputs = inputs  # weights of round 3 / 4 read the first 54 / 57 features
        self.cascade = cascade and CASCADE_KEYS[0] in self.weights
        self.counts = {"detections": 0, "hog_crops": 0}
        self._hog = _hog()
        # The Daimler SVM's crop only for weights that read its score.
        self._daimler = _daimler() if inputs > ROUND4_FEATURES else None

    @classmethod
    def load(cls, path: str | Path = BUILTIN_VERIFIER, cascade: bool = True) -> DetectionVerifier:
        """The verifier in an ``.npz`` file (ValueError with one line if unreadable)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                weights = {key: data[key] for key in data.files}
        except (OSError, ValueError, EOFError):
            raise ValueError(
                f"cannot read the detection verifier {path}: not an .npz weights file; use "
                "builtin, none or a file scripts/train_verifier.py wrote"
            ) from None
        return cls(weights, name=str(path), cascade=cascade)

    def _standardised(self, features: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N, inputs) float64, standardised as in training."""
        x = features[:, : self.inputs].astype(np.float64)
        return (x - self.weights["mean"]) / self.weights["std"]

    def logit(self, features: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N,) the full verifier's logit (a residual verifier's
        ``offset.score_logit`` adds that multiple of the network's own logit, feature 0)."""
        w = self.weights
        x = self._standardised(features)
        if "hidden.weight" in w:
            x = np.maximum(x @ w["hidden.weight"].T + w["hidden.bias"], 0.0)
        logit = x @ w["output.weight"].T.reshape(-1) + float(w["output.bias"].reshape(-1)[0])
        if OFFSET_KEY in w:
            logit = logit + float(w[OFFSET_KEY].reshape(-1)[0]) * features[:, 0]
        return logit

    def calibrated(self, logit: np.ndarray) -> np.ndarray:
        """(N,) raw logits -> (N,) the logits the scores are made of (the calibration, if
        the weights have one: a monotone map, so the ranking does not change)."""
        if CALIBRATION_KEYS[0] not in self.weights:
            return logit
        return piecewise_linear(logit, *(self.weights[key].reshape(-1) for key in CALIBRATION_KEYS))

    def raw_limit(self, threshold: float) -> float:
        """The raw logit at which the score reaches ``threshold`` (0 < threshold < 1)."""
        limit = float(np.log(threshold / (1 - threshold)))
        if CALIBRATION_KEYS[0] not in self.weights:
            return limit
        knots_in, knots_out = (self.weights[key].reshape(-1) for key in CALIBRATION_KEYS)
        return float(piecewise_linear(np.array([limit]), knots_out, knots_in)[0])  # the inverse

    def probability(self, features: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N,) probability of a person (the full verifier)."""
        return _sigmoid(self.calibrated(self.logit(features)))

    def cheap_logit(self, features: np.ndarray) -> np.ndarray:
        """(N, F) features (HOG column unread) -> (N,) the cascade's cheap logit."""
        w = self.weights
        x = self._standardised(features)
        return x @ w["cascade.weight"].reshape(-1) + float(w["cascade.bias"].reshape(-1)[0])

    def cascade_decisions(self, cheap: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
        """(N,) cheap logits -> (reject, accept) (N,) bool: the detections the cascade
        decides without HOG at this drop ``threshold``."""
        margin = float(self.weights["cascade.margin"].reshape(-1)[0])
        accept = cheap > float(self.weights["cascade.accept_logit"].reshape(-1)[0]) + margin
        if threshold <= 0:  # nothing is dropped: no early rejects
            return np.zeros_like(accept), accept
        limit = self.raw_limit(threshold) if threshold < 1 else np.inf
        return cheap < limit - margin, accept

    def __call__(self, image: np.ndarray, poses: Poses, threshold: float = 0.0) -> Poses:
        """The detections of ``image`` with the verifier's probability as their score and
        the network's in ``data["network_score"]``; those below ``threshold`` dropped."""
        if self.cascade and len(poses):
            nothing = np.zeros(len(poses), bool)  # no HOG crop yet
            features = verifier_features(image, poses, self._hog, nothing, self._daimler)
            cheap = self.cheap_logit(features)
            reject, accept = self.cascade_decisions(cheap, threshold)
            full = ~(reject | accept)
            probability = _sigmoid(self.calibrated(cheap))  # (N,) cheap, where it decided
            probability[reject] = 0.0  # below the threshold: dropped
            if full.any():
                boxes = poses.boxes[full].astype(np.float64)
                hog = hog_features(image, boxes, self._hog, self._daimler)  # (M, 5)
                features[np.ix_(full, HOG_FEATURES)] = hog
                probability[full] = self.probability(features[full])
            hog_crops = int(full.sum())
        else:
            features = verifier_features(image, poses, self._hog, None, self._daimler)
            probability = self.probability(features)
            hog_crops = len(poses)
        self.counts["detections"] += len(poses)
        self.counts["hog_crops"] += hog_crops
        probability = probability.astype(np.float32)
        rescored = Poses(
            boxes=poses.boxes,
            scores=probability,
            kp2d=poses.kp2d,
            kp3d_rel=poses.kp3d_rel,
            kp3d=poses.kp3d,
            root=poses.root,
            track_id=poses.track_id,
            data={**poses.data, "network_score": poses.scores},
        )
        return rescored[probability >= threshold]


def piecewise_linear(x: np.ndarray, knots_in: np.ndarray, knots_out: np.ndarray) -> np.ndarray:
    """(N,) values through the increasing piecewise-linear map ``knots_in`` -> ``knots_out``
    (K,), continued with slope 1 beyond the first and the last knot."""
    inside = np.interp(x, knots_in, knots_out)
    below = knots_out[0] + (x - knots_in[0])
    above = knots_out[-1] + (x - knots_in[-1])
    return np.where(x < knots_in[0], below, np.where(x > knots_in[-1], above, inside))


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))


def load_verifier(spec: str | Path | None) -> DetectionVerifier | None:
    """``"builtin"``, ``"none"`` / None or a path -> a verifier or None (ValueError, one
    line, for a missing or broken file)."""
    if spec is None or str(spec) == "none":
        return None
    path = BUILTIN_VERIFIER if str(spec) == "builtin" else Path(str(spec)).expanduser()
    if not path.is_file():
        hint = "" if str(spec) == "builtin" else "; use builtin, none or an .npz file"
        raise ValueError(f"detection verifier not found: {path}{hint}")
    return DetectionVerifier.load(path)
