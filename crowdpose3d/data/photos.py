"""Real photographs without people, from Debian packages: fetch, licence, list, load.

`fetch_photos(out_dir)` (``crowdpose3d photos OUT_DIR``, ``scripts/fetch_photos.sh``) runs
``apt-get download`` for each package of `PHOTO_PACKAGES` (no installation, no root),
unpacks it with ``dpkg-deb -x``, keeps its raster images (JPEG, PNG, WebP) of at least
`MIN_WIDTH` x `MIN_HEIGHT` (one per wallpaper: the largest of the sizes a package ships),
reads each image's licence from the package's ``copyright`` file and writes

    OUT_DIR/images/<package>/<name>      the photographs (never committed)
    OUT_DIR/manifest.json                 one record per image: file, package, version,
                                          path in the package, licence, copyright file,
                                          size, sha256

An image whose licence cannot be read from its copyright file is left out (counted in
``skipped``). OpenCV's sample data (``opencv-doc``: ``vtest.avi`` and its photographs) is
for evaluation only and is refused by name (`EXCLUDED_PACKAGES`).

`PhotoSet(out_dir)` reads the manifest back; `NegativePhotos` turns the photographs into
training samples with nobody in them (every anchor a negative); `place_photo` fits a
photograph to a synthetic camera for compositing (`crowdpose3d synth --backgrounds`).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from crowdpose3d.core.skeleton import JTA22, Skeleton
from crowdpose3d.data.sample import Sample
from crowdpose3d.geometry.camera import Intrinsics

# Debian packages of desktop wallpapers and backgrounds; most are photographs of nature,
# some of towns, buildings and interiors, some abstract art. `apt-cache search wallpaper`
# and `... backgrounds` found the last three.
PHOTO_PACKAGES = (
    "gnome-backgrounds",
    "mate-backgrounds",
    "plasma-workspace-wallpapers",
    "ukui-wallpapers",
    "sway-backgrounds",
    "lomiri-wallpapers",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "desktop-base",
)
EXCLUDED_PACKAGES = ("opencv-doc",)  # evaluation data only: never train on it
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MIN_WIDTH, MIN_HEIGHT = 640, 360  # smaller images are icons, thumbnails or previews
# Larger photographs are stored shrunk to this longer side (training inputs are 512-928
# pixels wide): 5K wallpapers would cost more to decode than the rest of a sample.
MAX_SIDE = 1920
MANIFEST = "manifest.json"
PHOTO_SPLITS = ("train", "heldout", "all")
HELDOUT_EVERY = 5  # one photograph in five is never trained on (see `photo_split`)
# File names that are previews of a wallpaper, not the wallpaper itself.
PREVIEW_NAMES = ("screenshot", "thumbnail", "preview")
# Camera guessed for a photograph: horizontal field of view of a typical wide lens.
PHOTO_FOV_DEG = 60.0
# Eye-level photographs have their horizon near the middle row: where `place_photo` puts
# the synthetic camera's horizon (fraction of the photograph's height from the top).
PHOTO_HORIZON = 0.5


class PhotoError(ValueError):
    """A user's mistake or a failed download, with a one-line message."""


@dataclass(frozen=True)
class Photo:
    """One manifest record."""

    file: str  # path relative to the photo folder
    package: str
    version: str
    source_path: str  # where the package installs it
    licence: str
    copyright_file: str
    width: int
    height: int
    sha256: str


# ---------------------------------------------------------------------- licences
def _dep5_stanzas(text: str) -> list[tuple[list[str], str]]:
    """(file patterns, licence short name) of each ``Files:`` stanza of a DEP-5 file."""
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", block, re.MULTILINE)
        licence = re.search(r"^License:[ \t]*(\S.*)$", block, re.MULTILINE)
        if files and licence:
            stanzas.append((files.group(1).split(), licence.group(1).strip()))
    return stanzas


