"""Train the detection verifier (`crowdpose3d.engine.verifier`) from the shipped model's own
detections on TRAINING images; `scripts/train_verifier.py` is the command.

Data (`collect`): the predictor (verifier off, threshold `COLLECT_THRESHOLD`, the pandanet
stage's) runs on

- labelled frames (a JTA-format root: ``crowdpose3d synth`` output, solids or real-photo
  composites): detections matched one-to-one, best score first, to a labelled person with
  IoU >= `POSITIVE_IOU` are positives; the others are negatives when they overlap no person
  by `IGNORE_IOU` or more (or overlap one that an earlier detection took: duplicates are
  false alarms too) and are left out otherwise (a loose box on a real person);
- real photographs with nobody in them (the ``train`` split of `crowdpose3d.data.photos`,
  whole and as the tiles `photo_views` makes): every detection is a negative.

Each image belongs to a group (its sequence, or its photograph); one group in
`VALIDATION_EVERY` is the validation split, which chooses the model (`fit_verifier`) and its
operating point, and nothing else.

Fitting (`fit_verifier`): features standardised; logistic regression or one hidden ReLU
layer, trained full-batch with Adam on class-balanced binary cross-entropy plus L2. The
operating point: the output bias is shifted so that, on the validation split, the
verifier's score >= `OPERATING_SCORE` keeps as many positives as the network's score >=
`OPERATING_SCORE` did (no recall lost on validation), and among the candidates the one that
keeps the fewest validation negatives there wins. With ``max_ap_drop`` (round 5) only
candidates whose ranking of each labelled source's validation detections (`ranking_ap` at
`AP_SCORE`, the held-out evaluation's threshold) is at most that many points below the
network's own score's, on every source, may win (if none: the one whose worst source
drops least): fewer false alarms on real photographs must not be bought with the
labelled frames' AP.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from crowdpose3d.engine.verifier import (
    CALIBRATION_KEYS,
    FEATURE_NAMES,
    HOG_FEATURES,
    OFFSET_KEY,
    VERIFIER_INPUT_SCORE,
    DetectionVerifier,
    pairwise_iou,
    piecewise_linear,
    verifier_features,
)
from crowdpose3d.poses import Poses

__all__ = [
    "COLLECT_THRESHOLD",
    "VerifierData",
    "collect",
    "fit_cascade",
    "fit_verifier",
    "label_detections",
    "photo_views",
    "ranking_ap",
    "save_verifier",
]

COLLECT_THRESHOLD = VERIFIER_INPUT_SCORE  # what the verifier sees in the Predictor
POSITIVE_IOU = 0.5  # a detection matched to a person at this IoU is a positive (AP's rule)
IGNORE_IOU = 0.3  # unmatched detections overlapping a person this much are left out
VALIDATION_EVERY = 5  # one group (sequence / photograph) in five is the validation split
OPERATING_SCORE = 0.5  # the score threshold the targets use
AP_SCORE = 0.3  # the held-out evaluation's score threshold (`crowdpose3d eval` in the docs)
TILE_ZOOM = 2  # photographs are also seen as tiles of the photo zoomed to 2x the input
EPOCHS = 1500  # full-batch Adam steps
LEARNING_RATE = 0.01
# The cascade: a cheap logit above logit(CASCADE_ACCEPT_SCORE) + margin is a sure person...
CASCADE_ACCEPT_SCORE = 0.9
# ... the margins tried, in logits (smallest first) ...
CASCADE_MARGINS = tuple(np.arange(0.0, 6.01, 0.25))
# ... the score thresholds whose keep / drop decisions the cascade must preserve (the verify
# stage's 0.1, the benchmarks' 0.3 / 0.5 / 0.7, the tracker's 0.6 / 0.7 and 0.9) ...
DECISION_SCORES = (VERIFIER_INPUT_SCORE, 0.3, 0.5, 0.6, 0.7, 0.9)
# ... for all but at most this fraction of the validation detections.
CASCADE_MAX_CHANGED = 0.001


def photo_views(
    photo: np.ndarray, input_hw: tuple[int, int], zoom: int = TILE_ZOOM
) -> dict[str, list[np.ndarray]]:
    """{"whole": [photo], "tiles": zoom**2 (H_in, W_in, 3) crops of the photo zoomed to
    cover zoom x the model input} (`benchmarks/empty_photos.py` scores the same at
    `TILE_ZOOM`; training may add closer views, e.g. zoom 3, as more negatives)."""
    height, width = input_hw
    ph, pw = photo.shape[:2]
    scale = max(zoom * width / pw, zoom * height / ph)
    zoomed = cv2.resize(photo, (max(round(pw * scale), zoom * width),
                                max(round(ph * scale), zoom * height)),
                        interpolation=cv2.INTER_AREA)  # fmt: skip
    tiles = [
        np.ascontiguousarray(zoomed[r * height : (r + 1) * height, c * width : (c + 1) * width])
        for r in range(zoom)
        for c in range(zoom)
    ]
    return {"whole": [photo], "tiles": tiles}


def label_detections(poses: Poses, people: np.ndarray) -> np.ndarray:
    """(N,) int8 labels of one image's detections against its people's (M, 4) boxes:
    1 positive, 0 negative, -1 left out (see the module docstring)."""
    labels = np.zeros(len(poses), dtype=np.int8)
    if len(poses) == 0 or len(people) == 0:
        return labels
    iou = pairwise_iou(poses.boxes.astype(float), np.asarray(people, float))  # (N, M)
    taken = np.zeros(len(people), dtype=bool)
    for i in np.argsort(-poses.scores, kind="stable"):
        free = np.where(~taken & (iou[i] >= POSITIVE_IOU))[0]
        if len(free):
            taken[free[np.argmax(iou[i, free])]] = True
            labels[i] = 1
        elif iou[i].max() >= POSITIVE_IOU:
            labels[i] = 0  # a second box on a person already found
        elif iou[i].max() >= IGNORE_IOU:
            labels[i] = -1
    return labels


@dataclass
class VerifierData:
    """Detections for training: features (N, F), labels (N,) 0/1, network scores (N,),
    validation flags (N,) bool and the source name of each (N,)."""

    features: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    validation: np.ndarray
    source: np.ndarray

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, **self.__dict__)

    @classmethod
    def load(cls, path: str | Path) -> VerifierData:
        with np.load(path, allow_pickle=False) as data:
            return cls(**{key: data[key] for key in data.files})

    def subset(self, mask: np.ndarray) -> VerifierData:
        """The detections where ``mask`` (N,) is True."""
        return VerifierData(**{key: value[mask] for key, value in self.__dict__.items()})

    @classmethod
    def concatenate(cls, parts: Sequence[VerifierData]) -> VerifierData:
        names = ("features", "labels", "scores", "validation", "source")
        return cls(*(np.concatenate([getattr(p, n) for p in parts]) for n in names))


def _is_validation(group: str) -> bool:
    return int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) % VALIDATION_EVERY == 0


def collect(
    predictor,
    images: Iterable[tuple[np.ndarray, np.ndarray | None, str]],
    source: str,
    log: Callable[[str], None] = print,
) -> VerifierData:
    """Run ``predictor`` (no verifier) on ``(image, people boxes or None, group)`` triples;
    None: a photograph with nobody in it. -> the labelled detections."""
    rows, labels, scores, validation = [], [], [], []
    start, count = time.perf_counter(), 0
    for image, people, group in images:
        poses = predictor([image])[0]
        label = label_detections(poses, people) if people is not None else np.zeros(len(poses))
        keep = label >= 0
        rows.append(verifier_features(image, poses)[keep])
        labels.append(label[keep].astype(np.int8))
        scores.append(poses.scores[keep])
        validation.append(np.full(int(keep.sum()), _is_validation(group)))
        count += 1
        if count % 50 == 0:
            log(f"  {source}: {count} images, {time.perf_counter() - start:.0f} s")
    n = sum(len(x) for x in labels)
    return VerifierData(
        features=np.concatenate(rows) if rows else np.zeros((0, len(FEATURE_NAMES)), np.float32),
        labels=np.concatenate(labels) if labels else np.zeros(0, np.int8),
        scores=np.concatenate(scores) if scores else np.zeros(0, np.float32),
        validation=np.concatenate(validation) if validation else np.zeros(0, bool),
        source=np.full(n, source),
    )


def _train(
    x: np.ndarray,
    y: np.ndarray,
    hidden: int,
    l2: float,
    seed: int,
    photo: np.ndarray | None = None,
    offset: np.ndarray | None = None,
) -> dict:
    """Full-batch Adam on class-balanced BCE + L2 -> weights (standardised inputs).
    ``photo`` (N,) bool: negatives from empty photographs; given, they and the labelled
    frames' negatives each carry half of the negatives' weight. ``offset`` (N,): a fixed
    logit added to the model's (a residual verifier: the network's own logit)."""
    offset = np.zeros(len(y)) if offset is None else offset
    rng = np.random.default_rng(seed)
    f = x.shape[1]
    params = {}
    if hidden:
        params["hidden.weight"] = rng.normal(0, np.sqrt(2 / f), (hidden, f))
        params["hidden.bias"] = np.zeros(hidden)
    params["output.weight"] = rng.normal(0, 0.01, (1, hidden or f))
    params["output.bias"] = np.zeros(1)
    positive = y.mean()
    weight = np.where(y == 1, 0.5 / positive, 0.5 / (1 - positive)) / len(y)  # (N,) sums to 1
    if photo is not None and (photo & (y == 0)).any() and (~photo & (y == 0)).any():
        for group in (photo, ~photo):
            negatives = group & (y == 0)
            weight[negatives] = 0.25 / negatives.sum()
    moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
    for step in range(1, EPOCHS + 1):
        h = np.maximum(x @ params["hidden.weight"].T + params["hidden.bias"], 0) if hidden else x
        logit = h @ params["output.weight"][0] + params["output.bias"][0] + offset  # (N,)
        p = 1 / (1 + np.exp(-np.clip(logit, -50, 50)))
        d_logit = weight * (p - y)  # (N,)
        grads = {
            "output.weight": (d_logit @ h)[None] + l2 * params["output.weight"],
            "output.bias": np.array([d_logit.sum()]),
        }
        if hidden:
            d_h = np.outer(d_logit, params["output.weight"][0]) * (h > 0)  # (N, H)
            grads["hidden.weight"] = d_h.T @ x + l2 * params["hidden.weight"]
            grads["hidden.bias"] = d_h.sum(0)
        for key, grad in grads.items():
            m, v = moments[key]
            m[...] = 0.9 * m + 0.1 * grad
            v[...] = 0.999 * v + 0.001 * grad**2
            m_hat, v_hat = m / (1 - 0.9**step), v / (1 - 0.999**step)
            params[key] = params[key] - LEARNING_RATE * m_hat / (np.sqrt(v_hat) + 1e-8)
    return params


def _logits(params: dict, x: np.ndarray, offset: np.ndarray) -> np.ndarray:
    h = np.maximum(x @ params["hidden.weight"].T + params["hidden.bias"], 0) if (
        "hidden.weight" in params
    ) else x  # fmt: skip
    return h @ params["output.weight"][0] + params["output.bias"][0] + offset


def ranking_ap(scores: np.ndarray, labels: np.ndarray, threshold: float = AP_SCORE) -> float:
    """Average precision (0-100) of detections ranked by ``scores`` (N,) with ``labels``
    (N,) 1/0: the positives among all N are the people to find, those scored below
    ``threshold`` are dropped (missed). Like the evaluator's AP, but over the detections
    only (people no detection reached do not count)."""
    positives = int((labels == 1).sum())
    if positives == 0:
        return 0.0
    keep = scores >= threshold
    hits = labels[keep][np.argsort(-scores[keep], kind="stable")] == 1  # (K,) ranked
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(100 * precision[hits].sum() / positives)


def fit_verifier(
    data: VerifierData,
    candidates: Sequence[tuple[int, float]] = ((0, 1e-3), (0, 1e-2), (16, 1e-3), (16, 1e-2)),
    log: Callable[[str], None] = print,
    dropped: Sequence[str] = (),
    balance_negatives: bool = False,
    max_ap_drop: float | None = None,
    residual: bool = False,
    calibration_scores: Sequence[float] = (),
) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Fit each (hidden units, L2) candidate on the training split, set its operating point
    and score it on the validation split -> (the best one's weights, one report row per
    candidate). ``dropped`` features (`FEATURE_NAMES`, for ablations) are left unread:
    their standardised value is 0 in training and their input weights are 0.
    ``balance_negatives``: the negatives of the empty photographs (sources ``photos*``) and
    those of the labelled frames each carry half of the negatives' weight (more photographs'
    views must not drown the labelled frames' duplicates and loose boxes). ``max_ap_drop``:
    see the module docstring (None: the round-3 rule, fewest negatives wins).
    ``residual``: the network's logit (feature 0) is a fixed part of the verifier's logit
    (`OFFSET_KEY`), so the fit learns a correction to it, which L2 keeps small.
    ``calibration_scores`` (e.g. `AP_SCORE`): besides `OPERATING_SCORE`, at each of these
    scores too the verifier keeps as many validation positives as the network's score did,
    through a monotone map of its logit (`CALIBRATION_KEYS`; the ranking is unchanged)."""
    train, val = ~data.validation, data.validation
    mean = data.features[train].mean(0).astype(np.float64)
    std = data.features[train].std(0).astype(np.float64) + 1e-6
    unread = [FEATURE_NAMES.index(name) for name in dropped]  # ValueError for a bad name
    x = (data.features.astype(np.float64) - mean) / std
    x[:, unread] = 0.0
    y = data.labels.astype(np.float64)
    val_pos = val & (data.labels == 1)
    val_neg = val & (data.labels == 0)
    network_kept = int((data.scores[val_pos] >= OPERATING_SCORE).sum())
    sources = data.source.astype(str)
    frames = [s for s in np.unique(sources) if not s.startswith("photos")]  # labelled sources
    in_source = {s: val & (sources == s) for s in frames}  # (N,) validation detections
    network_ap = {s: ranking_ap(data.scores[m], data.labels[m]) for s, m in in_source.items()}
    offset = data.features[:, 0].astype(np.float64) * residual  # (N,) 0 unless residual
    rows, fits = [], []
    for hidden, l2 in candidates:
        photo = np.char.startswith(data.source.astype(str), "photos")[train]
        photo = photo if balance_negatives else None
        params = _train(x[train], y[train], hidden, l2, 0, photo, offset[train])
        first = "hidden.weight" if hidden else "output.weight"
        params[first][:, unread] = 0.0
        logits = _logits(params, x, offset)
        if residual:
            params[OFFSET_KEY] = np.ones(1)
        # Shift the bias so that as many validation positives clear OPERATING_SCORE
        # (logit 0) as the network's score kept there.
        ranked = np.sort(logits[val_pos])[::-1]
        shift = -ranked[max(network_kept - 1, 0)] if len(ranked) else 0.0
        shift = min(shift, 0.0) if network_kept == 0 else shift
        params["output.bias"] = params["output.bias"] + shift
        logits = logits + shift
        knots = _calibration(logits[val_pos], data.scores[val_pos], calibration_scores)
        if knots is not None:
            params.update(zip(CALIBRATION_KEYS, knots, strict=True))
            logits = piecewise_linear(logits, *knots)
        kept_neg = int((logits[val_neg] >= 0).sum())
        ap = {
            s: round(ranking_ap(logits[m], data.labels[m], _logit(AP_SCORE)), 3)
            for s, m in in_source.items()
        }  # the source's validation AP with this candidate's scores (as logits)
        row = {
            "hidden": hidden,
            "l2": l2,
            "bias_shift": round(float(shift), 3),
            "val_positives_kept": int((logits[val_pos] >= 0).sum()),
            "val_negatives_kept": kept_neg,
            "val_positives_kept_at_ap_score": int((logits[val_pos] >= _logit(AP_SCORE)).sum()),
            "val_ap": ap,
            "val_worst_ap_drop": round(max((network_ap[s] - ap[s] for s in ap), default=0.0), 3),
        }
        rows.append(row)
        fits.append(params)
        log(f"  hidden {hidden:>2} l2 {l2:g}: validation negatives kept at "
            f"{OPERATING_SCORE} {kept_neg}, positives {row['val_positives_kept']}; AP "
            + ", ".join(f"{s} {ap[s]:.2f} ({network_ap[s]:.2f})" for s in ap))  # fmt: skip
    assert fits, "no candidate"
    eligible = [
        i for i, row in enumerate(rows)
        if max_ap_drop is None or row["val_worst_ap_drop"] <= max_ap_drop
    ]  # fmt: skip
    if eligible:
        chosen = min(eligible, key=lambda i: rows[i]["val_negatives_kept"])
    else:  # none keeps the AP: the one whose worst source drops least
        chosen = min(range(len(rows)), key=lambda i: rows[i]["val_worst_ap_drop"])
    rows[chosen]["chosen"] = True
    weights, cascade = fit_cascade({"mean": mean, "std": std, **fits[chosen]}, data, log)
    network = {
        "network_val_ap": {s: round(a, 3) for s, a in network_ap.items()},
        "network_positives_kept": network_kept,
        "network_negatives_kept": int((data.scores[val_neg] >= OPERATING_SCORE).sum()),
        "network_positives_kept_at_ap_score": int((data.scores[val_pos] >= AP_SCORE).sum()),
        "val_positives": int(val_pos.sum()),
        "val_negatives": int(val_neg.sum()),
    }
    return weights, [{**network, "cascade": cascade}, *rows]


