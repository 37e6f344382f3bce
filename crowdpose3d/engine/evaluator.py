"""Evaluate a `Predictor` on a labelled data set: the paper's AP, 3DPCK and MPJPE tables.

``evaluate(predictor, samples)`` runs the model over the samples in batches and feeds every
image to a `PoseEvaluation` (`crowdpose3d.engine.metrics`). ``load_samples(data)`` builds
the samples from a ``--data`` argument, ``KIND:ROOT`` or a bare JTA-format ``ROOT``, through
the dataset switch training uses too (`crowdpose3d.engine.datasets`):

    DIR             a JTA-format root (JTA itself or ``crowdpose3d synth`` output:
                    ``annotations/``, ``videos/``, ``cameras/``), split ``train|val|test``
    panoptic:ROOT   CMU Panoptic, the monocular protocol (split ``test``: HD cameras 16, 30)
    mupots:ROOT     MuPoTS-3D (the ``MultiPersonTestSet`` folder; all 20 sequences)

``frame_step`` keeps every n-th frame, ``max_frames`` at most that many frames spread evenly
over what is left.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from crowdpose3d.data.dataset import SampleSubset
from crowdpose3d.data.errors import DatasetError
from crowdpose3d.data.sample import Sample
from crowdpose3d.engine.datasets import open_dataset, parse_data, spread_evenly
from crowdpose3d.engine.metrics import EvaluationResult, PoseEvaluation
from crowdpose3d.engine.predictor import Predictor

__all__ = ["SampleSubset", "evaluate", "load_samples"]


def load_samples(
    data: str | Path,
    split: str = "test",
    frame_step: int = 1,
    max_frames: int | None = None,
    cache_dir: str | Path | None = None,
) -> Sequence[Sample]:
    """The evaluation samples named by ``data`` (see the module docstring).

    Raises `DatasetError` (a ValueError, one line) for a missing folder or a broken layout
    and ValueError for a bad split, step or count.
    """
    if frame_step < 1:
        raise ValueError(f"--frame-step must be >= 1, got {frame_step}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"--max-frames must be >= 1, got {max_frames}")
    kind, root = parse_data(data)
    samples = open_dataset(kind, root, split=split, frame_step=frame_step, cache_dir=cache_dir)
    if len(samples) == 0:
        raise DatasetError(f"no labelled frames in {data} (split {split})")
    return spread_evenly(samples, max_frames)


def _batches(samples: Sequence[Sample], size: int) -> Iterator[list[Sample]]:
    for start in range(0, len(samples), size):
        yield [samples[i] for i in range(start, min(start + size, len(samples)))]


def evaluate(
    predictor: Predictor,
    samples: Sequence[Sample],
    progress: bool = False,
    **evaluation_options,
) -> EvaluationResult:
    """Run ``predictor`` on every sample and score it -> `EvaluationResult`.

    Samples on another skeleton than the model's are mapped to it. ``evaluation_options``
    go to `PoseEvaluation` (pck_threshold_mm, iou_threshold, ...). With ``progress`` a
    tqdm bar counts frames on stderr.
    """
    evaluation = PoseEvaluation(predictor.skeleton, **evaluation_options)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(samples), unit="frame", desc="eval", dynamic_ncols=True)
    try:
        for batch in _batches(samples, predictor.batch_size):
            images = [sample.image for sample in batch]
            if getattr(predictor, "pose_frame", "camera") == "ray":
                # A ray-frame model turns its poses into camera axes with each image's camera.
                predictions = predictor(images, [sample.intrinsics for sample in batch])
            else:
                predictions = predictor(images)
            for poses, sample in zip(predictions, batch, strict=True):
                evaluation.add(poses, sample)
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    return evaluation.result()
