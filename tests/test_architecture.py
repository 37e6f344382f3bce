"""The layers of docs/architecture.md, enforced: a module imports only from layers below its
own, and only `crowdpose3d/tracks/` spells a tracks column as a string literal."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from crowdpose3d.tracks.schema import SCALAR_COLUMNS

PACKAGE = Path(__file__).resolve().parents[1] / "crowdpose3d"
# Lowest first; the name is the package under crowdpose3d/ or the top-level module.
LAYERS = [
    {"poses", "messages", "files"},  # shared records and helpers
    {"core"},  # the model and its loss
    {"geometry"},  # cameras, lift, boxes
    {"data"},  # datasets
    {"engine", "tracking", "tracks"},  # model life cycle, tracker, tracks dataset
    {"pipeline"},  # frame, stage protocol, plan, runner
    {"stages"},  # one file per stage
    {"api", "analysis", "batch", "calibrate", "cli", "demo", "serve", "__init__"},  # entry points
]
TOP = len(LAYERS) - 1  # entry points may use each other
# Tracks column names that are also ordinary words elsewhere: a pipeline's `source` entry,
# the `frame` column of the box tables the tracking scores read.
COMMON_WORDS = {"source", "frame"}


def layer_of(name: str) -> int:
    for index, members in enumerate(LAYERS):
        if name in members:
            return index
    raise AssertionError(f"crowdpose3d.{name} is in no layer; add it to LAYERS and the doc")


def modules() -> list[tuple[str, Path]]:
    """(layer name, file) of every module of the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found.append((parts[0], path))
    return found


def imported_layers(path: Path) -> set[str]:
    """The crowdpose3d packages a module imports, at the top or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [node.module]
            if node.module == "crowdpose3d":
                targets = [f"crowdpose3d.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            if parts[0] == "crowdpose3d" and len(parts) > 1 and parts[1] != "__version__":
                names.add(parts[1])
    return names


@pytest.mark.parametrize(("name", "path"), modules(), ids=lambda v: str(v))
def test_a_module_imports_only_from_layers_below_it(name, path):
    own = layer_of(name)
    for target in imported_layers(path) - {name}:
        below = layer_of(target) < own or (own == TOP and layer_of(target) == TOP)
        assert below, f"{path.relative_to(PACKAGE.parent)} imports crowdpose3d.{target}"


def test_core_and_tracking_know_nothing_of_the_pipeline():
    for name, path in modules():
        if name in ("core", "tracking"):
            assert not imported_layers(path) & {"stages", "pipeline"}, path


def test_only_the_tracks_package_spells_a_tracks_column():
    columns = set(SCALAR_COLUMNS) - COMMON_WORDS
    found = []
    for name, path in modules():
        if name == "tracks":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in columns:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.value!r}")
    assert not found, "use crowdpose3d.tracks.schema instead: " + ", ".join(found)


def test_the_checks_catch_what_they_look_for(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from crowdpose3d.stages.track import TrackStage\n")
    assert imported_layers(bad) == {"stages"}
    assert layer_of("stages") > layer_of("tracking")  # so tracking/bad.py would fail
