"""`crowdpose3d train CONFIG.yaml`: PandaNet training as in the paper (section 4).

SGD with momentum 0.9, an initial learning rate of 0.005 with polynomial decay (power 0.9)
over all iterations, the paper's random crops and scales (plus flips and colour jitter),
anchors by k-means on the training boxes (stored in the checkpoint), bf16 autocast on CUDA,
one checkpoint per epoch (``last.pt``) that ``--resume`` continues from, a progress bar, and a
JSON-lines log with every loss part and the learned loss weights per epoch.

Several processes (``torchrun --nproc_per_node N -m crowdpose3d.cli train ...``) train with
DistributedDataParallel: NCCL and SyncBatchNorm on GPUs as in the paper; on CPUs the gloo
backend with per-process BatchNorm (PyTorch's SyncBatchNorm runs on GPUs only). The
configured batch size is the global one, split evenly between processes.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from crowdpose3d.core.anchors import anchor_grid, kmeans_anchors, mean_best_iou
from crowdpose3d.core.checkpoint import load_checkpoint, save_checkpoint
from crowdpose3d.core.losses import LossResult, PandaNetLoss
from crowdpose3d.core.model import PRESETS, PandaNet
from crowdpose3d.core.skeleton import SKELETONS, Skeleton, get_skeleton
from crowdpose3d.core.targets import AnchorMatcher, GroundTruth
from crowdpose3d.data.dataset import PoseDataset, SampleSubset, collate
from crowdpose3d.data.sample import Sample
from crowdpose3d.data.transforms import (
    ColorJitter,
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
)
from crowdpose3d.engine.datasets import DatasetKind, open_dataset, spread_evenly
from crowdpose3d.messages import first_line

LAST_CHECKPOINT = "last.pt"
LOG_FILE = "log.jsonl"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSource(_Strict):
    """One training dataset (`crowdpose3d.engine.datasets`: the kinds ``crowdpose3d eval
    --data KIND:ROOT`` names too). ``jta`` reads JTA's layout, which `crowdpose3d synth`
    writes (composites on real photographs too: ``synth --backgrounds``); ``photos`` reads a
    `crowdpose3d photos` folder as negative frames (nobody in them)."""

    type: DatasetKind = "jta"
    root: str
    split: str = "train"
    frame_step: int = Field(1, ge=1)
    max_samples: int | None = Field(None, ge=1)
    repeat: int = Field(1, ge=1)  # list the source this many times (a larger share)
    cache_dir: str | None = None  # jta: keep decoded frames here (memory-mapped), decode once


class ModelSection(_Strict):
    preset: str = "small"
    skeleton: str = "jta22"
    num_anchors: int = Field(10, ge=1)
    subpixel: bool = True
    # Frame of the 3D output: "camera" axes (the paper) or the person's viewing "ray"
    # (crowdpose3d/geometry/rays.py); stored in the checkpoint as metadata "pose_frame".
    pose_frame: Literal["camera", "ray"] = "camera"

    @field_validator("preset", "skeleton")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        known = PRESETS if info.field_name == "preset" else SKELETONS
        if value not in known:
            raise ValueError(f"unknown {info.field_name} {value!r}; choose from {sorted(known)}")
        return value


class LossSection(_Strict):
    weighting: Literal["fixed", "task", "task+anchor", "task+anchor+joint"] = "task+anchor+joint"
    selection: Literal["none", "box", "pose"] = "pose"  # Table 1's rows
    classification_balance: Literal["mean", "balanced", "balanced+hard"] = "mean"  # mean: eq. 11
    pose3d_share: float = Field(1.0, gt=0)  # times the 3D task's term (1: the paper; losses.py)
    start_at_equilibrium: bool = False  # task weights start at 1 / L, not 1 (losses.py)


class AugmentSection(_Strict):
    min_scale: float = Field(0.7, gt=0)  # relative to fitting the image into the input size
    max_scale: float = Field(1.5, gt=0)
    flip: bool = True
    color_jitter: bool = True
    # Real-camera effects (crowdpose3d/data/camera_effects.py): white balance, defocus and
    # motion blur, low resolution, sensor noise, JPEG and H.264; False, True (the default
    # probabilities) or {effect: probability} to change some.
    camera_effects: bool | dict[str, float] = False

    @field_validator("camera_effects")
    @classmethod
    def _known_effects(cls, value: bool | dict[str, float]) -> bool | dict[str, float]:
        if isinstance(value, dict):
            from crowdpose3d.data.camera_effects import CameraEffects

            CameraEffects(value)  # a ValueError naming the unknown effect or bad probability
        return value


class TrainConfig(_Strict):
    """A training run; every key of the YAML file, validated before anything starts."""

    output_dir: str
    data: list[DataSource] = Field(min_length=1)
    model: ModelSection = ModelSection()
    loss: LossSection = LossSection()
    augment: AugmentSection = AugmentSection()
    input_size: tuple[int, int] = (320, 512)  # (height, width), multiples of 32
    batch_size: int = Field(24, ge=1)  # global, split between processes
    epochs: int = Field(10, ge=1)
    max_iterations: int | None = Field(None, ge=1)  # stop early (and decay over these)
    learning_rate: float = Field(0.005, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    poly_power: float = Field(0.9, ge=0)
    warmup_iterations: int = Field(0, ge=0)  # linear warm-up (not in the paper; 0 = off)
    num_workers: int = Field(2, ge=0)
    anchor_samples: int = Field(500, ge=1)  # samples whose boxes feed the anchor k-means
    seed: int = 0
    amp: bool = True  # bf16 autocast on CUDA
    cpu_amp: bool = False  # bf16 autocast on CPUs too (faster where they have AVX512-BF16/AMX)
    init_from: str | None = None  # warm start: weights and anchors of a checkpoint or builtin:NAME
    checkpoint_every: int | None = Field(None, ge=1)  # also save last.pt every N iterations

    @field_validator("input_size")
    @classmethod
    def _multiple_of_32(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] % 32 or value[1] % 32 or min(value) <= 0:
            raise ValueError(f"input_size {list(value)} must be positive multiples of 32")
        return value


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read and validate a YAML training config; ``overrides`` replace top-level keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {first_line(exc)}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a training config is a YAML mapping of keys")
    data.update(overrides or {})
    return TrainConfig.model_validate(data)


def open_source(source: DataSource, skeleton: Skeleton) -> Sequence[Sample]:
    """The dataset loader of one `DataSource` (`crowdpose3d.engine.datasets`)."""
    dataset = open_dataset(
        source.type,
        source.root,
        split=source.split,
        skeleton=skeleton,
        frame_step=source.frame_step,
        cache_dir=source.cache_dir,
    )
    dataset = spread_evenly(dataset, source.max_samples)
    if source.repeat > 1:
        dataset = SampleSubset(dataset, list(range(len(dataset))) * source.repeat)
    return dataset


class _Concat(Sequence[Sample]):
    """Datasets end to end."""

    def __init__(self, datasets: list[Sequence[Sample]]) -> None:
        self.datasets = datasets
        self.offsets = np.cumsum([0] + [len(d) for d in datasets])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        which = int(np.searchsorted(self.offsets, index, side="right") - 1)
        return self.datasets[which][index - int(self.offsets[which])]


def compute_anchors(samples: Sequence[Sample], config: TrainConfig) -> tuple[np.ndarray, float]:
    """k-means anchor sizes (A, 2) on the training boxes at the input scale, and their fit.

    Boxes are measured after the scale that fits each image into the input size, the centre
    of the random-scale augmentation.
    """
    height, width = config.input_size
    picks = np.linspace(0, len(samples) - 1, min(config.anchor_samples, len(samples)))
    sizes = []
    for index in np.unique(picks.round().astype(int)):
        sample = samples[int(index)]
        fit = min(height / sample.intrinsics.height, width / sample.intrinsics.width)
        sizes.append((sample.boxes[:, 2:] - sample.boxes[:, :2]) * fit)
    sizes = np.concatenate(sizes) if sizes else np.zeros((0, 2))
    anchors = kmeans_anchors(sizes, config.model.num_anchors, seed=config.seed)
    return anchors, mean_best_iou(sizes, anchors)


def training_transform(config: TrainConfig) -> Compose:
    """The paper's random scales and crops, plus flips and colour jitter."""
    height, width = config.input_size
    steps = [
        RandomScale(config.augment.min_scale, config.augment.max_scale, fit_size=(height, width)),
        RandomCrop(height, width),
    ]
    if config.augment.flip:
        steps.append(RandomHorizontalFlip())
    if config.augment.color_jitter:
        steps.append(ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03))
    effects = config.augment.camera_effects
    if effects:
        from crowdpose3d.data.camera_effects import CameraEffects

        steps.append(CameraEffects(effects if isinstance(effects, dict) else None))
    return Compose(steps)


