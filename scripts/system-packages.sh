#!/usr/bin/env bash
# Debian packages the project needs beyond Python, installed only when missing (as root):
# - make, python3-venv: the set-up (Makefile);
# - GStreamer's RTSP server with PyGObject: the live-camera tests (tests/test_rtsp.py) and
#   examples/rtsp_server.py;
# - Mesa's EGL and software rasteriser: `crowdpose3d synth --renderer mesh`
#   (tests/test_synth_mesh.py);
# - Mosquitto, the MQTT broker the mqtt sink's tests start on loopback (tests/test_mqtt.py).
# Used by .ci/run and `make system-packages`.
set -euo pipefail

missing=()
command -v make >/dev/null 2>&1 || missing+=(make)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
if ! /usr/bin/python3 -c "import sys; sys.path.append('/usr/lib/python3/dist-packages'); \
import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" \
    >/dev/null 2>&1; then
  missing+=(gstreamer1.0-tools gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0
            gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
            gstreamer1.0-libav gir1.2-gstreamer-1.0 python3-gi)
fi
if ! ldconfig -p 2>/dev/null | grep -q 'libEGL_mesa\.so\.0'; then
  missing+=(libegl1 libegl-mesa0 libgl1-mesa-dri)
fi
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "system packages missing: ${missing[*]}; run as root: sudo $0" >&2
  exit 1
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
