# The two commands of the README: `make demo` and `make test`.
# Both create .venv when it is missing and install the project with CPU-only
# torch pins (GPU users: see README, "Installing with your own torch").

VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEMO    ?= demo
# pytest-xdist workers of `make test`; tests/conftest.py orders the tests, shares the cores among them and gives
# the loadgroup scheduler one group: the files of the tests that need the trained room, so one worker trains it
# while the other runs the rest (xdist 3.8's own groups do not reach pytest 9.2's test ids). Every other test is its
# own unit, handed out one at a time in that order. The whole suite: 10 min 42 s here (585054c plus this scheduling);
# 16 min 48 s before, when both workers trained the room at once.
TEST_WORKERS ?= 2
PARALLEL := -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: install test test-fast demo clean-demo

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml tools/torchvision_cpu_compat.py | $(PY)
	$(PY) -m pip install -e ".[cpu,dev]"
	$(PY) tools/install_torchvision_cpu_compat.py
	touch $(STAMP)

install: $(STAMP)

test: install
	$(PY) -m pytest $(PARALLEL)

test-fast: install
	$(PY) -m pytest $(PARALLEL) -m "not slow"

demo: install
	$(BIN)/ns-panoptic demo-data $(DEMO)/scene
	$(BIN)/ns-panoptic validate $(DEMO)/scene
	$(BIN)/ns-train panoptic-lifting-lite --data $(DEMO)/scene --output-dir $(DEMO)/outputs \
		--experiment-name scene --timestamp demo --viewer.quit-on-train-completion True
	$(BIN)/ns-panoptic eval --load-config $(DEMO)/outputs/scene/panoptic-lifting-lite/demo/config.yml \
		--output-dir $(DEMO)/eval
	$(BIN)/ns-render interpolate --load-config $(DEMO)/outputs/scene/panoptic-lifting-lite/demo/config.yml \
		--rendered-output-names rgb panoptic --interpolation-steps 4 --frame-rate 8 \
		--output-path $(DEMO)/panoptic.mp4
	@echo "Demo done: $(DEMO)/eval/metrics.json, $(DEMO)/panoptic.mp4"

clean-demo:
	rm -rf $(DEMO)
