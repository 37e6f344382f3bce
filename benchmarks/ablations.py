"""The paper's Tables 1 and 2 at small scale: train every config of configs/ablations/ and
evaluate each on held-out synthetic crowds.

    python benchmarks/ablations.py                  # train what is missing, evaluate, print
    python benchmarks/ablations.py --seeds 0 1 2    # more seeds per variant (default 0 1)
    python benchmarks/ablations.py --retrain        # train every variant again

Needs the synthetic data of docs/ablations.md (`crowdpose3d synth ...`). Prints both tables
(AP, 3DPCK at 150 mm, MPJPE) and writes them as JSON next to the runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from crowdpose3d.core.checkpoint import load_checkpoint
from crowdpose3d.engine.evaluator import evaluate, load_samples
from crowdpose3d.engine.predictor import Predictor
from crowdpose3d.engine.trainer import LAST_CHECKPOINT, load_config, train

TABLE1 = [
    ("No", "table1_selection_none"),
    ("BB-Aware", "table1_selection_box"),
    ("Pose-Aware", "table1_selection_pose"),
]
TABLE2 = [
    ("fixed: 1 / 1 / 1", "table2_weights_fixed"),
    ("learned / 1 / 1", "table2_weights_task"),
    ("learned / learned / 1", "table2_weights_task_anchor"),
    ("learned / learned / learned", "table1_selection_pose"),
]


def run_variant(config_dir: str, name: str, seed: int, retrain: bool, samples, threshold: float):
    """Train one variant with one seed (unless done) and evaluate it -> figures."""
    base = load_config(Path(config_dir) / f"{name}.yaml")
    config = base.model_copy(update={"seed": seed, "output_dir": f"{base.output_dir}_seed{seed}"})
    last = Path(config.output_dir) / LAST_CHECKPOINT
    started = time.perf_counter()
    if retrain or not last.is_file():
        train(config, progress=False)
    trained = time.perf_counter() - started
    result = evaluate(Predictor(load_checkpoint(last), score_threshold=threshold), samples)
    return {
        "ap": result.ap,
        "pck3d": result.pck3d,
        "mpjpe_mm": result.mpjpe_mm,
        "train_seconds": round(trained, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="configs/ablations")
    parser.add_argument("--data", default="out/data/synth_heldout")
    parser.add_argument("--split", default="test")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--score-threshold", type=float, default=0.05)
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--json", default="out/runs/ablations/results.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    samples = load_samples(args.data, split=args.split)
    results: dict[str, dict[int, dict]] = {}
    for seed in args.seeds:
        for name in sorted({name for _, name in TABLE1 + TABLE2}):
            figures = run_variant(
                args.configs, name, seed, args.retrain, samples, args.score_threshold
            )
            results.setdefault(name, {})[seed] = figures
            print(
                f"{name} seed {seed}: AP {figures['ap']:.1f}  3DPCK {figures['pck3d']:.1f}  "
                f"MPJPE {figures['mpjpe_mm']:.1f} mm  "
                f"(trained in {figures['train_seconds']:.0f} s)",
                flush=True,
            )

    print(
        f"\nheld-out: {args.data} split {args.split}, {len(samples)} images; "
        f"score threshold {args.score_threshold}; seeds {args.seeds}; each cell: mean (per seed)"
    )
    for title, rows in (
        ("Table 1: anchor selection", TABLE1),
        ("Table 2: learned weights (task / anchor / joint)", TABLE2),
    ):
        print(f"\n{title}\n{'variant':<30} {'AP':>20} {'3DPCK':>20} {'MPJPE mm':>20}")
        for label, name in rows:
            cells = [cell(results[name], key) for key in ("ap", "pck3d", "mpjpe_mm")]
            print(f"{label:<30} " + " ".join(f"{c:>20}" for c in cells))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.json}")


def cell(per_seed: dict[int, dict], key: str) -> str:
    """'mean (a / b)' over the seeds of one variant."""
    values = [figures[key] for figures in per_seed.values()]
    mean = sum(values) / len(values)
    return f"{mean:.1f} (" + " / ".join(f"{v:.1f}" for v in values) + ")"


if __name__ == "__main__":
    main()
