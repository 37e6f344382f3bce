"""Datasets (JTA, CMU Panoptic, MuPoTS-3D/MuCo-3DHP, COCO), transforms and the synthetic
crowd generator. Every loader yields the same `Sample` record."""

from crowdpose3d.data.sample import Sample

__all__ = ["Sample"]