class TrainingModule(nn.Module):
    """The network and its loss (with the trainable loss weights) as one module, so that
    DistributedDataParallel averages the gradients of both."""

    def __init__(self, model: PandaNet, criterion: PandaNetLoss, anchors: Tensor) -> None:
        super().__init__()
        self.model = model
        self.criterion = criterion
        self.matcher = AnchorMatcher()
        self.register_buffer("anchor_sizes", torch.as_tensor(anchors, dtype=torch.float32))

    def forward(self, images: Tensor, ground_truth: list[GroundTruth]) -> LossResult:
        outputs = self.model(images)  # maps (B, H', W', A, ...)
        height, width = outputs.scores.shape[1:3]
        grid = anchor_grid(self.anchor_sizes, height, width, self.model.output_stride)
        targets = self.matcher(grid, ground_truth)
        return self.criterion(outputs, targets)


def _warm_start(model: PandaNet, config: TrainConfig) -> tuple[np.ndarray, float]:
    """Copy the weights of ``config.init_from`` into ``model`` -> its anchors and their fit.

    The heads regress offsets against the anchors they were trained with, so the anchors come
    from the checkpoint too; preset, skeleton and anchor count must match the config.
    """
    checkpoint = load_checkpoint(config.init_from)
    theirs = (checkpoint.model.preset, checkpoint.skeleton.name, len(checkpoint.anchors))
    ours = (config.model.preset, config.model.skeleton, config.model.num_anchors)
    if theirs != ours:
        raise ValueError(
            f"init_from {config.init_from} is (preset, skeleton, anchors) = {theirs} but the "
            f"config asks for {ours}; make model: match it"
        )
    model.load_state_dict(checkpoint.model.state_dict())  # float32 even if shipped as float16
    fit = float(checkpoint.metadata.get("anchor_mean_iou", float("nan")))
    return checkpoint.anchors.numpy(), fit


