"""The `crowdpose3d` console script.

Sub-commands are added as the pipeline grows; each reports a user's mistake as one line on
stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from crowdpose3d import __version__


def _list_models(args: argparse.Namespace) -> int:
    """Print the model presets and the built-in checkpoints."""
    from crowdpose3d.core.checkpoint import list_builtin
    from crowdpose3d.core.model import PRESETS

    print("presets (crowdpose3d.core.model.PRESETS):")
    for name, preset in PRESETS.items():
        print(
            f"  {name:<10} width x{preset.width_multiplier:g}, depth x{preset.depth_multiplier:g}, "
            f"heads {preset.head_channels} channels"
        )
    builtin = list_builtin()
    print("built-in checkpoints:", ", ".join(f"builtin:{n}" for n in builtin) or "none installed")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crowdpose3d", description="Multi-person 3D pose tracks from video (PandaNet)."
    )
    parser.add_argument("--version", action="version", version=f"crowdpose3d {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    models = commands.add_parser("models", help="list model presets and built-in checkpoints")
    models.set_defaults(handler=_list_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("crowdpose3d: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
