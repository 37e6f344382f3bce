"""The mqtt sink against a real Mosquitto broker started on a free loopback port.

The broker is the Debian package ``mosquitto`` (scripts/system-packages.sh installs it, so
these run in CI); without it the tests are skipped with that reason.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import StageContext, build_stage
from crowdpose3d.tracks.events import FRAME_EVENTS_KEY, LINE_CROSSING, ZONE_LEAVE, Event

mqtt = pytest.importorskip("paho.mqtt.client", reason="needs the mqtt extra (paho-mqtt)")
MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="needs the mosquitto broker: sudo bash scripts/system-packages.sh"
)
WAIT_S = 20.0  # the longest a test waits for messages to arrive


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    """A mosquitto process on 127.0.0.1:port with persistence in ``folder`` (so a durable
    subscription survives a restart)."""

    def __init__(self, folder: Path, port: int) -> None:
        self.port = port
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nautosave_interval 1\n"
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: saves the persistent sessions
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def broker(tmp_path):
    broker = Broker(tmp_path, free_port())
    broker.start()
    yield broker
    broker.stop()


class Subscriber:
    """A durable (clean_session False) QoS 1 subscriber that keeps every message."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="test-subscriber", clean_session=False
        )
        client.reconnect_delay_set(min_delay=1, max_delay=1)
        client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        client.on_subscribe = lambda c, u, mid, rc, p: self._subscribed.set()
        client.on_message = self._keep
        client.connect("127.0.0.1", port)
        client.loop_start()
        assert self._subscribed.wait(10), "the subscriber could not subscribe"
        self.client = client

    def _keep(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, json.loads(message.payload)))

    def wait_for(self, count: int) -> list[tuple[str, dict]]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            with self._lock:
                if len({m[1]["seq"] for m in self.messages}) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def crossing(track_id: int, time_s: float) -> Event:
    return Event(
        source="cam/1",
        kind=LINE_CROSSING,
        region="gate",
        space="image",
        frame=int(time_s * 10),
        time_s=time_s,
        track_id=track_id,
        direction="left_to_right",
        xy=(1.5, 2.0),
    )


def frames_with(events: list[Event]) -> list[Frame]:
    return [
        Frame("cam/1", i, 0.1 * i, None, data={FRAME_EVENTS_KEY: [event]})
        for i, event in enumerate(events)
    ]


def open_sink(port: int, **options):
    sink = build_stage("mqtt", {"port": port, "reconnect_max_s": 1.0, **options})
    sink.open(StageContext())
    return sink


def test_events_arrive_on_one_topic_per_source_and_kind_as_json(broker):
    subscriber = Subscriber(broker.port, "crowdpose3d/#")
    sink = open_sink(broker.port)
    leave = Event(
        source="cam/1",
        kind=ZONE_LEAVE,
        region="queue",
        space="ground",
        frame=30,
        time_s=3.0,
        track_id=4,
        dwell_s=12.5,
        reason="left",
    )
    passed = list(sink(iter(frames_with([crossing(3, 1.0), leave]))))
    assert len(passed) == 2  # the frames go on
    sink.close()
    messages = subscriber.wait_for(2)
    subscriber.close()
    assert sorted(topic for topic, _ in messages) == [
        "crowdpose3d/cam_1/line_crossing",  # "/" in a source id would split the topic
        "crowdpose3d/cam_1/zone_leave",
    ]
    payloads = {payload["kind"]: payload for _, payload in messages}
    assert payloads["line_crossing"] == {
        "v": 1,
        "seq": 0,
        "source": "cam/1",
        "kind": "line_crossing",
        "region": "gate",
        "space": "image",
        "frame": 10,
        "time_s": 1.0,
        "track_id": 3,
        "direction": "left_to_right",
        "x": 1.5,
        "y": 2.0,
    }
    assert payloads["zone_leave"]["dwell_s"] == 12.5
    assert payloads["zone_leave"]["reason"] == "left"
    assert "direction" not in payloads["zone_leave"]  # fields that do not apply are absent


def test_a_broker_restart_loses_no_event_that_was_in_the_queue(broker):
    subscriber = Subscriber(broker.port, "crowdpose3d/#")  # durable: survives the restart
    sink = open_sink(broker.port)
    list(sink(iter(frames_with([crossing(k, float(k)) for k in range(5)]))))
    assert len({m[1]["seq"] for m in subscriber.wait_for(5)}) == 5
    broker.stop()
    started = time.monotonic()
    list(sink(iter(frames_with([crossing(k, float(k)) for k in range(5, 25)]))))
    assert time.monotonic() - started < 0.5  # the pipeline never waits for the broker
    time.sleep(1.0)
    assert sink.publisher.pending() >= 19  # waiting in the bounded queue (one may be in flight)
    broker.start()
    sink.close()  # drains the queue once reconnected
    messages = subscriber.wait_for(25)
    subscriber.close()
    assert sorted({payload["seq"] for _, payload in messages}) == list(range(25))
    assert sink.publisher.dropped == 0


def test_a_full_queue_drops_its_oldest_events_and_never_blocks(tmp_path):
    port = free_port()  # nobody listens: the sink stays offline
    sink = open_sink(port, queue_size=3, drain_timeout_s=0)
    started = time.monotonic()
    list(sink(iter(frames_with([crossing(k, float(k)) for k in range(10)]))))
    assert time.monotonic() - started < 0.5
    assert sink.publisher.pending() == 3 and sink.publisher.dropped == 7
    kept = [json.loads(payload)["seq"] for _, payload in list(sink.publisher._queue)]
    assert kept == [7, 8, 9]  # the newest stay
    sink.close()
    assert sink.publisher.unsent == 3  # no broker: they are counted, not sent
