# Two commands for a fresh machine with only python3 and make:
#   make demo   train the default model and take it through every stage
#   make test   run the test suite
# and the quick loop while you work:
#   make test-fast   every package's fast tests, under a minute: pytest -m "not slow" skips what trains
#                    a model, converts with TensorFlow or builds venvs (`make test` still runs everything)
# and one for the device install:
#   make device-check   a fresh venv with only `pip install lstm-edge` verifies the demo's bundle
# and one for the numbers:
#   make bench          lstm-edge bench on the default model and on the H = 256 throughput model
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint typing-view install clean device-check bench

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[export,dev]'
	$(MAKE) --no-print-directory typing-view
	touch $(STAMP)

# The installed layout as plain folders, for type checkers and editors (pyproject: [tool.pyright],
# [tool.mypy]): build/typing/lstm_edge holds links to every entry of lstm_edge/, plus converters/ and
# runtime/ under their installed names. The editable install's import hook is invisible to them.
typing-view:
	rm -rf build/typing && mkdir -p build/typing/lstm_edge
	for f in lstm_edge/*; do ln -s ../../../$$f build/typing/lstm_edge/; done
	ln -s ../../../converters build/typing/lstm_edge/converters
	ln -s ../../../runtime build/typing/lstm_edge/runtime

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/lstm-edge pipeline --model models/sensor.toml --out artifacts/sensor

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The `slow` marker (pyproject.toml) is on every test that trains, converts with TensorFlow or
# builds venvs; tests/test_fast_loop.py checks that each package keeps a fast test.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# ruff, configured in pyproject.toml ([tool.ruff]): a small rule set that finds bugs, on the whole tree
lint: $(STAMP)
	$(BIN)/ruff check .

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
