"""Procedural crowd and traffic scenes with JTA-format annotations (`crowdpose3d synth`).

    from crowdpose3d.data.synth import SynthConfig, generate_sequence, generate_dataset

    config = SynthConfig(num_frames=90, min_people=10, max_people=30)
    for frame in generate_sequence(config, seed=3):   # in memory
        frame.image, frame.joints2d, frame.joints3d, frame.occluded, frame.person_ids
    generate_dataset("out/synth", config, {"train": 6, "val": 1, "test": 1}, seed=0)

Modules, one idea each: config (settings), camera_sampling (random camera, visible
ground), body (proportions, clothing), motion (procedural gait), crowd (paths, spawning,
ids), traffic (road and vehicles), solids (parts as spheres' hulls), background (static
scene), render (painter's algorithm), occlusion (flags from the label image), sequence
(frames in memory), writer (JTA files).
"""

from crowdpose3d.data.synth.config import SynthConfig
from crowdpose3d.data.synth.sequence import SynthFrame, SynthSequence, generate_sequence
from crowdpose3d.data.synth.writer import (
    frame_rows,
    generate_dataset,
    parse_split,
    sequence_numbers,
    sequence_seed,
    write_sequence,
)

__all__ = [
    "SynthConfig",
    "SynthFrame",
    "SynthSequence",
    "frame_rows",
    "generate_dataset",
    "generate_sequence",
    "parse_split",
    "sequence_numbers",
    "sequence_seed",
    "write_sequence",
]
