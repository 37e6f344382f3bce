"""Held-out labelled frames' AP / 3DPCK with several detection verifiers, the network run once.

`crowdpose3d eval --verifier V` runs the network for every verifier; here it runs once per
frame, decoding down to the verifier's input score (`VERIFIER_INPUT_SCORE`), and each
verifier re-scores the same detections before ``--score-threshold`` applies to its score
(the `Predictor` does the same with ``verifier=V``), so the rows differ only by the
verifier. ``none`` is the network's own score. The figures equal ``crowdpose3d eval
--model M --data D --split S --score-threshold T --backend torch --precision fp32
--verifier V`` (checked for none and the shipped file in docs/models.md).

    python benchmarks/verifier_solids.py out/data/synth_heldout \\
        --verifiers none builtin out/verifier/v2.npz
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from crowdpose3d.pipeline.defaults import DEFAULT_MODEL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="labelled held-out data (as `crowdpose3d eval --data`)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--score-threshold", type=float, default=0.3)
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument(
        "--verifiers", nargs="+", default=["none", "builtin"], metavar="builtin|none|PATH",
        help="detection verifiers to compare (none builtin)",
    )  # fmt: skip
    args = parser.parse_args()

    import torch

    from crowdpose3d.engine.evaluator import load_samples
    from crowdpose3d.engine.metrics import PoseEvaluation
    from crowdpose3d.engine.predictor import Predictor
    from crowdpose3d.engine.verifier import VERIFIER_INPUT_SCORE, load_verifier
    from crowdpose3d.messages import first_line

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    try:
        verifiers = [(v, load_verifier(v)) for v in args.verifiers]
        samples = load_samples(args.data, split=args.split, max_frames=args.max_frames)
        predictor = Predictor.from_spec(
            args.model, device="cpu", backend="torch", precision="fp32",
            score_threshold=min(args.score_threshold, VERIFIER_INPUT_SCORE), batch_size=1,
        )  # fmt: skip
    except (ValueError, OSError) as error:
        raise SystemExit(first_line(error)) from None
    evaluations = {name: PoseEvaluation(predictor.skeleton) for name, _ in verifiers}
    started = time.perf_counter()
    for index in range(len(samples)):
        sample = samples[index]
        found = predictor([sample.image])[0]
        for name, verifier in verifiers:
            if verifier is None:
                poses = found[found.scores >= args.score_threshold]
            else:
                poses = verifier(sample.image, found, args.score_threshold)
            evaluations[name].add(poses, sample)
    print(f"{len(samples)} frames of {args.data} ({args.split}), model {args.model}, "
          f"score >= {args.score_threshold}, {time.perf_counter() - started:.0f} s")  # fmt: skip
    print(f"{'verifier':<32} {'AP':>7} {'3DPCK':>7} {'MPJPE':>7} {'detections':>11} {'matched':>8}")
    for name, evaluation in evaluations.items():
        r = evaluation.result()
        print(f"{Path(name).stem[-32:]:<32} {r.ap:>7.2f} {r.pck3d:>7.2f} {r.mpjpe_mm:>7.1f} "
              f"{r.num_detections:>11} {r.num_matched:>8}")  # fmt: skip


if __name__ == "__main__":
    main()
