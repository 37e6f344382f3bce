"""A real RTSP server (GStreamer's gst-rtsp-server) for the tests and live_camera.py,
serving one H.264 MP4 at rtsp://127.0.0.1:PORT/clip in real time. Run by the system
Python, which has PyGObject:

    /usr/bin/python3 examples/rtsp_server.py CLIP.mp4 PORT
"""

import sys

sys.path.append("/usr/lib/python3/dist-packages")

import gi  # noqa: E402

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    clip, port = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f"( filesrc location={clip} ! qtdemux ! h264parse config-interval=-1 "
        "! rtph264pay name=pay0 pt=96 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory("/clip", factory)
    server.attach(None)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
