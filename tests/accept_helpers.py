"""Shared by test_accept_files.py and test_accept_models.py: example counts, a fresh directory per
hypothesis example, and the equality every kind is read back with."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = {"safetensors": 150, "npz": 50, "csv": 60, "onnx": 30, "tflite": 25}


@pytest.fixture(scope="module", autouse=True)
def _base(tmp_path_factory):
    global BASE
    BASE = tmp_path_factory.mktemp("accept")


def write(blob: bytes, name: str) -> Path:
    """Into a fresh directory per hypothesis example (pytest's tmp_path is one per test)."""
    path = Path(tempfile.mkdtemp(dir=BASE)) / name
    path.write_bytes(blob)
    return path


def same(got: dict, want: dict) -> None:
    """Equal names, dtypes, shapes and bytes (bytes: NaN payloads and -0.0 count too)."""
    assert sorted(got) == sorted(want)
    for k, a in want.items():
        b = np.asarray(got[k])
        assert (b.dtype, b.shape, b.tobytes()) == (a.dtype, a.shape, a.tobytes()), k