def _logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def _calibration(
    logits: np.ndarray, scores: np.ndarray, at: Sequence[float]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Validation positives' verifier logits (P,) (already 0 at `OPERATING_SCORE`'s count)
    and network scores (P,) -> knots (raw logit, output logit), increasing, such that at
    each score of ``at`` the verifier keeps as many of them as the network's score did
    (None: no scores besides `OPERATING_SCORE`, or no positives)."""
    ranked = np.sort(logits)[::-1]  # (P,) best first
    knots = {0.0: _logit(OPERATING_SCORE)}
    for score in at:
        kept = int((scores >= score).sum())
        raw = float(ranked[kept - 1]) if kept > 0 and len(ranked) else None
        if score != OPERATING_SCORE and raw is not None and raw not in knots:
            knots[raw] = _logit(score)  # (a raw logit already a knot: no second one)
    if len(knots) == 1:
        return None
    knots_in, knots_out = [], []
    for raw, out in sorted(knots.items(), key=lambda pair: pair[1]):  # by output score
        if not knots_in or (raw > knots_in[-1] and out > knots_out[-1]):  # strictly monotone
            knots_in.append(raw)
            knots_out.append(out)
    return np.array(knots_in), np.array(knots_out)


def fit_cascade(
    weights: dict[str, np.ndarray], data: VerifierData, log: Callable[[str], None] = print
) -> tuple[dict[str, np.ndarray], dict]:
    """The verifier ``weights`` with the cascade added (see the module docstring), fitted
    and chosen on ``data`` -> (weights, a report row: margin, the validation detections
    decided without HOG and those whose decision changed)."""
    verifier = DetectionVerifier(weights, cascade=False)
    full = verifier.logit(data.features)  # (N,)
    x = verifier._standardised(data.features)  # (N, F)
    x[:, HOG_FEATURES[HOG_FEATURES < x.shape[1]]] = 0.0
    design = np.hstack((x, np.ones((len(x), 1))))
    train, val = ~data.validation, data.validation
    coef, *_ = np.linalg.lstsq(design[train], full[train], rcond=None)  # (F + 1,)
    coef[HOG_FEATURES[HOG_FEATURES < x.shape[1]]] = 0.0  # exactly: it never reads HOG
    weights = {
        **weights,
        "cascade.weight": coef[:-1],
        "cascade.bias": coef[-1:],
        "cascade.accept_logit": np.array([_logit(CASCADE_ACCEPT_SCORE)]),
    }
    cheap = design[val] @ coef  # (V,)
    residual = float(np.std(full[train] - design[train] @ coef))
    row = {"residual_logit_std": round(residual, 3)}
    for margin in CASCADE_MARGINS:
        weights["cascade.margin"] = np.array([margin])
        reject, accept = DetectionVerifier(weights).cascade_decisions(cheap, VERIFIER_INPUT_SCORE)
        out = np.where(reject, -np.inf, np.where(accept, cheap, full[val]))  # (V,) cascade
        changed = np.zeros(len(out), bool)
        for score in DECISION_SCORES:
            limit = verifier.raw_limit(score)  # the raw logit where the score reaches it
            changed |= (out >= limit) != (full[val] >= limit)
        row = {
            **row,
            "margin": float(margin),
            "val_detections": int(len(out)),
            "val_without_hog": int((reject | accept).sum()),
            "val_decisions_changed": int(changed.sum()),
        }
        if changed.mean() <= CASCADE_MAX_CHANGED:
            break
    log(f"  cascade: margin {row['margin']:g}, {row['val_without_hog']} of "
        f"{row['val_detections']} validation detections without HOG, "
        f"{row['val_decisions_changed']} decisions changed")  # fmt: skip
    return weights, row


def save_verifier(weights: dict[str, np.ndarray], path: str | Path) -> None:
    """Write the weights as float32 (the shipped file is a few kB)."""
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
    arrays["feature_names"] = np.array(FEATURE_NAMES[: len(arrays["mean"])])
    np.savez(path, **arrays)
