"""The Runner interface: an artefact as a pure function of its inputs, state included.

    run({"x": (B, T, F), "h0": (L, B, H), "c0": (L, B, H)}) → {"y": (B, T, O), "hn": …, "cn": …}

A runner keeps no state between calls. Inputs are checked before the runtime sees them
(names, dtype, rank, dimensions, batch agreement, T > 0, finite), so a mistake is named
here instead of surfacing as a runtime's own message. Nothing is cast silently.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime.sniff import SUFFIX_KIND, expect


class Runner(Protocol):
    name: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def open_runner(path: str | Path, *, threads: int = 1, in_process: bool = False) -> Runner:
    """The runner for an artefact, chosen by its file type. Its sidecar (if any) says whether
    the batch may be resized (LiteRT's integer LSTM may not: measured abort at B = 2) and
    whether it must run isolated in a child process (its probe crashed)."""
    path = Path(path)
    suffix = path.suffix.lower()
    sidecar = path.with_name(path.name + ".json")
    info = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    if info.get("isolate") and not in_process:
        from lstm_edge.runtime.child import ChildRunner

        inner = open_runner(path, threads=threads, in_process=True)   # names and shapes only; never run here
        (b, _, f) = inner.expected["x"]   # the child steps through time itself: any length
        return ChildRunner(path, input_names=inner.input_names, output_names=inner.output_names,
                           expected=inner.expected | {"x": (b, None, f)})
    if suffix in SUFFIX_KIND and suffix != ".npz":
        expect(path, SUFFIX_KIND[suffix])   # by its first bytes: a .pt renamed .onnx is named as such
    if suffix == ".onnx":
        from lstm_edge.runtime.onnx_scan import scan_onnx

        scan_onnx(path)                     # external data outside the directory, raw bytes vs dims
    if suffix in (".onnx", ".ort"):
        from lstm_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, threads=threads)
    if suffix == ".tflite":
        from lstm_edge.runtime.litert_runner import LiteRTRunner

        return LiteRTRunner(path, threads=threads, batch_resizable=info.get("batch_resizable", True))
    raise InvalidInputError(f"{path}: no runner for '{suffix}' files", hint="expected .onnx, .ort or .tflite")


def check_inputs(feeds: dict, expected: dict[str, tuple], where: str) -> None:
    """Refuse inputs that do not match the artefact's declared I/O.

    `expected` maps input name → shape with None for dynamic dims, e.g.
    {"x": (None, None, 4), "h0": (2, None, 64), "c0": (2, None, 64)}.
    """
    missing = [n for n in expected if n not in feeds]
    extra = [n for n in feeds if n not in expected]
    if missing or extra:
        raise InvalidInputError(f"{where}: inputs {sorted(feeds)} do not match the artefact's {list(expected)}"
                                + (f"; missing {missing}" if missing else "") + (f"; unexpected {extra}" if extra else ""))
    for name, shape in expected.items():
        a = feeds[name]
        if not isinstance(a, np.ndarray) or a.dtype != np.float32:
            got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
            raise InvalidInputError(f"{where}: input '{name}' has dtype {got}, expected float32",
                                    hint="convert explicitly with .astype(np.float32); lstm-edge never casts silently")
        if a.ndim != len(shape):
            raise InvalidInputError(f"{where}: input '{name}' has rank {a.ndim} (shape {a.shape}), expected rank {len(shape)} {_fmt(shape)}")
        for d, (got, want) in enumerate(zip(a.shape, shape)):
            if want is not None and got != want:
                raise InvalidInputError(f"{where}: input '{name}' dimension {d} is {got}, expected {want} (shape {a.shape} vs {_fmt(shape)})")
        if a.size == 0:
            raise InvalidInputError(f"{where}: input '{name}' is empty (shape {a.shape}): batch and time must be ≥ 1")
        bad = ~np.isfinite(a)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InvalidInputError(f"{where}: input '{name}' has a non-finite value {a[idx]} at index {idx}",
                                    hint="NaN/Inf propagate through every later step of a recurrence; clean the input")
    if "x" in feeds and "h0" in feeds:
        batch = feeds["x"].shape[0]
        for s in ("h0", "c0"):
            if s in feeds and feeds[s].shape[1] != batch:
                raise InvalidInputError(f"{where}: state '{s}' has batch {feeds[s].shape[1]} (dimension 1) but 'x' has batch {batch}")


def _fmt(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
