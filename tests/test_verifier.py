"""The detection verifier (`crowdpose3d.engine.verifier`): loading, one-line errors, the
pipeline unchanged without it, and crafted detections it must keep or reject."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from crowdpose3d.engine.verifier import (
    BUILTIN_VERIFIER,
    FEATURE_NAMES,
    DetectionVerifier,
    hog_people_scores,
    load_verifier,
    verifier_features,
)
from crowdpose3d.engine.verifier_training import (
    VerifierData,
    fit_verifier,
    label_detections,
    save_verifier,
)
from crowdpose3d.poses import Poses

K = 22  # JTA-22 joints
INK, PAPER = (40, 40, 40), (200, 200, 200)
# A person standing in the middle of a 256 x 256 image: its box and a plausible skeleton.
PERSON_BOX = (100.0, 58.0, 156.0, 202.0)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A generated 512 x 320 street frame with 25 people."""
    from crowdpose3d.data.synth import SynthConfig, generate_sequence

    config = SynthConfig(num_frames=1, fps=5, width=512, height=320, min_people=25, max_people=25)
    return next(iter(generate_sequence(config, seed=31))).image  # (320, 512, 3) uint8


def _person(image: np.ndarray) -> np.ndarray:
    """Draws a dark pedestrian silhouette (head, torso, arms, legs) in PERSON_BOX."""
    cv2.ellipse(image, (128, 70), (9, 11), 0, 0, 360, INK, -1)
    cv2.rectangle(image, (114, 82), (142, 140), INK, -1)
    for start, end, width in (((120, 140), (112, 200), 9), ((136, 140), (144, 200), 9),
                              ((114, 86), (104, 135), 7), ((142, 86), (152, 135), 7)):  # fmt: skip
        cv2.line(image, start, end, INK, width)
    return image


def _windows(image: np.ndarray) -> np.ndarray:
    """A facade: a grid of dark windows."""
    for x in range(0, image.shape[1], 32):
        for y in range(0, image.shape[0], 40):
            cv2.rectangle(image, (x + 6, y + 6), (x + 24, y + 30), (60, 60, 90), -1)
    return image


def _detection(score: float = 0.6) -> Poses:
    """One detection on PERSON_BOX, joints spread over the box like a standing person's."""
    x1, y1, x2, y2 = PERSON_BOX
    ys = np.linspace(y1 + 5, y2 - 5, K)
    xs = (x1 + x2) / 2 + np.where(np.arange(K) % 2, 10.0, -10.0)
    return Poses(
        boxes=np.array([PERSON_BOX]),
        scores=np.array([score]),
        kp2d=np.stack((xs, ys), -1)[None],
        kp3d_rel=np.zeros((1, K, 3)),
    )


def _hog_only_weights(weight: float = 1.0, bias: float = 0.0) -> dict[str, np.ndarray]:
    """A logistic verifier that reads only the HOG people score (standardisation 0 / 1)."""
    f = len(FEATURE_NAMES)
    w = np.zeros((1, f))
    w[0, FEATURE_NAMES.index("hog_people_score")] = weight
    return {"mean": np.zeros(f), "std": np.ones(f), "output.weight": w, "output.bias": [bias]}


def test_the_builtin_verifier_loads_and_reads_this_versions_features():
    verifier = load_verifier("builtin")
    assert verifier is not None and BUILTIN_VERIFIER.is_file()
    assert verifier.cascade  # the shipped weights carry the HOG-skipping cascade
    image = _person(np.full((256, 256, 3), PAPER, np.uint8))
    features = verifier_features(image, _detection())
    assert features.shape == (1, len(FEATURE_NAMES))
    probability = verifier.probability(features)
    assert probability.shape == (1,) and 0 <= probability[0] <= 1
    assert load_verifier("none") is None and load_verifier(None) is None


@pytest.mark.parametrize("content", [b"not a zip file", None])
def test_a_bad_weights_file_is_one_line(tmp_path, content):
    path = tmp_path / "bad.npz"
    if content is None:  # an npz of something else
        np.savez(path, foo=np.zeros(3))
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError) as error:
        load_verifier(path)
    assert "\n" not in str(error.value) and "bad.npz" in str(error.value)
    with pytest.raises(ValueError, match="not found.*builtin, none") as missing:
        load_verifier(tmp_path / "missing.npz")
    assert "\n" not in str(missing.value)


