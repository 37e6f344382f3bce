"""Train the detection verifier (`crowdpose3d.engine.verifier`) and write its weights
(default: the shipped `crowdpose3d/weights/detection-verifier.npz`).

Only training data: the shipped model's detections on labelled TRAINING frames (solids
crowds and composites on the training photographs, ``crowdpose3d synth`` output, split
``train``) and on the TRAINING split of the real photographs without people (whole and
tiled). Never vtest.avi, never the held-out photographs or sequences.

    crowdpose3d photos out/photos
    crowdpose3d synth out/data/synth_crowd ...              # docs/models.md has the commands
    crowdpose3d synth out/data/photo_crowd --backgrounds out/photos ...
    python scripts/train_verifier.py --labelled out/data/synth_crowd out/data/photo_crowd \\
        --photos out/photos --frames 150 --cache out/verifier/detections.npz

The detections are cached (``--cache``): a second run with the same file only refits;
several cache files are read and pooled (e.g. round 3's with one of ``--photo-zooms 3``,
the training photographs' 3x tiles as more negatives).
Round 5: ``--calibrate-at 0.3`` keeps the network's validation recall at 0.3 too (a
monotone map of the logit; the held-out AP's losses were that recall), ``--max-ap-drop
0.5`` lets only candidates win whose labelled validation frames' AP stays within 0.5
points of the network's on every source, ``--candidates``, ``--residual``.
``--add-cascade WEIGHTS`` refits nothing: it adds the HOG-skipping cascade
(`crowdpose3d.engine.verifier_training.fit_cascade`) to those weights, fitted on the cached
detections, and writes them to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from crowdpose3d.engine.verifier import BUILTIN_VERIFIER
from crowdpose3d.engine.verifier_training import (
    COLLECT_THRESHOLD,
    TILE_ZOOM,
    VerifierData,
    collect,
    fit_cascade,
    fit_verifier,
    photo_views,
    save_verifier,
)
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL


def labelled_images(root: str, frames: int):
    """(image, people boxes, sequence) of at most ``frames`` training frames of ``root``."""
    from crowdpose3d.engine.evaluator import load_samples

    samples = load_samples(root, split="train", max_frames=frames)
    for index in range(len(samples)):
        sample = samples[index]
        yield sample.image, sample.boxes, f"{root}/{sample.sequence}"


def photo_images(folder: str, input_hw: tuple[int, int], zoom: int = TILE_ZOOM):
    """(view, None, photograph) of every training photograph: whole and tiled at
    `TILE_ZOOM`; only the tiles at another ``zoom`` (closer views: more negatives)."""
    from crowdpose3d.data.photos import PhotoSet

    photos = PhotoSet(folder, "train")
    for index in range(len(photos)):
        for view, images in photo_views(photos.image(index), input_hw, zoom).items():
            if view == "whole" and zoom != TILE_ZOOM:
                continue
            for image in images:
                yield image, None, f"photos/{photos.photos[index].file}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--labelled", nargs="*", default=[], help="JTA-format training roots")
    parser.add_argument("--photos", help="`crowdpose3d photos` folder (its train split)")
    parser.add_argument("--frames", type=int, default=150, help="frames per labelled root")
    parser.add_argument(
        "--photo-zooms", type=int, nargs="+", default=[TILE_ZOOM],
        help=f"zooms of the photographs' tiles ({TILE_ZOOM}: also the whole photo)",
    )  # fmt: skip
    parser.add_argument(
        "--cache", type=Path, nargs="+", default=[],
        help="detections file, reused when present; several: all read and pooled",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=BUILTIN_VERIFIER)
    parser.add_argument(
        "--balance-negatives", action="store_true",
        help="photographs' and labelled frames' negatives weigh half each",
    )  # fmt: skip
    parser.add_argument(
        "--add-cascade", type=Path, metavar="WEIGHTS",
        help="only add the cascade to these verifier weights (fitted on the cache)",
    )  # fmt: skip
    parser.add_argument(
        "--max-ap-drop", type=float, default=None, metavar="POINTS",
        help="only candidates whose labelled validation frames' AP is at most this far below "
        "the network's may win (default: the fewest validation negatives wins)",
    )  # fmt: skip
    parser.add_argument(
        "--calibrate-at", type=float, nargs="+", default=[], metavar="SCORE",
        help="also keep the network's validation recall at these scores (e.g. 0.3, the "
        "evaluation's threshold) through a monotone map of the verifier's logit",
    )  # fmt: skip
    parser.add_argument(
        "--residual", action="store_true",
        help="learn a correction to the network's own logit (it stays part of the output)",
    )  # fmt: skip
    parser.add_argument(
        "--candidates", nargs="+", default=None, metavar="HIDDEN:L2",
        help="models to fit, hidden units (0: logistic regression) and L2, e.g. 0:1e-3 16:1e-2",
    )  # fmt: skip
    parser.add_argument("--report", type=Path, help="also write the fit's table as JSON")
    parser.add_argument(
        "--sources", nargs="+", help="train on these sources of the data only (ablations)"
    )
    parser.add_argument(
        "--drop-features", nargs="+", default=[], metavar="NAME",
        help="leave these features (crowdpose3d.engine.verifier.FEATURE_NAMES) unread",
    )  # fmt: skip
    args = parser.parse_args()

    import torch

    from crowdpose3d.engine.predictor import Predictor

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.cache and all(path.is_file() for path in args.cache):
        parts = [VerifierData.load(path) for path in args.cache]
        if len({part.features.shape[1] for part in parts}) > 1:
            widths = ", ".join(
                f"{p}: {d.features.shape[1]}" for p, d in zip(args.cache, parts, strict=True)
            )
            raise SystemExit(f"--cache files hold different feature counts ({widths}); "
                             "collect them again with this version")  # fmt: skip
        data = VerifierData.concatenate(parts)
        print(f"read {len(data.labels)} detections from {', '.join(map(str, args.cache))}")
    else:
        predictor = Predictor.from_spec(
            args.model, device="cpu", score_threshold=COLLECT_THRESHOLD, batch_size=1,
            backend="torch", precision="fp32",
        )  # fmt: skip
        parts = []
        start = time.perf_counter()
        for root in args.labelled:
            parts.append(collect(predictor, labelled_images(root, args.frames), Path(root).name))
        for zoom in args.photo_zooms if args.photos else []:
            views = photo_images(args.photos, predictor.input_size, zoom)
            name = "photos" if zoom == TILE_ZOOM else f"photos_zoom{zoom}"
            parts.append(collect(predictor, views, name))
        if not parts:
            raise SystemExit("nothing to train on: give --labelled and/or --photos")
        data = VerifierData.concatenate(parts)
        print(f"collected {len(data.labels)} detections in {time.perf_counter() - start:.0f} s")
        if args.cache:
            if len(args.cache) > 1:
                raise SystemExit("--cache: several files are only read; collect into one")
            args.cache[0].parent.mkdir(parents=True, exist_ok=True)
            data.save(args.cache[0])
    if args.sources:
        data = data.subset(np.isin(data.source, args.sources))
    for source in np.unique(data.source):
        mine = data.source == source
        print(f"  {source}: {int((data.labels[mine] == 1).sum())} positives, "
              f"{int((data.labels[mine] == 0).sum())} negatives, "
              f"{int(data.validation[mine].sum())} in validation")  # fmt: skip
    if args.add_cascade:
        with np.load(args.add_cascade, allow_pickle=False) as stored:
            weights = {k: stored[k] for k in stored.files if k != "feature_names"}
        weights, row = fit_cascade(weights, data)
        save_verifier(weights, args.out)
        print(f"wrote {args.out} (cascade: {json.dumps(row)})")
        return
    options = {}
    if args.candidates:
        try:
            options["candidates"] = [
                (int(h), float(l2)) for h, l2 in (c.split(":") for c in args.candidates)
            ]
        except ValueError:
            raise SystemExit("--candidates: give HIDDEN:L2 pairs, e.g. 0:1e-3 16:1e-2") from None
    start = time.perf_counter()
    try:
        weights, report = fit_verifier(
            data,
            dropped=args.drop_features,
            balance_negatives=args.balance_negatives,
            max_ap_drop=args.max_ap_drop,
            residual=args.residual,
            calibration_scores=args.calibrate_at,
            **options,
        )
    except ValueError as error:
        raise SystemExit(f"unknown feature in --drop-features: {error}") from None
    print(f"fitted in {time.perf_counter() - start:.0f} s; validation: {json.dumps(report[0])}")
    save_verifier(weights, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} kB)")
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
