"""PandaNet: the trained model, its anchors, targets, losses and decoding.

Nothing in this package knows about video; see ``crowdpose3d.pipeline`` for that.
"""