def test_weights_for_other_features_are_refused(tmp_path):
    weights = _hog_only_weights()
    weights["mean"] = np.zeros(5)
    save_verifier(weights, tmp_path / "old.npz")
    with pytest.raises(ValueError, match="retrain it with scripts/train_verifier.py"):
        DetectionVerifier.load(tmp_path / "old.npz")


def test_the_stage_reports_a_bad_verifier_in_one_line(tmp_path):
    from crowdpose3d.pipeline.stage import StageContext, StageError
    from crowdpose3d.stages.pandanet import PandaNetParams, PandaNetStage

    (tmp_path / "bad.npz").write_text("nope")
    stage = PandaNetStage(PandaNetParams(device="cpu", verifier=str(tmp_path / "bad.npz")))
    with pytest.raises(StageError) as error:
        stage.open(StageContext())
    assert "\n" not in str(error.value) and "detection verifier" in str(error.value)


def test_the_stage_without_a_verifier_gives_the_decoders_output(image):
    """verifier none: exactly the backend's candidates decoded and mapped back (the output
    before the verifier existed); builtin: the same boxes, re-scored, a subset."""
    from crowdpose3d.engine.predictor import _to_original, letterbox_image
    from crowdpose3d.pipeline.frame import Frame
    from crowdpose3d.pipeline.stage import StageContext
    from crowdpose3d.stages.pandanet import PandaNetParams, PandaNetStage

    outputs = {}
    for verifier in ("none", "builtin"):
        params = PandaNetParams(device="cpu", backend="torch", precision="fp32", verifier=verifier)
        stage = PandaNetStage(params)
        stage.open(StageContext())
        frame = Frame(source_id="s", index=0, pts_s=0.0, image=image)
        outputs[verifier] = next(iter(stage(iter([frame])))).poses
    predictor = stage.predictor
    batch, box = letterbox_image(image, predictor.fit)
    candidates = predictor.runner(batch[None])
    decoded = predictor.decoder.decode_candidates(candidates, predictor.anchors(*batch.shape[:2]))
    expected = _to_original(decoded[0], box, image.shape[:2])
    assert outputs["none"] == expected
    assert "network_score" not in outputs["none"].data
    verified = outputs["builtin"]
    assert len(verified) <= len(expected)
    for row, box in enumerate(verified.boxes):
        match = np.flatnonzero((expected.boxes == box).all(axis=1))
        assert len(match) == 1
        assert verified.data["network_score"][row] == expected.scores[match[0]]
    assert (verified.scores >= params.score_threshold).all()


def test_it_keeps_a_pedestrian_and_rejects_the_same_detection_on_a_facade():
    """The same network output (score, box, joints) on two images: the verifier reads the
    image itself (OpenCV's HOG people SVM) and keeps only the one with a person in it."""
    person = _person(np.full((256, 256, 3), PAPER, np.uint8))
    facade = _windows(np.full((256, 256, 3), PAPER, np.uint8))
    box = np.array([PERSON_BOX])
    assert hog_people_scores(person, box)[0] > 0 > hog_people_scores(facade, box)[0]
    verifier = DetectionVerifier(_hog_only_weights())
    assert len(verifier(person, _detection(), threshold=0.5)) == 1
    assert len(verifier(facade, _detection(), threshold=0.5)) == 0
    builtin = load_verifier("builtin")
    kept, rejected = (builtin(image, _detection()).scores for image in (person, facade))
    assert kept[0] > rejected[0]  # the shipped weights trust the HOG cue the same way


def test_labels_follow_the_one_to_one_match():
    people = np.array([[0, 0, 10, 20], [50, 0, 60, 20]], float)
    boxes = np.array([[0, 0, 10, 20], [0, 1, 10, 21], [51, 0, 61, 20], [100, 0, 110, 20],
                      [2, 8, 12, 28]], float)  # fmt: skip
    poses = Poses(boxes=boxes, scores=[0.9, 0.8, 0.7, 0.6, 0.5],
                  kp2d=np.zeros((5, K, 2)), kp3d_rel=np.zeros((5, K, 3)))  # fmt: skip
    # match, duplicate of a found person, match, on nobody, loose box on a person (left out)
    assert label_detections(poses, people).tolist() == [1, 0, 1, 0, -1]