def poly_learning_rate(config: TrainConfig, iteration: int, total: int) -> float:
    """Polynomial decay (power 0.9 in the paper) after an optional linear warm-up."""
    rate = config.learning_rate * (1 - min(iteration, total) / total) ** config.poly_power
    if iteration < config.warmup_iterations:
        rate *= (iteration + 1) / config.warmup_iterations
    return rate


def _distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


def _choose_device(local_rank: int) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def _scalars(result: LossResult) -> dict[str, float]:
    """Loss parts and task weights as plain floats for the log."""
    values = {f"loss/{k}": float(v) for k, v in result.parts.items()}
    values["loss/total"] = float(result.total.detach())
    values.update({k: float(v) for k, v in result.weights.items() if v.ndim == 0})
    return values


@dataclass(frozen=True)
class Processes:
    """Where this process trains: its rank among ``world`` processes and its device."""

    rank: int
    world: int
    device: torch.device


@dataclass
class TrainingState:
    """What a run carries from one step to the next and saves in ``last.pt``."""

    anchors: np.ndarray  # (A, 2) anchor sizes in input pixels
    anchor_fit: float  # mean best IoU of the training boxes with the anchors
    start_epoch: int = 0
    iteration: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # optimiser/criterion state to resume


def set_up_processes(config: TrainConfig) -> Processes:
    """Step 1, set-up: the process group under torchrun, the device, the seed."""
    rank, world, local_rank = _distributed()
    device = _choose_device(local_rank)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if config.batch_size % world:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by {world} processes")
    torch.manual_seed(config.seed + rank)
    return Processes(rank, world, device)


def open_training_data(config: TrainConfig, skeleton: Skeleton) -> Sequence[Sample]:
    """Step 2, data: every configured source, end to end."""
    samples = _Concat([open_source(source, skeleton) for source in config.data])
    if len(samples) == 0:
        raise ValueError("the training data holds no labelled image; check data[].root/split")
    return samples


