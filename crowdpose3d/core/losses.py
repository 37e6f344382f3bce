"""PandaNet's losses (eq. 5-8, 10) and their automatic weighting (eq. 11-15).

Every weight lambda is stored as a log-variance ``s`` with ``lambda = exp(-s)``, so it stays
positive whatever the optimiser does and its regulariser ``log(1 / lambda)`` is simply ``s``
(Kendall et al.'s homoscedastic uncertainty). A weight that is not learned is a constant
``s = 0``: lambda = 1 and the regulariser vanishes, so one formula serves every row of the
paper's Table 2 (`WEIGHTING_MODES`).

Eq. 13-14 as printed regularise only the anchor-joint weights of the 2D and 3D terms; without
a regulariser a learned task weight lambda_2D or lambda_3D would collapse to 0, so the task
regulariser ``log(1 / lambda_task)`` is added to every task, as in eq. 11-12.

Two options that are not in the paper, both off by default (docs/models.md, "Why the 3D
head learns only the mean"): ``pose3d_share`` multiplies the 3D task's weighted term, and
`PandaNetLoss.start_at_equilibrium` starts the task weights at 1 / L instead of 1. The 3D
loss of eq. 8 in bone-length units is about 2e-3, so at lambda = 1 it gave 0.1 % of the
backbone's gradient and at the learned equilibrium about 10 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crowdpose3d.core.boxes import box_iou, unit_square_iou
from crowdpose3d.core.coding import BoxCoder
from crowdpose3d.core.targets import SelectionMode, Targets, readout_labels

if TYPE_CHECKING:
    from crowdpose3d.core.model import PandaNetOutput

WeightingMode = Literal["fixed", "task", "task+anchor", "task+anchor+joint"]
WEIGHTING_MODES: tuple[str, ...] = ("fixed", "task", "task+anchor", "task+anchor+joint")
TASKS: tuple[str, ...] = ("cls", "loc", "2d", "3d")
ClassificationBalance = Literal["mean", "balanced", "balanced+hard"]
CLASSIFICATION_BALANCES: tuple[str, ...] = ("mean", "balanced", "balanced+hard")
HARD_NEGATIVES_PER_POSITIVE = 3  # as SSD's hard negative mining
MIN_HARD_NEGATIVES = 16


def box_loss(predicted_boxes: Tensor, target_boxes: Tensor) -> Tensor:
    """Eq. 5: (1 - IoU)^2 of (P, 4) xyxy boxes -> (P,)."""
    return (1.0 - box_iou(predicted_boxes, target_boxes)) ** 2


def pose2d_loss(predicted: Tensor, target: Tensor) -> Tensor:
    """Eq. 6-7: (1 - IoU of unit squares)^2 of (P, K, 2) anchor-space joints -> (P, K)."""
    return (1.0 - unit_square_iou(predicted, target)) ** 2


def pose3d_loss(predicted: Tensor, target: Tensor) -> Tensor:
    """Eq. 8: squared Euclidean distance of (P, K, 3) joints -> (P, K)."""
    return ((predicted - target) ** 2).sum(dim=-1)


class LossWeights(nn.Module):
    """The trainable weights of eq. 11-14 as log-variances (lambda = exp(-s)).

    Attributes (all initialised to s = 0, lambda = 1):
        task: (4,) for cls, loc, 2d, 3d; learned unless mode is ``fixed``.
        anchor_cls, anchor_loc: (A,); learned in ``task+anchor`` and ``task+anchor+joint``.
        joint_2d, joint_3d: (A, K); learned in ``task+anchor+joint``.
    """

    def __init__(self, num_anchors: int, num_joints: int, mode: WeightingMode) -> None:
        super().__init__()
        if mode not in WEIGHTING_MODES:
            raise ValueError(f"unknown loss weighting {mode!r}; choose from {WEIGHTING_MODES}")
        self.mode = mode
        learn_task = mode != "fixed"
        learn_anchor = mode in ("task+anchor", "task+anchor+joint")
        learn_joint = mode == "task+anchor+joint"

        def log_variance(*shape: int, learned: bool) -> nn.Parameter:
            return nn.Parameter(torch.zeros(*shape), requires_grad=learned)

        self.task = log_variance(len(TASKS), learned=learn_task)
        self.anchor_cls = log_variance(num_anchors, learned=learn_anchor)
        self.anchor_loc = log_variance(num_anchors, learned=learn_anchor)
        self.joint_2d = log_variance(num_anchors, num_joints, learned=learn_joint)
        self.joint_3d = log_variance(num_anchors, num_joints, learned=learn_joint)

    def task_log_variance(self, task: str) -> Tensor:
        return self.task[TASKS.index(task)]

    def as_dict(self) -> dict[str, Tensor]:
        """Current lambdas (detached) for logging: scalars per task, arrays per anchor/joint."""
        weights = {
            f"task/{name}": torch.exp(-s).detach() for name, s in zip(TASKS, self.task, strict=True)
        }
        weights["anchor/cls"] = torch.exp(-self.anchor_cls).detach()
        weights["anchor/loc"] = torch.exp(-self.anchor_loc).detach()
        weights["joint/2d"] = torch.exp(-self.joint_2d).detach()
        weights["joint/3d"] = torch.exp(-self.joint_3d).detach()
        return weights


@dataclass
class LossResult:
    """The total loss (eq. 15) with its parts for logging.

    ``parts`` holds, per task, the unweighted mean loss (``cls``, ``loc``, ``2d``, ``3d``) and
    the weighted task loss with its regularisers (``weighted/cls`` ...), plus the number of
    positives and of readout anchors. ``weights`` holds the current lambdas.
    ``data_terms`` holds each task's data term before its task weight, with its gradient
    (for measuring how much each task moves the network, benchmarks/loss_share.py).
    """

    total: Tensor
    parts: dict[str, Tensor]
    weights: dict[str, Tensor]
    data_terms: dict[str, Tensor] = field(default_factory=dict)


class PandaNetLoss(nn.Module):
    """The total training loss of eq. 15 with anchor selection (eq. 9) and weighting (11-14).

    Args:
        num_anchors, num_joints: N_A and N_K.
        weighting: which lambdas are learned (`WEIGHTING_MODES`), Table 2's rows.
        selection: readout-anchor selection for the score labels (``none``, ``box`` or
            ``pose``), Table 1's rows.
        box_coder: decodes predicted offsets into boxes.
        classification_balance: ``mean`` averages the BCE over all anchors (eq. 11, the
            paper); ``balanced`` (not in the paper) averages readout anchors and the others
            separately and adds the two means, so the few positives among ~10^5 anchors are
            not drowned out. On short CPU training runs the paper's mean left every score
            at its 0.01 prior (see docs/ablations.md). ``balanced+hard`` (not in the paper)
            adds a third mean: over the hardest negatives of the batch, three per readout
            anchor (at least 16), as SSD's hard negative mining, so that the rare person-like
            background (posts, tripods, windows) weighs as much as a person.
        pose3d_share: multiplies the 3D task's whole weighted term (lambda L + log 1/lambda);
            1 is the paper. The learned lambda settles where it makes each task's term
            about 1 (lambda = 1 / L), so every task then moves the network with a gradient
            of about grad L / L, and the factor multiplies the 3D task's part of it. Measured
            on the shipped model (benchmarks/loss_share.py) the 3D task gave 9-11 % of the
            backbone's gradient at that equilibrium and 0.1 % at lambda = 1, and the
            backbone's features held no body orientation (benchmarks/pose_probe.py); see
            docs/models.md.
    """

    def __init__(
        self,
        num_anchors: int,
        num_joints: int,
        weighting: WeightingMode = "task+anchor+joint",
        selection: SelectionMode = "pose",
        box_coder: BoxCoder | None = None,
        classification_balance: ClassificationBalance = "mean",
        pose3d_share: float = 1.0,
    ) -> None:
        super().__init__()
        if pose3d_share <= 0:
            raise ValueError(f"pose3d_share must be > 0, got {pose3d_share}")
        self.pose3d_share = float(pose3d_share)
        if classification_balance not in CLASSIFICATION_BALANCES:
            raise ValueError(
                f"unknown classification balance {classification_balance!r}; "
                f"choose from {CLASSIFICATION_BALANCES}"
            )
        self.classification_balance = classification_balance
        self.weights = LossWeights(num_anchors, num_joints, weighting)
        self.selection = selection
        self.box_coder = box_coder or BoxCoder()

    def forward(self, outputs: PandaNetOutput, targets: Targets) -> LossResult:
        weights = self.weights
        parts: dict[str, Tensor] = {}
        self._data_terms: dict[str, Tensor] = {}
        terms = [self._classification(outputs, targets, parts)]

        index = targets.positive_index  # (P,)
        anchor_id = targets.anchor_id  # (P,)
        parts["num_positives"] = torch.tensor(float(index.numel()))
        if index.numel() > 0:
            predicted_boxes = self.box_coder.decode(
                outputs.box_offsets.reshape(-1, 4)[index].float(), targets.anchors
            )
            loc = box_loss(predicted_boxes, targets.boxes)  # (P,)
            parts["loc"] = loc.mean().detach()
            loc_weights = torch.exp(-weights.anchor_loc[anchor_id])  # (P,)
            terms.append(
                self._weighted("loc", (loc_weights * loc).mean(), weights.anchor_loc.mean(), parts)
            )
            for task in ("2d", "3d"):
                term = self._joint_term(task, outputs, targets, parts)
                if term is not None:
                    terms.append(term)
        else:
            # Keep every head in the graph so distributed training sees the same parameters.
            heads = (outputs.box_offsets, outputs.kp2d, outputs.kp3d)
            terms.append(0.0 * sum(head.sum() for head in heads))

        total = torch.stack([torch.as_tensor(t).reshape(()) for t in terms]).sum()
        return LossResult(
            total=total, parts=parts, weights=weights.as_dict(), data_terms=self._data_terms
        )

    def _joint_term(
        self, task: str, outputs: PandaNetOutput, targets: Targets, parts: dict[str, Tensor]
    ) -> Tensor | None:
        """Eq. 13 (task ``2d``) or eq. 14 (``3d``) over the positives' valid joints."""
        if task == "2d":
            loss_fn, predicted, target = pose2d_loss, outputs.kp2d, targets.kp2d
            valid, joint_s = targets.kp2d_valid, self.weights.joint_2d
        else:
            loss_fn, predicted, target = pose3d_loss, outputs.kp3d, targets.kp3d
            valid, joint_s = targets.kp3d_valid, self.weights.joint_3d
        count = valid.sum()
        if count == 0:  # e.g. a batch of 2D-only images has no 3D term at all
            return None
        num_joints, dims = predicted.shape[-2:]
        selected = predicted.reshape(-1, num_joints, dims)[targets.positive_index].float()
        per_joint = torch.where(valid, loss_fn(selected, target), 0.0)  # (P, K)
        parts[task] = (per_joint.sum() / count).detach()
        lam = torch.exp(-joint_s[targets.anchor_id])  # (P, K)
        return self._weighted(task, (lam * per_joint).sum() / count, joint_s.mean(), parts)

    def _classification(
        self, outputs: PandaNetOutput, targets: Targets, parts: dict[str, Tensor]
    ) -> Tensor:
        """Eq. 10-11: BCE against the readout labels C, per-anchor weighted."""
        labels = readout_labels(
            targets, outputs.box_offsets, outputs.kp2d, self.selection, box_coder=self.box_coder
        )  # (B, H, W, A)
        parts["num_readout"] = labels.sum().detach()
        bce = F.binary_cross_entropy_with_logits(
            outputs.scores.float(), labels, reduction="none"
        )  # (B, H, W, A)
        parts["cls"] = bce.mean().detach()
        weighted_bce = bce * torch.exp(-self.weights.anchor_cls)  # (B, H, W, A)
        if self.classification_balance in ("balanced", "balanced+hard"):
            positive = labels > 0
            negatives = weighted_bce[~positive]
            data = negatives.mean()
            if positive.any():
                data = data + weighted_bce[positive].mean()
            if self.classification_balance == "balanced+hard":
                count = max(HARD_NEGATIVES_PER_POSITIVE * int(positive.sum()), MIN_HARD_NEGATIVES)
                hardest = negatives.topk(min(count, negatives.numel())).values
                data = data + hardest.mean()
        else:  # eq. 11: the mean over all H * W * N_A anchors
            data = weighted_bce.mean()
        return self._weighted("cls", data, self.weights.anchor_cls.mean(), parts)

    def _weighted(
        self, task: str, data: Tensor, inner_regulariser: Tensor, parts: dict[str, Tensor]
    ) -> Tensor:
        """lambda_task * data + log(1/lambda_task) + inner regulariser (mean of inner s),
        times ``pose3d_share`` for the 3D task."""
        self._data_terms[task] = data
        task_s = self.weights.task_log_variance(task)
        weighted = torch.exp(-task_s) * data + task_s + inner_regulariser
        if task == "3d" and self.pose3d_share != 1.0:
            weighted = self.pose3d_share * weighted
        parts[f"weighted/{task}"] = weighted.detach()
        return weighted

    @torch.no_grad()
    def start_at_equilibrium(self, result: LossResult) -> None:
        """Set each learned task weight to its equilibrium 1 / L_task for the losses of
        ``result`` (a first batch), instead of lambda = 1.

        A run that starts from trained weights (init_from) but fresh loss weights would
        otherwise spend its first hundred steps with lambda_3D = 1, where the 3D term
        (L about 2e-3) gives 0.1 % of the backbone's gradient. Not in the paper.
        """
        task = self.weights.task
        if not task.requires_grad:
            return
        for index, name in enumerate(TASKS):
            value = result.data_terms.get(name)
            if value is not None and float(value) > 0:
                task[index] = torch.log(value.detach().float().reshape(()))
