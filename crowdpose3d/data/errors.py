"""`DatasetError`: what the dataset loaders raise when files on disk are missing or unreadable."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or not in the expected format.

    The message is one line: which file, what is wrong with it and what to do about it.
    """
