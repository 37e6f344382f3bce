# Set-up and the two everyday commands. Each target makes the virtual environment it needs
# (.venv) on first use: torch==2.13.0 first (a newer torch would pull CUDA wheels), then
# the project.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench clean system-packages peers

$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PY) -m pip install --quiet -e ".[plot,ray,mesh,onnx,openvino,crowd,mqtt,pedpy,metrics]" --group dev
	$(PY) -m pip install --quiet --no-deps "trackeval==1.3.0"
	# JuPedSim declares PySide6 and VTK (1.2 GB) that `import jupedsim` does not use.
	$(PY) -m pip install --quiet --no-deps "jupedsim>=1.4,<2"
	touch $@

## peers: the dev tools plus the trackers benchmarks/tracking_peers.py compares with (--no-deps:
## they would replace opencv-python-headless with opencv-python)
peers: $(VENV)/.peers
$(VENV)/.peers: $(VENV)/.dev
	$(PY) -m pip install --quiet --group peers-requirements
	$(PY) -m pip install --quiet --no-deps "trackers==2.6.1" "supervision==0.31.2"
	touch $@

## demo: install, then run the main job on the built-in default: the default pipeline with the
## shipped model on a generated sample clip, compared with its ground truth (out/demo/)
demo: $(VENV)/.runtime
	$(VENV)/bin/crowdpose3d demo

## test: install with the dev tools, then run the whole test suite
test: $(VENV)/.dev
	$(PY) -m pytest

## system-packages: the Debian packages for the live-camera tests and the mesh renderer (as root)
system-packages:
	bash scripts/system-packages.sh

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check crowdpose3d tests benchmarks
	$(VENV)/bin/ruff format --check crowdpose3d tests benchmarks

## bench: speed of every model preset at 512x320 and 928x576
bench: $(VENV)/.runtime
	$(PY) benchmarks/model_speed.py

clean:
	rm -rf $(VENV) .pytest_cache
