# Two commands for a fresh machine with only python3 and make:
#   make demo   train the default model and take it through every stage
#   make test   run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[export,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/lstm-edge pipeline --model models/sensor.toml --out artifacts/sensor

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf artifacts build *.egg-info