def build_model_and_loss(config: TrainConfig, skeleton: Skeleton) -> tuple[PandaNet, PandaNetLoss]:
    """Step 3, model and loss, as the config's model: and loss: sections describe them."""
    model = PandaNet(
        num_anchors=config.model.num_anchors,
        num_joints=skeleton.num_joints,
        preset=config.model.preset,
        subpixel=config.model.subpixel,
    )
    criterion = PandaNetLoss(
        config.model.num_anchors,
        skeleton.num_joints,
        weighting=config.loss.weighting,
        selection=config.loss.selection,
        classification_balance=config.loss.classification_balance,
        pose3d_share=config.loss.pose3d_share,
    )
    return model, criterion


def initial_state(
    config: TrainConfig,
    model: PandaNet,
    criterion: PandaNetLoss,
    samples: Sequence[Sample],
    resume: bool,
) -> TrainingState:
    """Step 4, the start: resume ``last.pt`` (weights, anchors, loss weights, counters),
    or warm-start from ``init_from``, or fresh weights with k-means anchors."""
    if resume:
        last_path = Path(config.output_dir) / LAST_CHECKPOINT
        if not last_path.is_file():
            raise FileNotFoundError(f"nothing to resume: {last_path} does not exist")
        checkpoint = load_checkpoint(last_path)
        model.load_state_dict(checkpoint.model.state_dict())
        extra = checkpoint.extra
        criterion.load_state_dict(extra["criterion"])
        return TrainingState(
            anchors=checkpoint.anchors.numpy(),
            anchor_fit=float(checkpoint.metadata.get("anchor_mean_iou", float("nan"))),
            start_epoch=int(extra["epoch"]) + 1,
            iteration=int(extra["iteration"]),
            extra=extra,
        )
    if config.init_from is not None:
        return TrainingState(*_warm_start(model, config))
    return TrainingState(*compute_anchors(samples, config))


def build_optimiser(
    config: TrainConfig, module: nn.Module, state: TrainingState
) -> torch.optim.Optimizer:
    """SGD with momentum on every trainable parameter (the loss weights included); a
    resumed run gets its momentum buffers back."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    optimiser = torch.optim.SGD(
        trainable,
        lr=config.learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    if state.extra:
        optimiser.load_state_dict(state.extra["optimizer"])
    return optimiser


def training_loader(
    config: TrainConfig, samples: Sequence[Sample], skeleton: Skeleton, processes: Processes
) -> tuple[PoseDataset, DistributedSampler, DataLoader]:
    """The augmented dataset, this process's share of it and the batches."""
    dataset = PoseDataset(
        samples,
        training_transform(config),
        skeleton,
        input_size=config.input_size,
        seed=config.seed,
        image_dtype=torch.uint8,
        pose_frame=config.model.pose_frame,
    )
    world, rank = processes.world, processes.rank
    sampler = DistributedSampler(dataset, world, rank, shuffle=True, seed=config.seed)
    loader = DataLoader(
        dataset,
        batch_size=config.batch_size // world,
        sampler=sampler,
        num_workers=config.num_workers,
        collate_fn=collate,
        drop_last=len(dataset) >= config.batch_size,
        pin_memory=processes.device.type == "cuda",
    )
    return dataset, sampler, loader


def save_state(
    config: TrainConfig,
    model: PandaNet,
    criterion: PandaNetLoss,
    optimiser: torch.optim.Optimizer,
    skeleton: Skeleton,
    state: TrainingState,
    completed_epoch: int,
) -> None:
    """last.pt after ``completed_epoch`` (-1: none yet); --resume restarts the next one."""
    save_checkpoint(
        Path(config.output_dir) / LAST_CHECKPOINT,
        model,
        torch.from_numpy(state.anchors),
        skeleton,
        config.input_size,
        metadata={
            "epoch": completed_epoch,
            "iteration": state.iteration,
            "anchor_mean_iou": state.anchor_fit,
            "pose_frame": config.model.pose_frame,
            "config": config.model_dump(mode="json"),
        },
        extra={
            "optimizer": optimiser.state_dict(),
            "criterion": criterion.state_dict(),
            "epoch": completed_epoch,
            "iteration": state.iteration,
        },
    )


