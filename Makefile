# Two commands for a fresh machine with only python3 and make:
#   make demo   train the default model and take it through every stage
#   make test   run the test suite
# and the quick loop while you work:
#   make test-fast   every package's fast tests, under a minute: pytest -m "not slow" skips what trains
#                    a model, converts with TensorFlow or builds venvs (`make test` still runs everything)
# and one for the device install:
#   make device-check   a fresh venv with only `pip install lstm-edge` verifies the demo's bundle
#   make device-check-arm64   the demo's bundle verified on aarch64, emulated (lstm-edge device-check; needs
#                       `sudo make setup-arm64` once: qemu-user-static and Debian's arm64 package architecture)
# and one for the numbers:
#   make bench          lstm-edge bench on the default model and on the H = 256 throughput model
#   make readme-figures the README's figures from that real run (tools/readme_figures.py)
# and one for your own model (README "Your model, end to end"):
#   make your-model     four users' models (examples/your_model) through init → pipeline → device verify → bench
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint typing-view install clean device-check device-check-arm64 setup-arm64 bench \
        readme-figures your-model

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[export,dev,peers]'
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

# The README's figures (between <!-- figures:NAME --> markers) from a real run: what make demo
# printed, kept in $(DEMO_CONSOLE) (made here by running make demo when it or the report is
# missing), artifacts/sensor/report.json and the two bench.json of make bench (run when missing).
# `make readme-figures FIGURES=--check` writes nothing: exit 1 with a diff if the README is stale.
DEMO_CONSOLE := artifacts/sensor.console
readme-figures: $(STAMP)
	test -f $(DEMO_CONSOLE) -a -f artifacts/sensor/report.json || { mkdir -p artifacts && \
	  { $(MAKE) --no-print-directory demo > $(DEMO_CONSOLE).part 2>&1 || { cat $(DEMO_CONSOLE).part; exit 1; }; } && \
	  mv $(DEMO_CONSOLE).part $(DEMO_CONSOLE); }
	test -f artifacts/sensor/bench.json -a -f artifacts/throughput/bench.json || $(MAKE) --no-print-directory bench
	$(BIN)/python tools/readme_figures.py --console $(DEMO_CONSOLE) $(FIGURES)

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

# What lstm-edge device-check --arch aarch64 needs from the system, once, as root (the rest it builds as a
# normal user under ~/.cache/lstm-edge/aarch64): qemu's user-mode emulator and Debian's arm64 packages.
setup-arm64:
	apt-get update && apt-get install -y qemu-user-static
	dpkg --add-architecture arm64 && apt-get update

device-check-arm64: $(STAMP)
	test -f artifacts/sensor/bundle/manifest.json || $(MAKE) demo
	$(BIN)/lstm-edge device-check artifacts/sensor/bundle --arch aarch64

clean:
	rm -rf artifacts build *.egg-info

# README "Your model, end to end", command for command (into artifacts/; init never overwrites, so the
# project files are written afresh each time).
YOURS := artifacts/your_model
your-model: $(STAMP)
	$(BIN)/python examples/your_model/make.py $(YOURS)
	rm -f $(YOURS)/kws.toml $(YOURS)/forecaster.toml $(YOURS)/conv_attention.toml $(YOURS)/residual.toml
	$(BIN)/lstm-edge init --module examples/your_model/kws.py:KeywordSpotter --weights $(YOURS)/kws.safetensors \
	    --example-shape 2,30,13 --evaluation $(YOURS)/kws_eval.npz --calibration $(YOURS)/kws_calib.npz --out $(YOURS)/kws.toml
	$(BIN)/lstm-edge pipeline --project $(YOURS)/kws.toml --out artifacts/kws
	$(BIN)/python -m lstm_edge.runtime verify artifacts/kws/bundle
	$(BIN)/lstm-edge bench artifacts/kws
	$(BIN)/lstm-edge init --module examples/your_model/forecaster.py:Forecaster --weights $(YOURS)/forecaster.safetensors \
	    --example-shape 2,64,2 --evaluation $(YOURS)/forecaster_eval.npz \
	    --metric-function examples/your_model/smape.py:smape --lower-is-better --out $(YOURS)/forecaster.toml
	$(BIN)/lstm-edge pipeline --project $(YOURS)/forecaster.toml --out artifacts/forecaster
	$(BIN)/python -m lstm_edge.runtime verify artifacts/forecaster/bundle
	$(BIN)/lstm-edge bench artifacts/forecaster
	$(BIN)/lstm-edge init --module examples/your_model/conv_attention.py:ConvAttentionClassifier \
	    --weights $(YOURS)/conv_attention.safetensors --example-shape 2,30,13 --evaluation $(YOURS)/kws_eval.npz \
	    --calibration $(YOURS)/kws_calib.npz --out $(YOURS)/conv_attention.toml
	$(BIN)/lstm-edge pipeline --project $(YOURS)/conv_attention.toml --out artifacts/conv_attention
	$(BIN)/python -m lstm_edge.runtime verify artifacts/conv_attention/bundle
	$(BIN)/lstm-edge bench artifacts/conv_attention
	$(BIN)/lstm-edge init --module examples/your_model/residual.py:ResidualForecaster \
	    --weights $(YOURS)/residual.safetensors --example-shape 2,64,2 \
	    --evaluation $(YOURS)/forecaster_eval.npz --out $(YOURS)/residual.toml
	$(BIN)/lstm-edge pipeline --project $(YOURS)/residual.toml --out artifacts/residual
	$(BIN)/python -m lstm_edge.runtime verify artifacts/residual/bundle
	$(BIN)/lstm-edge bench artifacts/residual
	$(BIN)/python tools/your_model_figures.py artifacts/kws artifacts/forecaster artifacts/conv_attention artifacts/residual
