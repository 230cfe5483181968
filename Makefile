# Two commands for a fresh machine with only python3 and make:
#   make demo   train the default model and take it through every stage
#   make test   run the test suite
# and one for the device install:
#   make device-check   a fresh venv with only `pip install lstm-edge` verifies the demo's bundle
# and one for the numbers:
#   make bench          lstm-edge bench on the default model and on the H = 256 throughput model
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test install clean device-check bench

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[export,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/lstm-edge pipeline --model models/sensor.toml --out artifacts/sensor

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	test -f artifacts/sensor/report.json || $(MAKE) demo
	test -f artifacts/throughput/report.json || $(BIN)/lstm-edge pipeline --model models/throughput.toml --out artifacts/throughput
	$(BIN)/lstm-edge bench artifacts/sensor
	$(BIN)/lstm-edge bench artifacts/throughput --scenario throughput

DEVICE := build/device
device-check: $(STAMP)
	test -f artifacts/sensor/bundle/manifest.json || $(MAKE) demo
	rm -rf $(DEVICE) && mkdir -p $(DEVICE)
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation -w $(DEVICE)/wheel .
	$(PYTHON) -m venv $(DEVICE)/venv
	$(DEVICE)/venv/bin/python -m pip install --quiet $(DEVICE)/wheel/*.whl
	$(DEVICE)/venv/bin/python -m pip freeze
	cp -r artifacts/sensor/bundle $(DEVICE)/copied-bundle
	cd $(DEVICE) && venv/bin/python -m lstm_edge.runtime verify copied-bundle

clean:
	rm -rf artifacts build *.egg-info
