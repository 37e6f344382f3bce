#!/usr/bin/env bash
# Real photographs without people for training (composites and negative frames), from
# Debian packages: downloads them with `apt-get download` (no install, no root), unpacks them
# with `dpkg-deb -x`, keeps each photograph with the licence its copyright file gives it.
#   bash scripts/fetch_photos.sh [OUT_DIR]          # default out/photos
# Writes OUT_DIR/images/<package>/* and OUT_DIR/manifest.json (file, package, version,
# licence, copyright file, size, sha256). opencv-doc is never fetched: it is evaluation data.
set -euo pipefail
OUT="${1:-out/photos}"
HERE="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$HERE/.venv/bin/python}"
exec "$PY" -m crowdpose3d.cli photos "$OUT"
