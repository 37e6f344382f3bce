"""Write a short synthetic crowd sample: an MP4 and a PNG contact sheet.

    python examples/synth_preview.py                      # -> out/synth_preview/
    python examples/synth_preview.py --joints --vehicles --seed 3 --out /tmp/preview
    python examples/synth_preview.py --renderer mesh --street-furniture --frames 20

The contact sheet shows a few frames of the sequence; with --joints the annotated 2D
joints are drawn on it (green visible, red occluded by someone else or a vehicle, orange
self-occluded, as JTA's visualize.py colours them) with the skeleton's bones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from crowdpose3d.core.skeleton import JTA22
from crowdpose3d.data.synth import SynthConfig, generate_sequence
from crowdpose3d.data.synth.writer import VideoWriter


def draw_joints(image: np.ndarray, frame) -> np.ndarray:
    """The frame's joints and bones over a copy of its RGB image."""
    out = image.copy()
    for n in range(len(frame.person_ids)):
        points = frame.joints2d[n]
        for parent, child in JTA22.bones:
            a, b = points[parent], points[child]
            cv2.line(
                out,
                tuple(np.round(a).astype(int)),
                tuple(np.round(b).astype(int)),
                (255, 255, 255),
                1,
                cv2.LINE_AA,
            )
        for j, point in enumerate(points):
            colour = (0, 255, 42)
            if frame.occluded[n, j]:
                colour = (255, 0, 42)
            elif frame.self_occluded[n, j]:
                colour = (255, 128, 42)
            cv2.circle(out, tuple(np.round(point).astype(int)), 2, colour, -1, cv2.LINE_AA)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/synth_preview"))
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--people", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--vehicles", action="store_true")
    parser.add_argument("--joints", action="store_true", help="overlay the annotated joints")
    parser.add_argument("--renderer", choices=["solids", "mesh"], default="solids")
    parser.add_argument("--street-furniture", action="store_true", help="mesh renderer only")
    parser.add_argument(
        "--camera-height",
        type=float,
        nargs=2,
        default=(1.5, 15.0),
        metavar=("LOW", "HIGH"),
        help="camera height range, metres",
    )
    parser.add_argument(
        "--camera-pitch", type=float, nargs=2, default=(5.0, 45.0), metavar=("LOW", "HIGH"),
        help="camera pitch range below the horizon, degrees",
    )  # fmt: skip
    parser.add_argument("--motion", choices=["procedural", "jupedsim"], default="procedural")
    parser.add_argument("--backgrounds", default=None, help="a `crowdpose3d photos` folder")
    args = parser.parse_args()

    config = SynthConfig(
        num_frames=args.frames,
        min_people=args.people,
        max_people=args.people,
        vehicles=args.vehicles,
        camera_height_m=tuple(args.camera_height),
        camera_pitch_deg=tuple(args.camera_pitch),
        motion=args.motion,
        backgrounds=args.backgrounds,
        renderer=args.renderer,
        street_furniture=args.street_furniture,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    picks = set(np.linspace(0, args.frames - 1, 4).round().astype(int).tolist())
    tiles = []
    with VideoWriter(args.out / "sample.mp4", config.width, config.height, config.fps) as video:
        for index, frame in enumerate(generate_sequence(config, args.seed)):
            video.write(frame.image)
            if index in picks:
                tile = draw_joints(frame.image, frame) if args.joints else frame.image
                cv2.putText(
                    tile,
                    f"frame {frame.frame}",
                    (10, 24),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.7,
                    (255, 255, 255),
                    2,
                    cv2.LINE_AA,
                )
                tiles.append(tile)
    sheet = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:4])])
    cv2.imwrite(str(args.out / "contact_sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out / 'sample.mp4'} and {args.out / 'contact_sheet.png'}")


if __name__ == "__main__":
    main()