def train(config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Run (or continue) a training run -> the path of the last checkpoint."""
    processes = set_up_processes(config)
    rank, world, device = processes.rank, processes.world, processes.device
    output = Path(config.output_dir)
    skeleton = get_skeleton(config.model.skeleton)
    samples = open_training_data(config, skeleton)
    model, criterion = build_model_and_loss(config, skeleton)
    state = initial_state(config, model, criterion, samples, resume)
    module = TrainingModule(model, criterion, torch.from_numpy(state.anchors)).to(device)
    if world > 1 and device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    optimiser = build_optimiser(config, module, state)
    wrapped: nn.Module = module
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            module,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,  # a batch without 3D labels leaves the 3D weights out
        )
    dataset, sampler, loader = training_loader(config, samples, skeleton, processes)
    if rank == 0:
        output.mkdir(parents=True, exist_ok=True)
        (output / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))

    def save(completed_epoch: int) -> None:
        save_state(config, model, criterion, optimiser, skeleton, state, completed_epoch)

    run_epochs(
        config,
        processes,
        wrapped,
        criterion,
        optimiser,
        dataset,
        sampler,
        loader,
        state,
        save,
        progress,
    )
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return output / LAST_CHECKPOINT


def run_epochs(
    config: TrainConfig,
    processes: Processes,
    wrapped: nn.Module,
    criterion: PandaNetLoss,
    optimiser: torch.optim.Optimizer,
    dataset: PoseDataset,
    sampler: DistributedSampler,
    loader: DataLoader,
    state: TrainingState,
    save: Callable[[int], None],
    progress: bool = True,
) -> None:
    """Step 5, the loop: polynomial learning rate, autocast, a log line and ``save`` after
    every epoch (and every ``checkpoint_every`` iterations)."""
    rank, device = processes.rank, processes.device
    output = Path(config.output_dir)
    total = len(loader) * config.epochs
    if config.max_iterations is not None:
        total = min(total, config.max_iterations)
    autocast = config.amp if device.type == "cuda" else config.cpu_amp
    for epoch in range(state.start_epoch, config.epochs):
        if state.iteration >= total:
            break
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        wrapped.train()
        sums: dict[str, float] = defaultdict(float)
        count, started = 0, time.perf_counter()
        bar = tqdm(
            loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not progress or rank != 0
        )
        for images, ground_truth, _ in bar:
            if state.iteration >= total:
                break
            for group in optimiser.param_groups:
                group["lr"] = poly_learning_rate(config, state.iteration, total)
            images = images.to(device, non_blocking=True).float() / 255
            ground_truth = [gt.to(device) for gt in ground_truth]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                result = wrapped(images, ground_truth)
            fresh_start = state.iteration == 0 and not state.extra  # not a resumed run
            if config.loss.start_at_equilibrium and fresh_start:
                criterion.start_at_equilibrium(result)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    result = wrapped(images, ground_truth)
            optimiser.zero_grad(set_to_none=True)
            result.total.backward()
            optimiser.step()
            values = _scalars(result)
            if not math.isfinite(values["loss/total"]):
                raise FloatingPointError(
                    f"the loss became {values['loss/total']} at iteration {state.iteration}; "
                    "lower learning_rate or add warmup_iterations"
                )
            for key, value in values.items():
                sums[key] += value
            count += 1
            state.iteration += 1
            bar.set_postfix(loss=f"{values['loss/total']:.3f}", lr=f"{group['lr']:.2g}")
            every = config.checkpoint_every
            if rank == 0 and every and state.iteration % every == 0:
                save(epoch - 1)  # mid-epoch: a resume repeats this epoch's data order
        if rank == 0 and count:
            _write_epoch(
                output,
                epoch,
                state.iteration,
                count,
                sums,
                time.perf_counter() - started,
                criterion,
                optimiser,
            )
            save(epoch)


def _write_epoch(
    output: Path,
    epoch: int,
    iteration: int,
    count: int,
    sums: dict[str, float],
    seconds: float,
    criterion: PandaNetLoss,
    optimiser: torch.optim.Optimizer,
) -> None:
    """Append one line to log.jsonl: mean loss parts, lr, and every learned weight."""
    record: dict[str, Any] = {
        "epoch": epoch,
        "iteration": iteration,
        "seconds": round(seconds, 2),
        "lr": optimiser.param_groups[0]["lr"],
    }
    record.update({key: value / count for key, value in sums.items()})
    for key, value in criterion.weights.as_dict().items():
        if value.ndim:
            record[key] = value.cpu().numpy().round(5).tolist()
    with open(output / LOG_FILE, "a") as stream:
        stream.write(json.dumps(record) + "\n")