def _free_form_licence(text: str, name: str) -> str | None:
    """The licence sentence that follows an image's name in a free-form copyright file."""
    stem = Path(name).stem
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if stem.lower() in line.lower() or name.lower() in line.lower():
            for after in lines[index : index + 12]:
                match = re.search(r"(Licen[cs]ed under .*|License:\s*\S.*)", after)
                if match:
                    return match.group(1).strip().rstrip(".")
    return None


def image_licence(copyright_text: str, source_path: str) -> str | None:
    """The licence of the file installed at ``source_path`` from its package's copyright
    text, or None when the file does not say.

    Machine-readable (DEP-5) files: the last ``Files:`` stanza whose pattern matches the
    path's tail or its name wins, as the format specifies (patterns name source-tree
    paths, so they are matched against the end of the installed path). Free-form files:
    the first "Licensed under ..." after a line naming the image, else a package-wide
    "License:" line.
    """
    name = Path(source_path).name
    if copyright_text.lstrip().startswith("Format:"):
        found = None
        for patterns, licence in _dep5_stanzas(copyright_text):
            for pattern in patterns:
                tail = "*" + pattern if not pattern.startswith("*") else pattern
                if pattern.startswith("debian/"):
                    continue
                base = Path(pattern).name  # source-tree folders differ from install ones
                if (
                    fnmatch.fnmatch(source_path, tail)
                    or fnmatch.fnmatch(name, pattern)
                    or (base != "*" and fnmatch.fnmatch(name, base))
                ):
                    found = licence
        return found
    licence = _free_form_licence(copyright_text, name)
    if licence is None:
        match = re.search(r"^\s*(?:License|Licence):\s*(\S.*)$", copyright_text, re.MULTILINE)
        licence = match.group(1).strip() if match else None
    if licence is None and "GNU General Public License" in copyright_text:
        version = re.search(r"General Public License.*?version (\d)", copyright_text, re.S)
        licence = f"GPL-{version.group(1)}+" if version else "GPL"
    return licence


# ---------------------------------------------------------------------- fetching
def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise PhotoError(
            f"{command[0]} not found: fetching photographs needs Debian's apt-get and dpkg-deb"
        ) from None


def _wallpaper_key(path: Path) -> str:
    """Sizes of one wallpaper share a key: its folder (Plasma) or its name without a size."""
    parts = path.parts
    if "contents" in parts:
        return "/".join(parts[: parts.index("contents")])
    stem = re.sub(r"[_-]?\d{3,5}x\d{3,5}", "", path.stem)
    stem = re.sub(r"[_-]?portrait$", "", stem, flags=re.IGNORECASE)
    return str(path.parent / stem)


def _file_name(relative: Path) -> str:
    """A wallpaper's file name: Plasma's are named by size, so they take their folder's."""
    parts = relative.parts
    if "contents" in parts:
        return parts[parts.index("contents") - 1] + relative.suffix.lower()
    return relative.name


def _images_of(root: Path) -> list[tuple[Path, int, int]]:
    """The package tree's wallpapers: (path, width, height), the largest size of each."""
    best: dict[str, tuple[Path, int, int]] = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        relative = path.relative_to(root)
        if "icons" in relative.parts or any(p in path.stem.lower() for p in PREVIEW_NAMES):
            continue
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            continue
        height, width = image.shape[:2]
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            continue
        key = _wallpaper_key(relative)
        if key not in best or width * height > best[key][1] * best[key][2]:
            best[key] = (relative, width, height)
    return sorted(best.values())


