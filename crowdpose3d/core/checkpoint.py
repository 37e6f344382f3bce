"""One-file PandaNet checkpoints and the registry of built-in weights.

A checkpoint holds everything needed to rebuild and run a model: the weights, the anchor
sizes, the skeleton's name, the input size, the preset with its fields, and a format version.
It is written with ``torch.save`` and read with ``weights_only=True``, so loading a file never
runs pickled code. Shipped checkpoints live in ``crowdpose3d/weights/NAME.pt`` and are named
``builtin:NAME``.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from crowdpose3d.core.model import PandaNet
from crowdpose3d.core.skeleton import Skeleton, get_skeleton
from crowdpose3d.files import atomic_path
from crowdpose3d.messages import first_line

FORMAT_VERSION = 1
BUILTIN_PREFIX = "builtin:"
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "weights"
_REQUIRED_KEYS = ("format", "format_version", "state_dict", "anchors", "skeleton", "input_size")
_FORMAT_NAME = "crowdpose3d.pandanet"


class CheckpointError(ValueError):
    """A model file that cannot be used; the message says why and what to do."""


@dataclass
class PandaNetCheckpoint:
    """A loaded model with what it needs to run.

    Attributes:
        model: the network, in eval mode, on the requested device.
        anchors: (A, 2) anchor (w, h) in input pixels.
        skeleton: the joint set the model predicts.
        input_size: (height, width) the model was trained at (multiples of 32).
        name: where it came from (a path or ``builtin:NAME``).
        metadata: free JSON-like facts (training data, epoch, metrics ...).
        extra: other saved tensors and values (e.g. optimiser state for ``--resume``).
    """

    model: PandaNet
    anchors: Tensor
    skeleton: Skeleton
    input_size: tuple[int, int]
    name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | Path,
    model: PandaNet,
    anchors: Tensor,
    skeleton: Skeleton,
    input_size: tuple[int, int],
    metadata: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary file, then rename) -> its path."""
    if len(anchors) != model.num_anchors or skeleton.num_joints != model.num_joints:
        raise ValueError(
            f"model has {model.num_anchors} anchors and {model.num_joints} joints but "
            f"got {len(anchors)} anchors and skeleton {skeleton.name} ({skeleton.num_joints})"
        )
    payload = {
        "format": _FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model": {
            "preset": model.preset,
            "fields": dataclasses.asdict(model.config),
            "subpixel": model.subpixel,
            "num_anchors": model.num_anchors,
            "num_joints": model.num_joints,
        },
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "anchors": torch.as_tensor(anchors, dtype=torch.float32).cpu(),
        "skeleton": skeleton.name,
        "input_size": [int(input_size[0]), int(input_size[1])],
        "metadata": dict(metadata or {}),
        "extra": dict(extra or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, path.with_name(path.name + ".partial")) as partial:
        torch.save(payload, partial)
    return path


def list_builtin(builtin_dir: Path = BUILTIN_DIR) -> list[str]:
    """Names of the shipped checkpoints, usable as ``builtin:NAME``."""
    return sorted(p.stem for p in Path(builtin_dir).glob("*.pt"))


def resolve_model_path(spec: str | Path, builtin_dir: Path = BUILTIN_DIR) -> Path:
    """A model spec (a path or ``builtin:NAME``) -> an existing file, or `CheckpointError`."""
    text = str(spec)
    if text.startswith(BUILTIN_PREFIX):
        name = text[len(BUILTIN_PREFIX) :]
        path = Path(builtin_dir) / f"{name}.pt"
        if not path.is_file():
            available = ", ".join(BUILTIN_PREFIX + n for n in list_builtin(builtin_dir))
            raise CheckpointError(
                f"no built-in model named {name!r}; available: {available or 'none installed'}"
            )
        return path
    path = Path(text).expanduser()
    if not path.is_file():
        raise CheckpointError(
            f"model file not found: {path}; pass a checkpoint written by `crowdpose3d train` "
            f"or builtin:NAME"
        )
    return path


def load_checkpoint(
    spec: str | Path, device: str | torch.device = "cpu", builtin_dir: Path = BUILTIN_DIR
) -> PandaNetCheckpoint:
    """Load a checkpoint file or ``builtin:NAME`` without executing pickled code.

    Raises `CheckpointError` (one line) for a missing, corrupt, foreign or too new file.
    """
    path = resolve_model_path(spec, builtin_dir)
    try:
        with warnings.catch_warnings():  # e.g. "unexpected pickle protocol" on foreign files
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to parse an untrusted file is one error
        raise CheckpointError(
            f"{path} is not a readable crowdpose3d checkpoint ({first_line(exc)[:200]}); "
            f"is the file complete and written by `crowdpose3d train`?"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT_NAME:
        raise CheckpointError(
            f"{path} is not a crowdpose3d checkpoint (a torch file of another kind); "
            f"pass a file written by `crowdpose3d train` or builtin:NAME"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{path} is an incomplete crowdpose3d checkpoint (missing {missing})")
    if payload["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer crowdpose3d (format {payload['format_version']}, "
            f"this version reads up to {FORMAT_VERSION}); upgrade crowdpose3d"
        )
    config = payload["model"]
    try:
        skeleton = get_skeleton(payload["skeleton"])
        model = PandaNet(
            num_anchors=config["num_anchors"],
            num_joints=config["num_joints"],
            preset=config["preset"],
            subpixel=config["subpixel"],
            **config["fields"],
        )
        model.load_state_dict(payload["state_dict"])
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"{path}: the weights do not fit the model it describes ({first_line(exc)[:200]})"
        ) from None
    model.eval().to(device)
    return PandaNetCheckpoint(
        model=model,
        anchors=payload["anchors"].float(),
        skeleton=skeleton,
        input_size=(int(payload["input_size"][0]), int(payload["input_size"][1])),
        name=str(spec),
        metadata=payload.get("metadata", {}),
        extra=payload.get("extra", {}),
    )


def export_checkpoint(
    source: str | Path, destination: str | Path, half_precision: bool = True
) -> Path:
    """A copy of a training checkpoint fit to ship: no optimiser or loss state, and with
    ``half_precision`` the weights stored as float16 (half the size; loading turns them back
    into float32). Training metadata is kept."""
    checkpoint = load_checkpoint(source)
    model = checkpoint.model
    if half_precision:
        model = copy.deepcopy(model).half()
    return save_checkpoint(
        destination,
        model,
        checkpoint.anchors,
        checkpoint.skeleton,
        checkpoint.input_size,
        metadata={**checkpoint.metadata, "exported_from": str(source), "float16": half_precision},
    )
