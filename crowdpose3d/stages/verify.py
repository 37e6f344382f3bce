"""The verify stage: the detection verifier (`crowdpose3d.engine.verifier`) re-scores each
frame's detections on a thread of its own, after the model stage.

The verifier is mostly OpenCV's HOG people score of each detection's crop; in its own stage
it runs on its own thread (the runner gives every stage one), beside the model's forward
pass of the next frame, instead of after it inside the pandanet stage. The result is the
same as the pandanet stage's own ``verifier`` option: the network's detections down to
``VERIFIER_INPUT_SCORE`` (the pandanet stage's default ``score_threshold``) are re-scored,
the verifier's probability replaces the score (the network's stays in
``data["network_score"]``) and those below ``score_threshold`` are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import Field

from crowdpose3d.engine.verifier import VERIFIER_INPUT_SCORE, DetectionVerifier, load_verifier
from crowdpose3d.pipeline.defaults import DEFAULT_VERIFIER
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams


class VerifyParams(StageParams):
    verifier: str = DEFAULT_VERIFIER  # builtin, none (the stage passes frames on) or an .npz
    # applies to the verifier's score; low, as the pandanet stage's: the tracker uses them
    score_threshold: float = Field(VERIFIER_INPUT_SCORE, ge=0, le=1)


class VerifyStage(BaseStage):
    """Re-scores ``frame.poses`` with the detection verifier."""

    Params = VerifyParams

    def __init__(self, params: VerifyParams) -> None:
        super().__init__(params)
        self.params: VerifyParams = params
        self.verifier: DetectionVerifier | None = None

    def open(self, context: StageContext) -> None:
        """Load the verifier now, so a wrong weights file fails before the run."""
        super().open(context)
        try:
            self.verifier = load_verifier(self.params.verifier)
        except ValueError as error:
            raise StageError(f"verify: {error}") from None

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        threshold = self.params.score_threshold
        for frame in frames:
            if self.verifier is not None and frame.poses is not None and len(frame.poses):
                if frame.image is None:
                    raise StageError("verify needs each frame's image: put it right after pandanet")
                try:
                    frame.poses = self.verifier(frame.image, frame.poses, threshold)
                except ValueError as error:  # e.g. a model with another skeleton
                    raise StageError(f"verify: {error}") from None
            yield frame
