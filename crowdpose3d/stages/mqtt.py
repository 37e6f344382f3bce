"""The mqtt sink: publishes the regions stage's events to an MQTT broker (``mqtt`` extra).

One topic per source and kind, ``<topic_prefix>/<source>/<kind>`` (e.g.
``crowdpose3d/cam1/line_crossing``), with the event's JSON payload
(`crowdpose3d.tracks.events.Event.payload`, schema in docs/analytics.md) plus ``seq``, a
number that counts this run's events from 0 (delivery is at least once: after a reconnection
an event may arrive twice, and ``seq`` tells the copies apart).

Nothing here blocks the pipeline: the stage only appends to a bounded queue; a background
thread owns the paho-mqtt client, connects (and reconnects, with a back-off of up to
``reconnect_max_s``) and takes an event off the queue only once the broker has acknowledged
it (QoS 1), so an event that was in the queue when the broker went away is sent when it
comes back. When the queue is full the oldest event is dropped (counted in ``dropped``).
``close`` waits up to ``drain_timeout_s`` for the queue to empty; what is still queued
then is not sent (``unsent``, logged with ``dropped``).
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Iterator

from pydantic import Field

from crowdpose3d.messages import first_line
from crowdpose3d.pipeline.frame import Frame
from crowdpose3d.pipeline.stage import BaseStage, StageContext, StageError, StageParams
from crowdpose3d.tracks.events import FRAME_EVENTS_KEY, Event

log = logging.getLogger("crowdpose3d.mqtt")

ACK_WAIT_S = 0.5  # how long the sender waits for one acknowledgement before checking again
IDLE_WAIT_S = 0.05  # how long the sender sleeps when the queue is empty or it is offline


class MqttParams(StageParams):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = "crowdpose3d"  # topics are <prefix>/<source>/<kind>
    qos: int = Field(1, ge=0, le=2)  # 1: the broker acknowledges each event
    queue_size: int = Field(10_000, ge=1)  # events waiting; beyond it the oldest is dropped
    client_id: str = ""  # empty: the broker picks one
    keepalive_s: int = Field(30, ge=5)
    reconnect_max_s: float = Field(10.0, gt=0)  # longest wait between reconnection tries
    drain_timeout_s: float = Field(5.0, ge=0)  # close() waits this long for the queue


def topic(prefix: str, event: Event) -> str:
    """``<prefix>/<source>/<kind>``; MQTT wildcards and separators in a source become ``_``."""
    source = "".join("_" if c in "+#/" else c for c in event.source)
    return f"{prefix}/{source}/{event.kind}"


class MqttPublisher:
    """A bounded drop-oldest queue of (topic, payload) and the thread that sends it."""

    def __init__(self, params: MqttParams) -> None:
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise StageError(
                "the mqtt sink needs paho-mqtt: pip install 'crowdpose3d[mqtt]'"
            ) from None
        self.params = params
        self._mqtt = mqtt
        self._queue: collections.deque[tuple[str, str]] = collections.deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self.dropped = 0  # events dropped from a full queue
        self.sent = 0  # events the broker acknowledged
        self.unsent = 0  # events still queued when close() gave up waiting
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=params.client_id)
        client.reconnect_delay_set(min_delay=1, max_delay=max(1, round(params.reconnect_max_s)))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client
        self._thread = threading.Thread(target=self._send_loop, name="mqtt-sender", daemon=True)

    def start(self) -> None:
        try:
            self._client.connect_async(self.params.host, self.params.port, self.params.keepalive_s)
        except (OSError, ValueError) as error:
            raise StageError(f"mqtt: cannot use {self.params.host}: {first_line(error)}") from None
        self._client.loop_start()  # paho's network thread; it reconnects on its own
        self._thread.start()

    def put(self, topic_name: str, payload: str) -> None:
        """Queue one message; never blocks (a full queue drops its oldest)."""
        with self._lock:
            if len(self._queue) >= self.params.queue_size:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append((topic_name, payload))

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def close(self, timeout_s: float) -> None:
        """Send what is queued for up to ``timeout_s``, then stop."""
        deadline = time.monotonic() + timeout_s
        while self.pending() and time.monotonic() < deadline:
            time.sleep(IDLE_WAIT_S)
        self.unsent = self.pending()
        if self.unsent or self.dropped:
            log.warning(
                "mqtt: %d event(s) not sent at the end (broker unreachable for %.0f s), %d "
                "dropped from the full queue",
                self.unsent,
                timeout_s,
                self.dropped,
            )
        self._stop.set()
        self._thread.join()
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()

    def _send_loop(self) -> None:
        """Publish the queue's head; drop it from the queue only once acknowledged."""
        while not self._stop.is_set():
            with self._lock:
                head = self._queue[0] if self._queue else None
            if head is None or not self._connected.is_set():
                time.sleep(IDLE_WAIT_S)
                continue
            info = self._client.publish(head[0], head[1], qos=self.params.qos)
            if info.rc == self._mqtt.MQTT_ERR_SUCCESS:
                while not self._stop.is_set() and self._connected.is_set():
                    if info.is_published():
                        break
                    info.wait_for_publish(ACK_WAIT_S)
            if info.rc == self._mqtt.MQTT_ERR_SUCCESS and info.is_published():
                with self._lock:
                    if self._queue and self._queue[0] is head:  # not dropped meanwhile
                        self._queue.popleft()
                self.sent += 1
            else:
                time.sleep(IDLE_WAIT_S)  # offline or refused: the head is sent again later


class MqttSink(BaseStage):
    """Publishes ``frame.data["events"]`` (see the module docstring); passes frames on."""

    Params = MqttParams

    def __init__(self, params: MqttParams) -> None:
        super().__init__(params)
        self.params: MqttParams = params
        self.publisher: MqttPublisher | None = None
        self._seq = 0

    def open(self, context: StageContext) -> None:
        super().open(context)
        self.publisher = MqttPublisher(self.params)
        self.publisher.start()

    def __call__(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            for event in frame.data.get(FRAME_EVENTS_KEY, ()):
                self.publish(event)
            yield frame

    def publish(self, event: Event) -> None:
        """Queue one event (its payload with ``seq``) on its topic."""
        payload = event.payload() | {"seq": self._seq}
        self._seq += 1
        self.publisher.put(topic(self.params.topic_prefix, event), json.dumps(payload))

    def close(self) -> None:
        if self.publisher is not None:
            self.publisher.close(self.params.drain_timeout_s)