def fetch_photos(
    out_dir: str | Path,
    packages: tuple[str, ...] | list[str] = PHOTO_PACKAGES,
    *,
    debs: str | Path | None = None,
    max_side: int | None = MAX_SIDE,
) -> dict:
    """Download, unpack and list the photographs of ``packages`` -> the manifest.

    ``debs``: a folder of already downloaded ``.deb`` files to use instead of downloading
    (``<package>_<version>_<arch>.deb``, as ``apt-get download`` names them).
    ``max_side``: photographs with a longer side are stored shrunk to it (INTER_AREA, the
    same format; None keeps the files as they are). The manifest gives the stored size.
    """
    out = Path(out_dir)
    for package in packages:
        if package in EXCLUDED_PACKAGES or package.startswith("opencv"):
            raise PhotoError(
                f"{package} is OpenCV's sample data, kept for evaluation only; "
                "never train on it (leave it out of --packages)"
            )
    (out / "images").mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    skipped: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="photos-") as scratch:
        scratch_dir = Path(scratch)
        for package in packages:
            deb = _find_deb(Path(debs), package) if debs is not None else None
            if deb is None:
                result = _run(["apt-get", "download", package], scratch_dir)
                deb = _find_deb(scratch_dir, package)
                if result.returncode != 0 or deb is None:
                    reason = (result.stderr.strip().splitlines() or ["no .deb written"])[-1]
                    raise PhotoError(f"apt-get download {package} failed: {reason}")
            version = deb.name.split("_")[1].replace("%3a", ":")
            tree = scratch_dir / f"tree-{package}"
            result = _run(["dpkg-deb", "-x", str(deb), str(tree)], scratch_dir)
            if result.returncode != 0:
                raise PhotoError(f"dpkg-deb -x {deb.name} failed: {result.stderr.strip()}")
            copyright_path = tree / "usr" / "share" / "doc" / package / "copyright"
            text = copyright_path.read_text(errors="replace") if copyright_path.is_file() else ""
            for relative, width, height in _images_of(tree):
                source = "/" + relative.as_posix()
                licence = image_licence(text, source) if text else None
                if not licence:
                    skipped.append({"package": package, "source_path": source})
                    continue
                target = Path("images") / package / _file_name(relative)
                if (out / target).exists() and any(r["file"] == str(target) for r in records):
                    target = target.with_name(f"{len(records)}_{target.name}")
                (out / target).parent.mkdir(parents=True, exist_ok=True)
                width, height = _store(tree / relative, out / target, width, height, max_side)
                digest = hashlib.sha256((out / target).read_bytes()).hexdigest()
                records.append(
                    {
                        "file": target.as_posix(),
                        "package": package,
                        "version": version,
                        "source_path": source,
                        "licence": licence,
                        "copyright_file": f"/usr/share/doc/{package}/copyright",
                        "width": width,
                        "height": height,
                        "sha256": digest,
                    }
                )
    manifest = {"packages": list(packages), "images": records, "skipped": skipped}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def _store(
    source: Path, target: Path, width: int, height: int, max_side: int | None
) -> tuple[int, int]:
    """Copy one photograph, shrunk to ``max_side`` when larger -> its stored size."""
    if max_side is None or max(width, height) <= max_side:
        shutil.copyfile(source, target)
        return width, height
    scale = max_side / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = cv2.imread(str(source), cv2.IMREAD_COLOR)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(target), small, [cv2.IMWRITE_JPEG_QUALITY, 95, cv2.IMWRITE_WEBP_QUALITY, 95])
    return size


def _find_deb(folder: Path, package: str) -> Path | None:
    matches = sorted(folder.glob(f"{package}_*.deb"))
    return matches[-1] if matches else None


# ---------------------------------------------------------------------- reading
def photo_split(file: str) -> str:
    """``"heldout"`` for one photograph in `HELDOUT_EVERY` (by a hash of its file name, so
    adding packages moves no photograph between splits), else ``"train"``."""
    digest = int(hashlib.sha256(file.encode()).hexdigest()[:8], 16)
    return "heldout" if digest % HELDOUT_EVERY == 0 else "train"