def test_fitting_learns_a_separating_feature_and_keeps_the_networks_recall():
    rng = np.random.default_rng(0)
    n = 600
    labels = rng.random(n) < 0.4
    features = rng.normal(0, 1, (n, len(FEATURE_NAMES))).astype(np.float32)
    features[:, 5] += np.where(labels, 2.0, -2.0)  # the HOG column tells them apart
    scores = np.clip(rng.normal(0.6, 0.2, n), 0, 1).astype(np.float32)  # says nothing
    data = VerifierData(features, labels.astype(np.int8), scores, np.arange(n) % 3 == 0,
                        np.full(n, "toy"))  # fmt: skip
    weights, report = fit_verifier(data, candidates=((0, 1e-3),), log=lambda _: None)
    network, fitted = report
    assert fitted["val_positives_kept"] >= network["network_positives_kept"]
    assert fitted["val_negatives_kept"] < network["network_negatives_kept"] / 4
    probability = DetectionVerifier(weights).probability(features)
    # the bias is set for the network's (poor) recall at 0.5; the ranking is what it learnt
    assert np.median(probability[labels]) > np.quantile(probability[~labels], 0.95)


def test_track_passes_the_verifier_to_the_verify_stage(tmp_path):
    from crowdpose3d.api import track_pipeline
    from crowdpose3d.pipeline.defaults import DEFAULT_VERIFIER
    from crowdpose3d.stages.pandanet import PandaNetParams
    from crowdpose3d.stages.verify import VerifyParams

    def verifiers_of(config) -> tuple[str, str]:
        pandanet = next(s for s in config.stages if s.type == "pandanet")
        verify = next(s for s in config.stages if s.type == "verify")
        return PandaNetParams(**pandanet.options).verifier, VerifyParams(**verify.options).verifier

    assert verifiers_of(track_pipeline("in.mp4", tmp_path / "out")) == ("none", DEFAULT_VERIFIER)
    chosen = track_pipeline("in.mp4", tmp_path / "out", verifier="none")
    assert verifiers_of(chosen) == ("none", "none")


def test_the_verify_stage_gives_the_pandanet_stage_s_verified_output(image, tmp_path):
    """The verify stage after a pandanet stage without a verifier equals the pandanet
    stage's own verifier (same rows, same scores); a bad weights file or a frame without its
    image is one line."""
    from crowdpose3d.pipeline.frame import Frame
    from crowdpose3d.pipeline.stage import StageContext, StageError
    from crowdpose3d.stages.pandanet import PandaNetStage
    from crowdpose3d.stages.verify import VerifyParams, VerifyStage

    def stage_of(cls, **options):
        stage = cls(cls.Params(**options))
        stage.open(StageContext())
        return stage

    model = {"device": "cpu", "backend": "torch", "precision": "fp32"}
    inside = stage_of(PandaNetStage, verifier="builtin", **model)
    alone, verify = stage_of(PandaNetStage, **model), stage_of(VerifyStage)
    frame = Frame(source_id="s", index=0, pts_s=0.0, image=image)
    expected = next(iter(inside(iter([frame])))).poses
    frame = Frame(source_id="s", index=0, pts_s=0.0, image=image)
    got = next(iter(verify(alone(iter([frame]))))).poses
    assert got == expected and len(got) and "network_score" in got.data
    (tmp_path / "bad.npz").write_text("nope")
    with pytest.raises(StageError, match="verify: cannot read the detection verifier"):
        VerifyStage(VerifyParams(verifier=str(tmp_path / "bad.npz"))).open(StageContext())
    frame.image = None
    with pytest.raises(StageError, match="put it right after pandanet"):
        list(verify(iter([frame])))


def _cascade_weights(margin: float = 1.0) -> dict[str, np.ndarray]:
    """The HOG-only verifier plus a cascade whose cheap logit is the network's score logit."""
    weights = _hog_only_weights()
    cheap = np.zeros(len(FEATURE_NAMES))
    cheap[FEATURE_NAMES.index("score_logit")] = 1.0
    return {**weights, "cascade.weight": cheap, "cascade.bias": [0.0],
            "cascade.margin": [margin], "cascade.accept_logit": [np.log(0.9 / 0.1)]}  # fmt: skip


