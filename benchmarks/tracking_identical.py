"""Whether our tracker gives exactly the output of the tracker of a git revision, frame by
frame, on the cached detections of `tracking_peers.py`'s clips (a speed change must not
change a result).

    python benchmarks/tracking_identical.py fa8bece --set cut_box_cue_weight=1
    python benchmarks/tracking_identical.py 4b7bf1a --verified   # the default pipeline's

Both trackers get each frame's detections with the clip's frame size (as the track stage
gives it); ours is the track stage's tracker with its defaults and the ``--set`` changes,
the revision's one is loaded as ``tracking_peers.py --old-tracker`` loads it (its tracking/
package and its track stage's defaults). Prints, per clip, the frames whose output differs
(ids, boxes, filtered roots or velocities: `tracking_speed.same_output`), and exits 1 if
any does.
With ``--verified`` the detections are the verify stage's (``tracking_peers.py
--verified``, what the default pipeline tracks), each person with the appearance descriptor
cached beside them. Needs the clips' caches: run ``tracking_peers.py`` (both splits, with
the same ``--verified``) first.
"""

from __future__ import annotations

import argparse
import sys

import tracking_peers  # benchmarks/ is on sys.path
from tracking_speed import same_output

from crowdpose3d.stages.track import TrackParams, TrackStage


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revision", help="git revision whose tracker is the reference")
    parser.add_argument(
        "--set", nargs="+", default=[], metavar="KEY=VALUE", help="track-stage settings of ours"
    )
    parser.add_argument(
        "--verified", action="store_true", help="the verified detections with descriptors"
    )
    return parser.parse_args(argv)


def settings(items: list[str]) -> dict:
    """``KEY=VALUE`` track-stage settings, typed as the stage's defaults."""
    params = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in TrackParams.model_fields or not value:
            raise SystemExit(f"--set {item!r}: use KEY=VALUE with a track-stage parameter")
        params[key] = tracking_peers.track_setting(key, value)
    return params


def differing_frames(ours, theirs, frames) -> int:
    """How many of ``frames`` the two trackers answer differently."""
    differ = 0
    for frame in frames:
        a = ours.update(frame.poses, frame.pts_s, image_size=tracking_peers.CLIP_SIZE)
        b = theirs.update(frame.poses, frame.pts_s, image_size=tracking_peers.CLIP_SIZE)
        differ += not same_output(a, b)
    return differ


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    params = settings(args.set)
    make_theirs = tracking_peers.load_old_tracker(args.revision, {})
    total = 0
    for split in ("heldout", "tune"):
        for clip in tracking_peers.clips_of(split, False):
            model = tracking_peers.DEFAULT_MODEL
            suffix = tracking_peers.VERIFIED_SUFFIX if args.verified else ""
            cache = tracking_peers.detection_cache.cache_path(clip.folder, model + suffix)
            if not cache.is_file():
                raise SystemExit(f"{cache} is missing: run benchmarks/tracking_peers.py first")
            if args.verified:  # with the descriptors cached beside them
                frames = tracking_peers.detections(clip, model, verified=True)
            else:
                frames = tracking_peers.detection_cache.load(cache, tracking_peers.CLIP_SIZE)
            ours = TrackStage(TrackParams(**params)).tracker
            differ = differing_frames(ours, make_theirs(), frames)
            total += differ
            print(f"{clip.name}: {differ} of {len(frames)} frames differ", flush=True)
    print(f"frames that differ from {args.revision}: {total}")
    sys.exit(1 if total else 0)


if __name__ == "__main__":
    main()
