"""Cameras, projection and the recovery of metric 3D poses from 2D + normalised 3D."""