def test_the_cascade_computes_hog_only_where_the_cheap_score_cannot_decide():
    """Clear rejects are dropped and clear accepts keep the cheap score without a HOG crop;
    the rest get the full verifier, the same score as without the cascade."""
    person = _person(np.full((256, 256, 3), PAPER, np.uint8))
    detection = _detection()
    poses = Poses(
        boxes=np.repeat(detection.boxes, 3, axis=0),
        scores=np.array([0.001, 0.999, 0.5]),  # logits -6.9 (reject), 6.9 (accept), 0
        kp2d=np.repeat(detection.kp2d, 3, axis=0),
        kp3d_rel=np.zeros((3, K, 3)),
    )
    cascade = DetectionVerifier(_cascade_weights())
    full = DetectionVerifier(_cascade_weights(), cascade=False)
    assert cascade.cascade and not full.cascade
    assert not DetectionVerifier(_hog_only_weights()).cascade  # weights without one
    got, expected = cascade(person, poses, threshold=0.1), full(person, poses, threshold=0.1)
    assert cascade.counts == {"detections": 3, "hog_crops": 1}
    assert full.counts == {"detections": 3, "hog_crops": 3}
    assert got.data["network_score"].tolist() == pytest.approx([0.999, 0.5])
    assert got.scores[0] == pytest.approx(0.999, abs=1e-6)  # the cheap score, no HOG
    assert got.scores[1] == pytest.approx(expected.scores[-1])  # the full verifier's
    # threshold 0 drops nothing, so nothing is rejected early
    assert len(cascade(person, poses)) == 3 and cascade.counts["hog_crops"] == 3
    # a huge margin leaves every decision to HOG: the full verifier's output exactly
    wide = DetectionVerifier(_cascade_weights(margin=100.0))
    assert wide(person, poses, threshold=0.1) == full(person, poses, threshold=0.1)


def test_the_cascade_is_fitted_and_its_margin_keeps_the_validation_decisions(tmp_path):
    from crowdpose3d.engine.verifier_training import CASCADE_MAX_CHANGED, fit_cascade

    rng = np.random.default_rng(1)
    n = 2000
    features = rng.normal(0, 1, (n, len(FEATURE_NAMES))).astype(np.float32)
    hog = FEATURE_NAMES.index("hog_people_score")
    # HOG partly follows the score: the cheap fit can predict the full logit roughly
    features[:, hog] = 0.6 * features[:, 0] + 0.8 * rng.normal(0, 1, n)
    f = len(FEATURE_NAMES)
    weights = {"mean": np.zeros(f), "std": np.ones(f), "output.weight": np.zeros((1, f)),
               "output.bias": [0.5]}  # fmt: skip
    weights["output.weight"][0, [0, hog]] = (3.0, 1.5)
    data = VerifierData(features, np.zeros(n, np.int8), np.zeros(n, np.float32),
                        np.arange(n) % 4 == 0, np.full(n, "toy"))  # fmt: skip
    fitted, row = fit_cascade(weights, data, log=lambda _: None)
    assert row["val_decisions_changed"] <= CASCADE_MAX_CHANGED * row["val_detections"]
    assert 0 < row["val_without_hog"] < row["val_detections"] and row["margin"] > 0
    # the cheap logit leans on the score column, not on the HOG one
    assert fitted["cascade.weight"][hog] == 0 and fitted["cascade.weight"][0] > 3.0
    save_verifier(fitted, tmp_path / "cascade.npz")
    assert load_verifier(tmp_path / "cascade.npz").cascade


