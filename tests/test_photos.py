"""Real photographs for training: fetched from Debian packages with their licences,
composited behind rendered people with exact alpha and unchanged labels, and used as
negative frames (nobody in them, every anchor negative)."""

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from crowdpose3d.cli import main
from crowdpose3d.core.anchors import anchor_grid
from crowdpose3d.core.skeleton import JTA22
from crowdpose3d.core.targets import AnchorMatcher
from crowdpose3d.data.dataset import PoseDataset
from crowdpose3d.data.photos import (
    MANIFEST,
    NegativePhotos,
    PhotoError,
    PhotoSet,
    fetch_photos,
    image_licence,
    photo_split,
)
from crowdpose3d.data.synth import SynthConfig, generate_sequence
from crowdpose3d.engine.trainer import TrainConfig, training_transform

REPO = Path(__file__).resolve().parents[1]

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: test-wallpapers

Files: *
Copyright: 2020 Somebody
License: GPL-2+

Files: photos/street_by_someone.jpg
Copyright: 2021 Someone
License: CC-BY-4.0

Files: debian/*
Copyright: 2022 Packager
License: MIT
"""
FREE_FORM = """This package was debianized by nobody.

Image Authors:
 - plaza.png:
   Copyright 2012 A Photographer
   Licensed under Creative Commons Attribution-ShareAlike 3.0 License.
"""


def _deb(folder: Path, package: str, images: dict[str, tuple[int, int]], copyright: str) -> None:
    """A real .deb (dpkg-deb --build) installing ``images`` (name -> (w, h)) as wallpapers."""
    tree = folder / f"tree-{package}"
    rng = np.random.default_rng(len(package))
    for name, (width, height) in images.items():
        path = tree / "usr/share/backgrounds" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    doc = tree / "usr/share/doc" / package
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(copyright)
    (tree / "DEBIAN").mkdir()
    (tree / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\n"
        "Maintainer: Test <t@example.org>\nDescription: test wallpapers\n"
    )
    subprocess.run(
        ["dpkg-deb", "--build", "--root-owner-group", str(tree),
         str(folder / f"{package}_1.0-1_all.deb")],
        check=True, capture_output=True,
    )  # fmt: skip
    shutil.rmtree(tree)


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    """Photographs fetched from two locally built packages (no network)."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("needs Debian's dpkg-deb")
    root = tmp_path_factory.mktemp("photos")
    debs = root / "debs"
    debs.mkdir()
    _deb(
        debs,
        "dep5-wallpapers",
        {"street_by_someone.jpg": (800, 480), "wall-1920x1080.png": (960, 540),
         "wall-1280x720.png": (700, 400), "icon.png": (64, 64)},
        DEP5,
    )  # fmt: skip
    _deb(debs, "free-wallpapers", {"plaza.png": (900, 600), "unknown.png": (900, 600)}, FREE_FORM)
    out = root / "out"
    manifest = fetch_photos(out, ["dep5-wallpapers", "free-wallpapers"], debs=debs)
    return out, manifest


def test_manifest_records_a_licence_for_every_image(photo_dir):
    out, manifest = photo_dir
    by_name = {Path(r["file"]).name: r for r in manifest["images"]}
    # The icon is too small; of the wallpaper's two sizes only the larger is kept.
    assert sorted(by_name) == ["plaza.png", "street_by_someone.jpg", "wall-1920x1080.png"]
    assert by_name["street_by_someone.jpg"]["licence"] == "CC-BY-4.0"  # its own stanza
    assert by_name["wall-1920x1080.png"]["licence"] == "GPL-2+"  # Files: *
    assert by_name["plaza.png"]["licence"].startswith("Licensed under Creative Commons")
    # unknown.png: the free-form file names no licence for it, the package none either.
    assert [Path(s["source_path"]).name for s in manifest["skipped"]] == ["unknown.png"]
    for record in json.loads((out / MANIFEST).read_text())["images"]:
        assert record["licence"] and record["package"] and record["version"] == "1.0-1"
        assert (out / record["file"]).is_file()
        assert record["copyright_file"] == f"/usr/share/doc/{record['package']}/copyright"
    assert len(PhotoSet(out)) == 3 and PhotoSet(out).image(0).shape[2] == 3


def test_committed_manifest_has_a_licence_for_every_photograph_and_no_opencv():
    manifest = json.loads((REPO / "docs/photo_manifest.json").read_text())
    assert len(manifest["images"]) >= 100
    for record in manifest["images"]:
        assert record["licence"].strip(), record
        assert not record["package"].startswith("opencv")


def test_licence_parsing_prefers_the_last_matching_stanza():
    assert image_licence(DEP5, "/usr/share/backgrounds/street_by_someone.jpg") == "CC-BY-4.0"
    assert image_licence(DEP5, "/usr/share/backgrounds/other.jpg") == "GPL-2+"
    assert image_licence("no licence here", "/x/y.png") is None


def test_opencv_doc_is_refused_in_one_line(tmp_path, capsys):
    with pytest.raises(PhotoError, match="evaluation only"):
        fetch_photos(tmp_path, ["gnome-backgrounds", "opencv-doc"])
    assert main(["photos", str(tmp_path / "p"), "--packages", "opencv-doc"]) == 2
    err = capsys.readouterr().err.strip()
    assert "evaluation only" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "p" / MANIFEST).exists()


def test_negative_photos_give_empty_targets_and_every_anchor_negative(photo_dir):
    out, _ = photo_dir
    negatives = NegativePhotos(out)
    config = TrainConfig(output_dir="unused", data=[{"type": "photos", "root": str(out)}],
                         augment={"camera_effects": True})  # fmt: skip
    dataset = PoseDataset(negatives, training_transform(config), JTA22, input_size=(320, 512))
    anchors = torch.tensor([[20.0, 50.0], [40.0, 100.0], [80.0, 200.0]])
    for index in range(len(dataset)):
        image, truth, meta = dataset[index]
        assert image.shape == (3, 320, 512) and len(truth.boxes) == 0 and len(meta.person_ids) == 0
        targets = AnchorMatcher()(anchor_grid(anchors, 10, 16, 32), [truth])
        assert targets.num_positives == 0 and not targets.positive.any()
        assert (targets.matched == -1).all()


def test_photos_source_in_a_training_config(photo_dir):
    from crowdpose3d.engine.trainer import open_source

    out, _ = photo_dir
    config = TrainConfig(
        output_dir="unused", data=[{"type": "photos", "root": str(out), "repeat": 3}]
    )
    assert len(open_source(config.data[0], JTA22)) == 9


def _photo_config(photo_dir, **changes):
    out, _ = photo_dir
    base = dict(num_frames=3, fps=5, width=256, height=160, min_people=12, max_people=12,
                camera_pitch_deg=(3.0, 12.0), camera_height_m=(1.5, 4.0))  # fmt: skip
    return SynthConfig(**{**base, **changes, "backgrounds": str(out)}), SynthConfig(
        **{**base, **changes}
    )


@pytest.mark.parametrize("renderer", ["solids", pytest.param("mesh", marks=pytest.mark.slow)])
def test_compositing_keeps_labels_and_is_deterministic(photo_dir, renderer):
    if renderer == "mesh":
        _need_mesh()
    with_photo, without = _photo_config(photo_dir, renderer=renderer)
    a = list(generate_sequence(with_photo, 7))
    b = list(generate_sequence(without, 7))
    again = list(generate_sequence(with_photo, 7))
    assert sum(len(f.person_ids) for f in a) > 10
    for x, y, z in zip(a, b, again, strict=True):
        for name in ("person_ids", "joints2d", "joints3d", "occluded", "self_occluded"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
        assert not np.array_equal(x.image, y.image)  # the background did change
        np.testing.assert_array_equal(x.image, z.image)  # same seed, same frame


def _need_mesh():
    pytest.importorskip("anny", reason="needs the 'mesh' extra")
    moderngl = pytest.importorskip("moderngl", reason="needs the 'mesh' extra")
    try:
        moderngl.create_standalone_context(backend="egl").release()
    except Exception as error:
        pytest.skip(f"no EGL context: {error}")


def _clean_style(sequence):
    """The sequence's render style with no blur, noise, drift or shadows (pixels exact)."""
    from dataclasses import replace

    from crowdpose3d.data.synth.background import sample_lighting
    from crowdpose3d.data.synth.render import sample_style

    style = sample_style(sequence.camera, sample_lighting(np.random.default_rng(0)),
                         np.random.default_rng(0))  # fmt: skip
    return replace(style, blur_sigma=0.0, noise_sigma=0.0, exposure_drift=0.0,
                   shadow_strength=0.0)  # fmt: skip


@pytest.mark.slow
def test_mesh_alpha_is_exact(photo_dir):
    """Background pixels are the photograph's, person pixels do not depend on it."""
    _need_mesh()
    from crowdpose3d.data.synth.mesh_render import MeshRenderer

    _, config = _photo_config(photo_dir, renderer="mesh", num_frames=1)
    sequence = generate_sequence(config, 7)
    frame = next(iter(sequence))
    mesh = frame.mesh
    from crowdpose3d.data.synth.mesh_body import load_body_model

    faces = load_body_model().faces
    photos = PhotoSet(photo_dir[0])
    k = sequence.camera.intrinsics
    results = []
    for index in (0, 1):
        photo = cv2.resize(photos.image(index), (k.width, k.height))
        renderer = MeshRenderer(sequence.camera, photo, _clean_style(sequence),
                                np.random.default_rng(0))  # fmt: skip
        with renderer:
            image, owner, _, _ = renderer.render(
                mesh.vertices, mesh.colours, mesh.parts, faces, mesh.vertices_world, [], 0.0
            )
        results.append((photo, image, owner))
    (photo0, image0, owner0), (photo1, image1, owner1) = results
    np.testing.assert_array_equal(owner0, owner1)
    people = owner0 >= 0
    assert people.sum() > 200
    np.testing.assert_array_equal(image0[~people], photo0[~people])
    np.testing.assert_array_equal(image1[~people], photo1[~people])
    np.testing.assert_array_equal(image0[people], image1[people])


def test_solids_alpha_is_exact_away_from_edges(photo_dir):
    """The solids renderer paints onto the photograph (cv2's anti-aliasing blends each
    edge pixel with it): pixels more than two pixels from any label are the photograph's,
    pixels more than two pixels inside the people's union do not depend on it, except a
    few where a thin part's anti-aliased fringe let the photograph through (under 2 %)."""
    from crowdpose3d.data.synth.render import Renderer
    from crowdpose3d.data.synth.solids import PersonSolids

    _, config = _photo_config(photo_dir, num_frames=1)
    sequence = generate_sequence(config, 7)
    frame = next(iter(sequence))
    # People within 15 m: far smaller parts are drawn (anti-aliased) below one label pixel.
    near = (frame.solids.centres[..., 2] < 15).all(axis=(1, 2))
    s = frame.solids
    solids = PersonSolids(s.centres[near], s.radii[near], s.colours[near])
    photos = PhotoSet(photo_dir[0])
    k = sequence.camera.intrinsics
    results = []
    for index in (0, 1):
        photo = cv2.resize(photos.image(index), (k.width, k.height))
        renderer = Renderer(sequence.camera, photo, _clean_style(sequence),
                            np.random.default_rng(0))  # fmt: skip
        image, labels, _ = renderer.render(solids, np.zeros((0, 2)), [], 0.0)
        results.append((photo, image, labels))
    (photo0, image0, labels0), (photo1, image1, labels1) = results
    np.testing.assert_array_equal(labels0, labels1)
    covered = (labels0 > 0).astype(np.uint8)
    assert covered.sum() > 200
    kernel = np.ones((5, 5), np.uint8)
    outside = cv2.dilate(covered, kernel) == 0
    inside = cv2.erode(covered, kernel) > 0
    assert inside.sum() > 100
    np.testing.assert_array_equal(image0[outside], photo0[outside])
    same = (image0[inside] == image1[inside]).all(axis=1)
    assert same.mean() > 0.98, same.mean()


def test_synth_cli_backgrounds_folder_missing_is_one_line(tmp_path, capsys):
    code = main(["synth", str(tmp_path / "o"), "--frames", "1", "--backgrounds",
                 str(tmp_path / "none")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "crowdpose3d photos" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_photos_cli_writes_the_manifest_and_says_what_it_did(photo_dir, tmp_path, capsys):
    debs = photo_dir[0].parent / "debs"
    out = tmp_path / "cli"
    assert main(["photos", str(out), "--packages", "dep5-wallpapers", "--debs", str(debs)]) == 0
    said = capsys.readouterr().out
    assert "wrote 2 photographs from 1 packages" in said and "CC-BY-4.0" in said
    assert len(json.loads((out / MANIFEST).read_text())["images"]) == 2


def test_large_photographs_are_stored_shrunk(photo_dir, tmp_path):
    debs = photo_dir[0].parent / "debs"
    manifest = fetch_photos(tmp_path / "small", ["dep5-wallpapers"], debs=debs, max_side=500)
    photos = PhotoSet(tmp_path / "small")
    for index, record in enumerate(manifest["images"]):
        assert max(record["width"], record["height"]) == 500
        assert photos.image(index).shape[:2] == (record["height"], record["width"])


def test_one_photograph_in_five_is_held_out_and_never_trained_on(photo_dir):
    manifest = json.loads((REPO / "docs/photo_manifest.json").read_text())
    splits = [photo_split(record["file"]) for record in manifest["images"]]
    assert 0.12 < splits.count("heldout") / len(splits) < 0.3
    out, _ = photo_dir
    everything = {p.file for p in PhotoSet(out, "all").photos}
    train = {p.file for p in PhotoSet(out, "train").photos}
    assert train == {f for f in everything if photo_split(f) == "train"}
    with pytest.raises(PhotoError, match="no photograph in split 'heldout'"):
        PhotoSet(out, "heldout")  # the three test photographs all fall in train
    with pytest.raises(PhotoError, match="photo split must be"):
        PhotoSet(out, "test")


def test_photo_zoom_shows_the_photograph_closer_and_old_settings_stay_resumable():
    from crowdpose3d.data.photos import place_photo
    from crowdpose3d.geometry.camera import Intrinsics

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 255, (300, 480, 3), dtype=np.uint8)
    k = Intrinsics(fx=200.0, fy=200.0, cx=80.0, cy=50.0, width=160, height=100)
    image = place_photo(photo, k, 50.0, np.random.default_rng(1), zoom=(3.0, 3.0))
    # covering the 160 x 100 frame needs 1/3 of the 480 x 300 photo's size; zoom 3 makes
    # that 1: the frame is an unscaled crop, its horizon row (50) at the photo's middle
    assert image.shape == (100, 160, 3)
    rows = photo[100:200]
    assert any(np.array_equal(rows[:, x : x + 160], image) for x in range(480 - 160 + 1))
    closer = place_photo(photo, k, 50.0, np.random.default_rng(1))  # default 1-1.4
    assert not any(np.array_equal(rows[:, x : x + 160], closer) for x in range(480 - 160 + 1))
    default = SynthConfig()
    assert "photo_zoom" not in default.to_dict()  # datasets written before it still resume
    assert SynthConfig(photo_zoom=(2.0, 3.5)).to_dict()["photo_zoom"] == [2.0, 3.5]
    with pytest.raises(ValueError, match="photo_zoom"):
        SynthConfig(photo_zoom=(0.5, 2.0))
