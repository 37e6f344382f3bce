"""scripts/gpu_recipe.py --smoke: the GPU recipe's whole path (data, probe-free training,
evaluation on a held-out set and on photographs, checkpoint, report) at tiny sizes on CPU."""

import json
import runpy
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from crowdpose3d.core.checkpoint import load_checkpoint

RECIPE = Path(__file__).resolve().parents[1] / "scripts" / "gpu_recipe.py"


def _photos(folder: Path) -> Path:
    """Ten 'photographs' and their manifest, as `crowdpose3d photos` writes them (p3 is in
    the held-out split, `photos.photo_split`)."""
    rng = np.random.default_rng(0)
    records = []
    for index in range(10):
        path = folder / "images" / "test" / f"p{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), rng.integers(0, 256, (200, 320, 3), dtype=np.uint8))
        records.append(
            {"file": f"images/test/p{index}.png", "package": "test", "version": "1",
             "source_path": f"/p{index}.png", "licence": "CC0-1.0", "copyright_file": "/c",
             "width": 320, "height": 200, "sha256": "0"}
        )  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps({"images": records, "skipped": []}))
    return folder


@pytest.mark.slow
def test_smoke_run_writes_a_checkpoint_and_a_report(tmp_path):
    main = runpy.run_path(str(RECIPE))["main"]
    out = tmp_path / "smoke"
    photos = _photos(tmp_path / "photos")
    assert main([str(out), "--smoke", "--photos", str(photos), "--device", "cpu"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["smoke"] and report["iterations"] == 3
    assert set(report["results"]) == {"synth_heldout", "photos_without_people"}
    assert report["results"]["synth_heldout"]["people"] > 0
    assert report["results"]["photos_without_people"]["photos"] == 1  # held out: p3 only
    checkpoint = load_checkpoint(out / "model.pt", device=torch.device("cpu"))
    assert checkpoint.model.preset == "tiny" and tuple(checkpoint.input_size) == (96, 160)
    for name in ("solids_crowd", "solids_crowd_sim", "solids_traffic", "photo_composites"):
        assert (out / "data" / name / "done").is_file()


def test_without_a_gpu_the_full_recipe_says_to_use_smoke(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    main = runpy.run_path(str(RECIPE))["main"]
    assert main([str(tmp_path / "full")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--smoke" in err and len(err.splitlines()) == 1
