"""A tracking run imports only what it uses: no pandas, scipy or filterpy (issue 16, memory).

pandas (through pyarrow's pandas shim or `crowdpose3d.tracks.io`), pyarrow.dataset and
filterpy with scipy cost about 160 MB of resident memory together; the run's peak must stay
under 600 MB (`benchmarks/backends.py`). The run happens in a fresh interpreter, so that
the modules this test process imported do not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from test_pipeline import write_clip

# Imported by nothing in a video -> stages -> tracker -> Parquet run.
HEAVY = ("pandas", "scipy", "filterpy", "pyarrow.dataset")

RUN = """
import json, sys
from crowdpose3d.pipeline.config import validate_pipeline
from crowdpose3d.pipeline.runner import PipelineRunner
from crowdpose3d.pipeline.stage import StageContext
import crowdpose3d.stages.lift, crowdpose3d.stages.pandanet  # the default stages' modules

config = {
    "source": {"type": "video", "uri": sys.argv[1], "source_id": "cäm-1"},
    "stages": [{"type": "pipeline_helpers:FakePeople", "people": 3}, {"type": "track"}],
    "sinks": [{"type": "parquet", "path": sys.argv[2]}],
}
runner = PipelineRunner(validate_pipeline(config), StageContext())
runner.open()
report = runner.run()
print(json.dumps([report.frames, sorted(set(sys.argv[3].split(",")) & set(sys.modules))]))
"""


def test_a_tracking_run_writes_parquet_without_pandas_scipy_or_filterpy(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=6)
    output = tmp_path / "tracks"
    tests = str(Path(__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {tests!r})\n{RUN}",
         str(clip), str(output), ",".join(HEAVY)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    frames, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert frames == 6
    assert heavy == [], f"a tracking run imported {heavy}"
    tracks = pd.read_parquet(output)  # the part written without pandas reads back
    assert len(tracks) > 0
    assert set(tracks["source"]) == {"cäm-1"}
    assert tracks["frame"].dtype == np.int64 and tracks["score"].dtype == np.float32
    assert np.isnan(tracks["wall_time"]).all()  # NaN stays NaN, not null
    np.testing.assert_allclose(tracks["score"], 0.9, rtol=1e-6)