def test_the_hog_parts_add_up_and_only_the_rows_asked_for_get_them():
    from crowdpose3d.engine.verifier import (
        BASE_FEATURES,
        HOG_FEATURES,
        hog_block_scores,
        hog_features,
    )

    person = _person(np.full((256, 256, 3), PAPER, np.uint8))
    boxes = np.array([PERSON_BOX, (20.0, 20.0, 60.0, 120.0)])
    blocks = hog_block_scores(person, boxes)  # (2, 7, 15)
    parts = hog_features(person, boxes)  # (2, 4)
    assert blocks.shape == (2, 7, 15) and parts.shape == (2, 4 + 1)  # + Daimler (0 here)
    assert parts[:, 0] == pytest.approx(hog_people_scores(person, boxes), abs=1e-4)
    assert parts[:, 1] == pytest.approx(blocks[:, :, :5].sum(axis=(1, 2)), abs=1e-4)
    assert (parts[:, 3] >= 0).all()
    detection = _detection()
    poses = Poses(boxes=boxes, scores=np.array([0.6, 0.4]), kp2d=np.repeat(detection.kp2d, 2, 0),
                  kp3d_rel=np.zeros((2, K, 3)))  # fmt: skip
    every = verifier_features(person, poses)
    some = verifier_features(person, poses, hog_rows=np.array([False, True]))
    assert (some[1] == every[1]).all() and (some[0, HOG_FEATURES] == 0).all()
    cheap = np.setdiff1d(np.arange(len(FEATURE_NAMES)), HOG_FEATURES)
    assert (some[0, cheap] == every[0, cheap]).all()
    # round 3's weights (the first BASE_FEATURES features) still load and read the prefix
    old = {k: np.asarray(v)[..., :BASE_FEATURES] if k in ("mean", "std", "output.weight")
           else v for k, v in _hog_only_weights().items()}  # fmt: skip
    assert DetectionVerifier(old).probability(every) == pytest.approx(
        DetectionVerifier(_hog_only_weights()).probability(every)
    )


def test_balanced_negatives_give_the_labelled_frames_half_the_negative_weight():
    """Many photograph negatives that look unlike the labelled frames' negatives: balanced,
    the fit still separates the labelled frames' negatives (feature 1) from positives."""
    rng = np.random.default_rng(2)
    n_pos, n_neg, n_photo = 200, 40, 2000
    n = n_pos + n_neg + n_photo
    features = rng.normal(0, 1, (n, len(FEATURE_NAMES))).astype(np.float32)
    features[:n_pos, 1] += 1.5  # positives against the labelled frames' negatives
    features[n_pos + n_neg :, 2] -= 3.0  # the photographs' negatives differ in feature 2
    labels = np.r_[np.ones(n_pos), np.zeros(n_neg + n_photo)].astype(np.int8)
    source = np.r_[np.full(n_pos + n_neg, "synth"), np.full(n_photo, "photos")]
    data = VerifierData(features, labels, np.full(n, 0.6, np.float32), np.arange(n) % 4 == 0,
                        source)  # fmt: skip
    fits = {
        balance: fit_verifier(data, ((0, 1e-3),), lambda _: None, balance_negatives=balance)[0]
        for balance in (False, True)
    }
    reads = {b: abs(float(w["output.weight"][0, 1])) for b, w in fits.items()}
    assert reads[True] > reads[False]  # the labelled frames' cue counts for more


def test_ranking_ap_counts_the_order_and_the_dropped_positives():
    from crowdpose3d.engine.verifier_training import ranking_ap

    labels = np.array([1, 0, 1, 1])
    assert ranking_ap(np.array([0.9, 0.8, 0.7, 0.6]), labels, 0.0) == pytest.approx(
        100 * (1 + 2 / 3 + 3 / 4) / 3
    )
    assert ranking_ap(np.array([0.9, 0.1, 0.8, 0.7]), labels, 0.0) == pytest.approx(100.0)
    # the last positive scored below the threshold is a miss: a third of the AP is gone
    assert ranking_ap(np.array([0.9, 0.1, 0.8, 0.2]), labels, 0.3) == pytest.approx(100 * 2 / 3)


