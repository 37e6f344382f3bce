"""MOTA and IDF1: hand-computed cases, and agreement with motmetrics on random tracks."""

import numpy as np
import pandas as pd
import pytest

from crowdpose3d.tracking.association import box_iou_matrix
from crowdpose3d.tracking.metrics import COLUMNS, tracking_scores


def table(rows):
    return pd.DataFrame(rows, columns=COLUMNS)


def box(x):
    return [x, 0, x + 10, 20]


def test_a_miss_a_false_positive_and_an_identity_switch():
    truth = table([[f, 1, *box(0)] for f in range(4)] + [[f, 2, *box(100)] for f in range(4)])
    predicted = table(
        [[f, 7, *box(1)] for f in range(4)]  # follows person 1 throughout
        + [[0, 8, *box(100)], [1, 8, *box(100)], [3, 9, *box(100)]]  # person 2: miss, switch
        + [[2, 5, *box(300)]]  # a false positive
    )
    scores = tracking_scores(truth, predicted)
    assert (scores.misses, scores.false_positives, scores.id_switches) == (1, 1, 1)
    assert scores.mota == pytest.approx(1 - 3 / 8)
    # Best identity map: 7->1 (4 frames), 8->2 (2 frames): IDTP 6 of 8 true and 8 predicted.
    assert scores.idf1 == pytest.approx(2 * 6 / 16)


def test_agrees_with_motmetrics_on_random_noisy_tracks():
    mm = pytest.importorskip("motmetrics")
    rng = np.random.default_rng(0)
    truth_rows, predicted_rows = [], []
    for person in range(8):
        start = rng.integers(0, 20)
        x, y = rng.uniform(0, 400, 2)
        for frame in range(start, start + 30):
            x += 3
            truth_rows.append([frame, person, x, y, x + 30, y + 60])
            if rng.random() < 0.1:
                continue  # a miss
            pid = person + 100 * int(frame > start + 15 and person % 3 == 0)  # some switches
            dx, dy = rng.normal(0, 3, 2)
            predicted_rows.append([frame, pid, x + dx, y + dy, x + dx + 30, y + dy + 60])
    for _ in range(15):  # false positives
        f, x, y = rng.integers(0, 50), *rng.uniform(0, 400, 2)
        predicted_rows.append([f, 999 + _, x, y, x + 30, y + 60])
    truth, predicted = table(truth_rows), table(predicted_rows)
    ours = tracking_scores(truth, predicted)

    accumulator = mm.MOTAccumulator(auto_id=False)
    for frame in sorted(set(truth["frame"]) | set(predicted["frame"])):
        t = truth[truth["frame"] == frame]
        p = predicted[predicted["frame"] == frame]
        iou = box_iou_matrix(t[COLUMNS[2:]].to_numpy(float), p[COLUMNS[2:]].to_numpy(float))
        distance = np.where(iou >= 0.5, 1 - iou, np.nan)
        accumulator.update(t["id"].tolist(), p["id"].tolist(), distance, frameid=frame)
    summary = mm.metrics.create().compute(
        accumulator, metrics=["mota", "idf1", "num_switches", "num_misses", "num_false_positives"]
    )
    assert ours.mota == pytest.approx(summary["mota"].iloc[0], abs=1e-9)
    assert ours.idf1 == pytest.approx(summary["idf1"].iloc[0], abs=1e-9)
    assert ours.id_switches == summary["num_switches"].iloc[0]
    assert ours.misses == summary["num_misses"].iloc[0]


def test_trackeval_scores_a_file_our_mot_sink_wrote(tmp_path):
    """The MOT round trip: tracks -> the `mot` sink -> TrackEval, against gt.txt written by
    `mot_ground_truth_text`; TrackEval's MOTA, IDF1 and switches equal ours on the same
    boxes, and a distractor (too hidden to demand) costs nothing."""
    from crowdpose3d.pipeline.frame import Frame
    from crowdpose3d.pipeline.stage import StageContext
    from crowdpose3d.poses import Poses
    from crowdpose3d.stages.mot import MOTParams, MOTSink
    from crowdpose3d.tracking.metrics import mot_challenge_scores, mot_ground_truth_text

    rng = np.random.default_rng(1)
    num_frames = 30
    people = [(f, p, 50 + 120 * p + 2 * f) for f in range(num_frames) for p in (1, 2, 3)]
    truth = table([[f, p, x, 40, x + 60, 200] for f, p, x in people])
    hidden = table([[f, 9, 700, 40, 760, 200] for f in range(num_frames)])
    frames, predicted = [], []
    for f in range(num_frames):
        rows = truth[truth.frame == f]
        rows = rows[~((rows.id == 3) & (f % 7 == 3))]  # person 3 missed now and then
        ids = np.where(rows.id == 2, np.where(f < 15, 2, 5), rows.id)  # person 2 switches
        boxes = rows[["x1", "y1", "x2", "y2"]].to_numpy(float) + rng.normal(0, 1.0, (len(rows), 4))
        boxes = np.concatenate([boxes, [[700, 40, 760, 200]]])  # a box on the distractor
        ids = np.concatenate([ids, [4]])
        poses = Poses(
            boxes=boxes, scores=np.full(len(boxes), 0.9), kp2d=np.zeros((len(boxes), 0, 2)),
            kp3d_rel=np.zeros((len(boxes), 0, 3)), track_id=ids,
        )  # fmt: skip
        frames.append(Frame("clip", f, f / 10, None, poses=poses))
        predicted += [[f, i, *b] for i, b in zip(ids[:-1], boxes[:-1], strict=True)]
    sink = MOTSink(MOTParams(path=str(tmp_path / "ours.txt")))
    sink.open(StageContext())
    list(sink(iter(frames)))
    sink.close()
    lines = (tmp_path / "ours.txt").read_text().splitlines()
    assert len(lines) == sum(len(f.poses) for f in frames)
    assert all(line.split(",")[7:] == ["-1", "-1", "-1"] for line in lines)
    (tmp_path / "gt.txt").write_text(mot_ground_truth_text(truth, hidden))
    scored = mot_challenge_scores(
        {"clip": (tmp_path / "gt.txt", num_frames)}, {"ours": {"clip": tmp_path / "ours.txt"}}
    )["ours"]
    ours = tracking_scores(truth, table(predicted))  # the distractor's box left out
    assert scored["IDSW"] == ours.id_switches == 1
    assert scored["MOTA"] == pytest.approx(ours.mota)
    assert scored["IDF1"] == pytest.approx(ours.idf1)
    assert 0.5 < scored["HOTA"] < 1.0 and scored["DetA"] > scored["AssA"]
