"""The device install is the base install: a fresh virtualenv with only `pip install lstm-edge`
(no extras) verifies a bundle copied into another directory.

Builds the wheel of this checkout and installs it (its dependencies come from the package
index, as on a board), so this test needs the registry that `make` itself needs.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "tensorflow", "tf-keras", "onnx", "onnxscript", "typer", "rich", "safetensors", "matplotlib")


def sh(*cmd, cwd=None) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=900)
    assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    return r


def test_base_install_verifies_a_copied_bundle(tiny_run, tmp_path):
    out, _ = tiny_run
    root = Path(__file__).resolve().parents[1]
    sh(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", tmp_path / "wheel", root)
    (wheel,) = (tmp_path / "wheel").glob("lstm_edge-*.whl")
    venv = tmp_path / "device-venv"
    sh(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    sh(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel)
    installed = {line.split("==")[0].lower() for line in sh(python, "-m", "pip", "freeze").stdout.split()}
    assert {"lstm-edge", "numpy", "onnxruntime", "ai-edge-litert"} <= installed
    assert not installed & set(HEAVY), installed & set(HEAVY)
    board = tmp_path / "board"
    shutil.copytree(out / "bundle", board / "model-bundle")
    r = sh(python, "-m", "lstm_edge.runtime", "verify", "model-bundle", cwd=board)
    assert "verdict: PASS" in r.stdout and "skipped" not in r.stdout, r.stdout