class PhotoSet:
    """The photographs listed in ``folder/manifest.json`` (`fetch_photos` output).

    split: ``"train"`` (composites and negatives use these), ``"heldout"`` (one in
    `HELDOUT_EVERY`, for counting false alarms on photographs never trained on) or
    ``"all"``.
    """

    def __init__(self, folder: str | Path, split: str = "train") -> None:
        if split not in PHOTO_SPLITS:
            raise PhotoError(f"photo split must be one of {', '.join(PHOTO_SPLITS)}, got {split!r}")
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        if not path.is_file():
            raise PhotoError(
                f"no {MANIFEST} in {self.folder}: fetch the photographs first with "
                f"`crowdpose3d photos {self.folder}`"
            )
        manifest = json.loads(path.read_text())
        self.photos = [
            Photo(**record)
            for record in manifest["images"]
            if split == "all" or photo_split(record["file"]) == split
        ]
        if not self.photos:
            raise PhotoError(f"{path} lists no photograph in split {split!r}; fetch more")

    def __len__(self) -> int:
        return len(self.photos)

    def image(self, index: int) -> np.ndarray:
        """Photograph ``index`` as (H, W, 3) uint8 RGB."""
        path = self.folder / self.photos[index].file
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise PhotoError(f"cannot read {path}; fetch the photographs again")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def place_photo(
    photo: np.ndarray,
    intrinsics: Intrinsics,
    horizon_v: float,
    rng: np.random.Generator,
    zoom: tuple[float, float] = (1.0, 1.4),
) -> np.ndarray:
    """The photograph as the background of a synthetic camera: (H, W, 3) uint8 RGB.

    The photo is scaled to cover the frame (times a random ``zoom`` in that range) and shifted so
    that its assumed horizon (`PHOTO_HORIZON` of its height) lands as near the synthetic
    camera's horizon row ``horizon_v`` as the photo's extent allows; the horizontal offset
    is random. The people stand on the synthetic ground plane, whose horizon is that row.
    """
    width, height = intrinsics.width, intrinsics.height
    ph, pw = photo.shape[:2]
    scale = max(width / pw, height / ph) * float(rng.uniform(*zoom))
    new_w, new_h = max(width, round(pw * scale)), max(height, round(ph * scale))
    resized = cv2.resize(photo, (new_w, new_h), interpolation=cv2.INTER_AREA)
    left = int(rng.integers(0, new_w - width + 1))
    top = int(np.clip(round(PHOTO_HORIZON * new_h - horizon_v), 0, new_h - height))
    return np.ascontiguousarray(resized[top : top + height, left : left + width])


class NegativePhotos:
    """Real photographs as training samples with nobody in them (`Sample` sequence).

    Each item is one photograph at its own size with a camera guessed from a
    `PHOTO_FOV_DEG` field of view (``intrinsics_known=False``); the training transforms
    scale and crop it like any other sample, and every anchor is a negative.
    """

    def __init__(
        self,
        folder: str | Path,
        skeleton: Skeleton = JTA22,
        max_samples: int | None = None,
        split: str = "train",
    ) -> None:
        self.photos = PhotoSet(folder, split)
        self.skeleton = skeleton
        count = len(self.photos)
        self.indices = (
            list(range(count))
            if max_samples is None or max_samples >= count
            else np.linspace(0, count - 1, max_samples).round().astype(int).tolist()
        )

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        photo_index = self.indices[index]
        image = self.photos.image(photo_index)
        height, width = image.shape[:2]
        k = self.skeleton.num_joints
        return Sample(
            image=image,
            boxes=np.zeros((0, 4)),
            kp2d=np.zeros((0, k, 2)),
            kp3d=np.zeros((0, k, 3)),
            kp2d_valid=np.zeros((0, k), bool),
            kp3d_valid=np.zeros((0, k), bool),
            visible=np.zeros((0, k), bool),
            person_ids=np.zeros(0, np.int64),
            intrinsics=Intrinsics.from_fov(width, height, PHOTO_FOV_DEG),
            skeleton=self.skeleton,
            intrinsics_known=False,
            sequence=f"photos/{self.photos.photos[photo_index].file}",
            frame=photo_index,
        )
