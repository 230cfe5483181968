"""The Runner contract: an artefact as a pure function of its inputs, state included.

    run({"x": (B, T, F), "h0": (L, B, H), "c0": (L, B, H)}) → {"y": (B, T, O), "hn": …, "cn": …}

Every runner — onnxruntime, LiteRT, an ORT-format file, a step artefact stepped through a whole
sequence, an artefact isolated in a child process, and on the host PyTorch and the NumPy
reference — carries the same attributes, so one conformance suite (tests/test_runners.py) runs
over all of them and no caller rebuilds them from a sidecar:

    name            "onnxruntime:onnx-fp32.onnx"
    input_names     ("x", "h0", "c0")
    output_names    the outputs it returns, e.g. ("y", "hn") for the fused TFLite kernel
    expected        input name → declared shape, None for a dynamic dimension
    missing         output → why this artefact cannot return it ({"cn": "the fused … kernel …"})
    info            the artefact's sidecar (parent stage, precision, recipe …); {} when there is none
    unrolled        (artefact runners) Unrolled(path, T) when it takes exactly T steps, else None

Rows of a batch never mix. Where an artefact's probe found that they do (dynamic quantization
scales activations per call, over the whole batch: measured 2.6e-3 on onnx-int8-dynamic at B = 2),
its sidecar says "batch_resizable": false and the runner feeds it one row per call (run_by_row).

An artefact unrolled at a fixed T (the BYO general TFLite path: its sidecar says
"fixed_time_steps": T) takes that T and no other: its `expected` x has T fixed, every call with
another T is refused naming the artefact and its T, and it is never mistaken for a step artefact,
which a Stream steps through time. Reason: LiteRT's signature runner resizes any input dimension
(non-strictly) and runs; an unrolled graph that does not check its T itself answers for the wrong T
without a word (measured on a 1-layer GRU unrolled at 20: last-step head 0.076 off at T = 33,
0.57 at T = 10; a per-step head returns 20 steps whatever T).

A runner keeps no state between calls. Inputs are checked before the runtime sees them
(names, dtype, rank, dimensions, batch agreement, T > 0, finite), so a mistake is named
here instead of surfacing as a runtime's own message. Nothing is cast silently.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from lstm_edge.errors import InvalidInputError

INPUT_NAMES = ("x", "h0", "c0")
OUTPUT_NAMES = ("y", "hn", "cn")


class Runner(Protocol):
    name: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    expected: dict[str, tuple[int | None, ...]]
    missing: dict[str, str]
    info: dict

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def read_info(path: Path) -> dict:
    """The sidecar `<artefact>.json` beside an artefact, or {} (a bare file from elsewhere)."""
    sidecar = Path(path).with_name(Path(path).name + ".json")
    if not sidecar.exists():
        return {}
    try:
        info = json.loads(sidecar.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"{sidecar}: not valid JSON ({e})", hint="re-export the artefact") from None
    if not isinstance(info, dict):
        raise InvalidInputError(f"{sidecar}: expected a JSON object, found {type(info).__name__}")
    return info


def run_by_row(invoke, feeds: dict[str, np.ndarray], output_names) -> dict[str, np.ndarray]:
    """`invoke` once per batch row, rows stacked: y on the batch axis (0), states on theirs (1)."""
    rows = [invoke({k: v[b:b + 1] if k == "x" else v[:, b:b + 1] for k, v in feeds.items()})   # a GRU has no c0
            for b in range(feeds["x"].shape[0])]
    return {k: np.concatenate([r[k] for r in rows], axis=0 if k == "y" else 1) for k in output_names}


class Unrolled(NamedTuple):
    """An artefact that takes exactly `steps` time steps (its recurrence unrolled at export)."""

    path: Path
    steps: int

    def refusal(self, got: int) -> InvalidInputError:
        onnx = self.path.with_suffix(".onnx")
        other = f"; or use {onnx.name} beside it, which takes any T" if self.path.suffix != ".onnx" and onnx.exists() else ""
        return InvalidInputError(
            f"{self.path}: takes exactly T = {self.steps} time steps (its recurrence is unrolled at the export's T); "
            f"got x with T = {got}",
            hint=f"export again with T = {got} in --example-shape (the general TFLite path unrolls at that T){other}")


def unrolled(info: dict, path: Path) -> Unrolled | None:
    """The sidecar's "fixed_time_steps" (None for an artefact that takes any T), checked."""
    steps = info.get("fixed_time_steps")
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InvalidInputError(f"{path}.json: 'fixed_time_steps' is {steps!r}, expected a positive integer or null",
                                hint="re-export the artefact")
    return Unrolled(Path(path), steps)


def pin_time_steps(expected: dict[str, tuple], info: dict, path: Path) -> tuple[dict[str, tuple], Unrolled | None]:
    """`expected` with x's time axis fixed at the sidecar's T, and that T (or None). Every runner
    builds its `expected` through here, so the guard cannot be left out of one of them."""
    fixed = unrolled(info, path)
    if fixed is None:
        return expected, None
    x = expected["x"]
    if len(x) < 2 or x[1] not in (None, fixed.steps):   # the sidecar is not this graph's
        raise InvalidInputError(f"{path}: its sidecar says it takes T = {fixed.steps} but the graph declares x {_fmt(x)}",
                                hint="the sidecar belongs to another artefact; re-export")
    return expected | {"x": (x[0], fixed.steps, *x[2:])}, fixed


def is_step_artifact(runner) -> bool:
    """A step artefact (x (B, 1, F), returns cn) is stepped through a sequence by a Stream. An artefact
    unrolled at a fixed T is not one, even at T = 1: stepping it would feed it T's it never took,
    and chunking a last-step head would stack one answer per chunk."""
    return (runner.expected["x"][1] == 1 and "cn" in runner.output_names
            and getattr(runner, "unrolled", None) is None and runner.info.get("fixed_time_steps") is None)


def check_inputs(feeds: dict, expected: dict[str, tuple], where: str, *, fixed: Unrolled | None = None) -> None:
    """Refuse inputs that do not match the artefact's declared I/O.

    `expected` maps input name → shape with None for dynamic dims, e.g.
    {"x": (None, None, 4), "h0": (2, None, 64), "c0": (2, None, 64)}. `fixed`: the artefact's
    unrolled T (pin_time_steps); another T is named first, before any other mismatch.
    """
    x = feeds.get("x")
    if fixed is not None and isinstance(x, np.ndarray) and x.ndim >= 2 and x.shape[1] != fixed.steps:
        raise fixed.refusal(x.shape[1])
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
            raise InvalidInputError(f"{where}: input '{name}' has rank {a.ndim} (shape {a.shape}), "
                                    f"expected rank {len(shape)} {_fmt(shape)}")
        for d, (got, want) in enumerate(zip(a.shape, shape)):
            if want is not None and got != want:
                raise InvalidInputError(f"{where}: input '{name}' dimension {d} is {got}, expected {want} "
                                        f"(shape {a.shape} vs {_fmt(shape)})")
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