def _toy_data(seed: int = 3, n: int = 1500) -> VerifierData:
    """Positives apart from negatives in the HOG column, and a network score that has a
    long tail of low-scored positives (the verifier ranks them better but scores low)."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.5
    features = rng.normal(0, 1, (n, len(FEATURE_NAMES))).astype(np.float32)
    features[:, 5] += np.where(labels, 1.5, -1.5)
    scores = np.where(labels, rng.uniform(0.15, 1.0, n), rng.uniform(0.1, 0.7, n))
    features[:, 0] = np.log(scores / (1 - scores))
    return VerifierData(features, labels.astype(np.int8), scores.astype(np.float32),
                        np.arange(n) % 3 == 0, np.full(n, "toy"))  # fmt: skip


def test_calibration_keeps_the_networks_recall_at_each_score_and_the_ranking():
    data = _toy_data()
    plain, _ = fit_verifier(data, ((0, 1e-3),), lambda _: None)
    calibrated, report = fit_verifier(data, ((0, 1e-3),), lambda _: None, calibration_scores=(0.3,))
    network, row = report
    assert row["val_positives_kept_at_ap_score"] == network["network_positives_kept_at_ap_score"]
    assert row["val_positives_kept"] == network["network_positives_kept"]
    a = DetectionVerifier(plain, cascade=False).probability(data.features)
    b = DetectionVerifier(calibrated, cascade=False).probability(data.features)
    clear = np.abs(a - 0.5) > 1e-9  # (the bias puts one positive at exactly 0.5)
    assert ((a >= 0.5) == (b >= 0.5))[clear].all()  # the operating point's decisions stay
    assert (np.argsort(a, kind="stable") == np.argsort(b, kind="stable")).all()
    # a threshold's raw logit is where the calibrated score reaches it
    verifier = DetectionVerifier(calibrated)
    for threshold in (0.1, 0.3, 0.5, 0.9):
        limit = verifier.raw_limit(threshold)
        assert 1 / (1 + np.exp(-verifier.calibrated(np.array([limit]))[0])) == pytest.approx(
            threshold
        )


def test_the_cascade_of_a_calibrated_verifier_drops_exactly_below_the_threshold():
    """A linear verifier that reads no HOG column: the cheap logit is the full one, the
    margin 0, and the cascade's drops at a threshold must be the calibrated scores below it."""
    from crowdpose3d.engine.verifier import HOG_FEATURES
    from crowdpose3d.engine.verifier_training import fit_cascade

    data = _toy_data(seed=4)
    hog = [FEATURE_NAMES[i] for i in HOG_FEATURES]
    weights, _ = fit_verifier(
        data, ((0, 1e-3),), lambda _: None, dropped=hog, calibration_scores=(0.3,)
    )
    assert "calibration.logit_in" in weights
    weights, row = fit_cascade(weights, data, log=lambda _: None)
    assert row["margin"] == 0 and row["val_decisions_changed"] == 0
    verifier = DetectionVerifier(weights)
    cheap = verifier.cheap_logit(data.features)
    full = DetectionVerifier(weights, cascade=False).probability(data.features)
    for threshold in (0.1, 0.3, 0.7):
        reject, accept = verifier.cascade_decisions(cheap, threshold)
        clear = np.abs(full - threshold) > 1e-4
        assert (reject == (full < threshold))[clear].all()
        assert (full[accept] > 0.9).all()


def test_a_residual_verifier_adds_the_networks_logit():
    data = _toy_data(seed=5)
    weights, _ = fit_verifier(data, ((0, 1e-2),), lambda _: None, residual=True)
    assert float(weights["offset.score_logit"][0]) == 1.0
    without = {k: v for k, v in weights.items() if k != "offset.score_logit"}
    difference = DetectionVerifier(weights).logit(data.features) - DetectionVerifier(without).logit(
        data.features
    )
    assert difference == pytest.approx(data.features[:, 0].astype(np.float64), abs=1e-5)


def test_the_ap_rule_picks_the_candidate_that_keeps_the_labelled_frames_ap():
    data = _toy_data(seed=6)
    _, report = fit_verifier(data, ((0, 1e-3), (0, 10.0)), lambda _: None, max_ap_drop=-100.0)
    rows = report[1:]
    drops = [row["val_worst_ap_drop"] for row in rows]
    assert [row.get("chosen", False) for row in rows] == [d == min(drops) for d in drops]
    assert set(rows[0]["val_ap"]) == {"toy"} and set(report[0]["network_val_ap"]) == {"toy"}


def test_calibration_adds_no_knot_where_the_network_kept_the_same_at_both_scores():
    data = _toy_data(seed=7)
    positive = data.labels == 1
    data.scores[positive] = np.maximum(data.scores[positive], 0.55)  # all >= 0.5 already
    weights, report = fit_verifier(data, ((0, 1e-3),), lambda _: None, calibration_scores=(0.3,))
    assert "calibration.logit_in" not in weights  # 0.3's knot would sit on 0.5's
    assert report[1]["val_positives_kept"] == report[0]["network_positives_kept"]
