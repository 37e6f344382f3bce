"""False alarms on real photographs with nobody in them (the held-out fifth of the photos).

The photographs fetched by `crowdpose3d photos` (Debian wallpapers: streets, buildings,
interiors, landscapes; docs/synthetic.md) have no people, so every detection on them is a
false alarm. Only the held-out split (`crowdpose3d.data.photos.photo_split`, one photograph
in five, never used for composites or negatives) is scored. Each photograph is seen two
ways: whole (the predictor's letterbox fits it into the model input) and as the model's
input-size tiles of the photo scaled to twice that size (closer views, the scale the
composites see). Per model it prints the detections per photograph at each score
threshold (the issue's target: at most 0.1 at score >= 0.5) and the highest score.

    python benchmarks/empty_photos.py out/photos --models builtin:crowd-small out/runs/x/last.pt

--verifiers none builtin adds one row per detection verifier (`crowdpose3d.engine.verifier`)
in the same run: the network runs once per view at the pandanet stage's threshold
(`VERIFIER_INPUT_SCORE`), and each verifier re-scores those detections.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from crowdpose3d.engine.verifier import VERIFIER_INPUT_SCORE
from crowdpose3d.engine.verifier_training import TILE_ZOOM
from crowdpose3d.engine.verifier_training import photo_views as views
from crowdpose3d.pipeline.defaults import DEFAULT_MODEL

THRESHOLDS = (0.3, 0.5, 0.7)  # score thresholds of the table's columns; 0.5 is the target's


def scores_per_view(predictor, photos, verifiers) -> dict[str, dict[str, list[np.ndarray]]]:
    """{verifier: {view: per photograph, the scores (D,) of every detection on it, all tiles
    pooled}}; ``verifiers``: (name, `DetectionVerifier` or None) pairs."""
    result = {name: {"whole": [], "tiles": []} for name, _ in verifiers}
    for index in range(len(photos)):
        for view, images in views(photos.image(index), predictor.input_size).items():
            detections = predictor(images)
            for name, verifier in verifiers:
                found = [
                    poses.scores if verifier is None else verifier(image, poses).scores
                    for image, poses in zip(images, detections, strict=True)
                ]
                result[name][view].append(np.concatenate(found) if found else np.zeros(0))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("photos", help="folder made by `crowdpose3d photos` (manifest.json)")
    parser.add_argument("--models", nargs="+", default=[DEFAULT_MODEL])
    parser.add_argument("--split", default="heldout", help="photo split to score (heldout)")
    parser.add_argument(
        "--verifiers", nargs="+", default=["none"], metavar="builtin|none|PATH",
        help="detection verifiers to compare per model (none)",
    )  # fmt: skip
    args = parser.parse_args()

    import torch

    from crowdpose3d.data.photos import PhotoError, PhotoSet
    from crowdpose3d.engine.predictor import Predictor
    from crowdpose3d.engine.verifier import load_verifier
    from crowdpose3d.messages import first_line

    torch.set_num_threads(2)
    try:
        photos = PhotoSet(args.photos, args.split)
        verifiers = [(v, load_verifier(v)) for v in args.verifiers]
    except (PhotoError, ValueError) as error:
        raise SystemExit(first_line(error)) from None
    tiles = TILE_ZOOM**2
    print(f"{len(photos)} photographs without people ({args.split} split of {args.photos}); "
          f"detections per photograph (tiles: {tiles} tiles pooled per photograph)")  # fmt: skip
    header = " ".join(f"{'>= ' + str(t):>8}" for t in THRESHOLDS)
    print(f"{'model':<28} {'view':<6} {header} {'max score':>10} {'photos with any >= 0.5':>24}")
    input_score = min(VERIFIER_INPUT_SCORE, *THRESHOLDS)
    for spec in args.models:
        predictor = Predictor.from_spec(spec, device="cpu", score_threshold=input_score)
        model = Path(spec.replace("builtin:", "")).as_posix()
        for verifier, per_view in scores_per_view(predictor, photos, verifiers).items():
            name = model if args.verifiers == ["none"] else f"{model}+{Path(verifier).stem}"
            for view, per_photo in per_view.items():
                counts = [np.mean([(s >= t).sum() for s in per_photo]) for t in THRESHOLDS]
                top = max((s.max() for s in per_photo if len(s)), default=0.0)
                hit = sum(bool((s >= 0.5).any()) for s in per_photo)
                cells = " ".join(f"{c:>8.2f}" for c in counts)
                print(f"{name[-28:]:<28} {view:<6} {cells} {top:>10.2f} "
                      f"{hit:>17}/{len(per_photo)}")  # fmt: skip


if __name__ == "__main__":
    main()
