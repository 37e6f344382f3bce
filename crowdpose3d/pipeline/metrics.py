"""A Prometheus endpoint for a running pipeline (``--metrics-port``, opt-in).

`serve_metrics` starts prometheus-client's HTTP server on its own registry (no global
state) with one collector that reads `PipelineRunner.snapshot` at each scrape, so the
endpoint shows the same figures as the periodic log line: per stage the frames out, fps,
latency p50 / p95, dropped frames and the age of the latest frame, and every stage's own
counters (the source's reconnects, timestamp jumps and resolution changes, the Parquet
sink's parts written and free disk bytes, the track stage's non-finite drops), each as
``crowdpose3d_<counter>{stage="..."}``. Needs ``pip install 'crowdpose3d[metrics]'``.

A pipeline with several sources (`MultiRunner.snapshot`) labels every figure with its
``source`` as well: per source its source stage, the shared model's figures for its frames
and its chain's stages; the shared model's own row has ``source=""`` and adds the
batcher's figures (batches, batch size mean / last, the batcher's wait p50 / p95, the
share of the time the model ran).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

PREFIX = "crowdpose3d_"  # every metric's name starts with this
# The snapshot's figures that get their own metric: key -> (name, help, kind, scale).
FIGURES = {
    "frames": ("stage_frames", "frames that left the stage", "counter", 1.0),
    "dropped": ("stage_dropped_frames", "frames dropped before the stage (live)", "counter", 1.0),
    "fps": ("stage_fps", "frames per second since the run began", "gauge", 1.0),
    "latency_p50_ms": ("stage_latency_p50_seconds", "median stage latency", "gauge", 1e-3),
    "latency_p95_ms": ("stage_latency_p95_seconds", "95th percentile latency", "gauge", 1e-3),
    "last_frame_age_s": ("stage_last_frame_age_seconds", "since the latest frame", "gauge", 1.0),
    "batches": ("model_batches", "batches through the shared model", "counter", 1.0),
    "batch_wait_p50_ms": (
        "batch_wait_p50_seconds",
        "median wait of a batch, from its first frame's arrival to the model",
        "gauge",
        1e-3,
    ),
    "batch_wait_p95_ms": (
        "batch_wait_p95_seconds",
        "95th percentile wait of a batch, from its first frame's arrival to the model",
        "gauge",
        1e-3,
    ),
}
SKIPPED = {"stage", "source", "busy_ms_per_frame"}  # not exported as figures


class MetricsError(RuntimeError):
    """The endpoint cannot start (prometheus-client missing, port taken); one line."""


class _Collector:
    """Reads the runner's snapshot at each scrape."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        snapshot = self.runner.snapshot()
        families: dict[str, Any] = {}
        # Several sources: every row has its source (the shared model's is "").
        labels = ["source", "stage"] if any("source" in row for row in snapshot) else ["stage"]

        def family(name: str, text: str, kind: str) -> Any:
            if name not in families:
                cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
                families[name] = cls(PREFIX + name, text, labels=labels)
            return families[name]

        for figures in snapshot:
            values = [str(figures.get(label, "")) for label in labels]
            for key, value in figures.items():
                if key in SKIPPED or not isinstance(value, int | float):
                    continue
                name, text, kind, scale = FIGURES.get(
                    key, (key, f"the stage's {key.replace('_', ' ')}", "gauge", 1.0)
                )
                family(name, text, kind).add_metric(values, float(value) * scale)
        yield from families.values()


def serve_metrics(runner: Any, port: int, address: str = "0.0.0.0") -> Any:
    """Serve the runner's figures on ``http://address:port/metrics`` -> the server (call
    ``shutdown()`` when the run ends). `MetricsError` (one line) when it cannot start."""
    try:
        from prometheus_client import CollectorRegistry, start_http_server
    except ImportError:
        raise MetricsError(
            "--metrics-port needs prometheus-client: pip install 'crowdpose3d[metrics]'"
        ) from None
    if not 0 < port < 2**16:
        raise MetricsError(f"--metrics-port must be a port number 1-65535, got {port}")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(runner))
    try:
        server, _thread = start_http_server(port, addr=address, registry=registry)
    except OSError as error:
        raise MetricsError(
            f"cannot serve metrics on port {port} ({error.strerror}); pick a free port"
        ) from None
    return server
