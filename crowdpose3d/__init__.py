"""crowdpose3d: multi-person 3D pose tracks from video of crowds and traffic scenes.

The core (``crowdpose3d.core``) implements PandaNet (Benzine et al., CVPR 2020), an
anchor-based single-shot network that detects every person and regresses each one's 2D and
3D pose in one forward pass. The public API:

- `Poses`: the people of one frame, as arrays;
- `Predictor`: a model on images -> one `Poses` per image;
- `track`: the default pipeline (video -> PandaNet -> lift -> track -> Parquet);
- `read_tracks`: the tracks dataset back as a pandas DataFrame.

`Predictor`, `track` and `read_tracks` are imported when first used, so ``import
crowdpose3d`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from crowdpose3d.poses import Poses

__version__ = "0.1.0"
__all__ = ["Poses", "Predictor", "__version__", "read_tracks", "track"]

# Public names that live in heavier modules (torch, pyarrow), imported on first use.
_LAZY = {
    "Predictor": "crowdpose3d.engine.predictor",
    "read_tracks": "crowdpose3d.tracks.io",
    "track": "crowdpose3d.api",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'crowdpose3d' has no attribute {name!r}")
