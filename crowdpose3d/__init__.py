"""crowdpose3d: multi-person 3D pose tracks from video of crowds and traffic scenes.

The core (``crowdpose3d.core``) implements PandaNet (Benzine et al., CVPR 2020), an
anchor-based single-shot network that detects every person and regresses each one's 2D and
3D pose in one forward pass.
"""

from crowdpose3d.poses import Poses

__version__ = "0.1.0"
__all__ = ["Poses", "__version__"]
