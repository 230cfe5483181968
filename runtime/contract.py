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
    x_spec          (artefact runners) XSpec: x's layout and dtype; XSpec() is lstm-edge's (B, T, F) float32

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

x is lstm-edge's (B, T, F) float32 unless the sidecar says otherwise: an artefact of a user's module
(lstm-edge export --module, lstm_edge/byo/) keeps that module's layout and dtype, and its sidecar
says which ("x_layout", "x_dtype", "vocab_size", "y_batch_axis": XSpec below; lstm-edge's own
sidecars have none of them). The runner reads them into `x_spec`: the time axis is the one an
unrolled T is held on, the batch axis the one states are checked against and rows are split on,
and x's dtype is checked as the states' is — int64 token ids for an Embedding input (float
refused there, and ids there refused everywhere else), each id inside the vocabulary.

A runner keeps no state between calls. Inputs are checked before the runtime sees them
(names, dtype, rank, dimensions, batch agreement, T > 0, finite, ids in the vocabulary), so a
mistake is named here instead of surfacing as a runtime's own message. Nothing is cast silently.
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


X_LAYOUTS = {"BTF": "(B, T, F)", "TBF": "(T, B, F)", "BT": "(B, T)", "TB": "(T, B)"}
X_DTYPES = ("float32", "int64")


class XSpec(NamedTuple):
    """How an artefact takes x, as its sidecar says (defaults: lstm-edge's own contract).

    "x_layout"      "BTF" | "TBF" (a time-major module, batch_first=False) | "BT" | "TB" (token ids)
    "x_dtype"       "float32" | "int64" (token ids: the module's input layer is an nn.Embedding)
    "vocab_size"    int64 ids must lie in 0 … vocab_size − 1 (an id outside reads another row, or nothing)
    "y_batch_axis"  y's batch axis, where rows run one per call are stacked
    """

    layout: str = "BTF"
    dtype: str = "float32"
    vocab: int | None = None
    y_batch_axis: int = 0

    @property
    def batch_axis(self) -> int:
        return self.layout.index("B")

    @property
    def time_axis(self) -> int:
        return self.layout.index("T")

    def describe(self) -> str:
        ids = f" token ids in 0 … {self.vocab - 1}" if self.vocab else " token ids" if self.dtype == "int64" else ""
        return f"x {X_LAYOUTS[self.layout]} {self.dtype}{ids}"


def x_spec(info: dict, path: Path) -> XSpec:
    """The sidecar's x layout and dtype (XSpec()'s defaults where it has none), checked."""
    def bad(key: str, want: str) -> InvalidInputError:
        return InvalidInputError(f"{path}.json: {key!r} is {info[key]!r}, expected {want}", hint="re-export the artefact")

    layout, dtype = info.get("x_layout", "BTF"), info.get("x_dtype", "float32")
    vocab, y_axis = info.get("vocab_size"), info.get("y_batch_axis", 0)
    if layout not in X_LAYOUTS:
        raise bad("x_layout", "one of " + ", ".join(X_LAYOUTS))
    if dtype not in X_DTYPES:
        raise bad("x_dtype", "one of " + ", ".join(X_DTYPES))
    if vocab is not None and (dtype != "int64" or isinstance(vocab, bool) or not isinstance(vocab, int) or vocab < 1):
        raise bad("vocab_size", "a positive integer, with \"x_dtype\": \"int64\"")
    if isinstance(y_axis, bool) or not isinstance(y_axis, int) or y_axis < 0:
        raise bad("y_batch_axis", "a non-negative integer")
    return XSpec(layout, dtype, vocab, y_axis)


def batch_axis(name: str, x_batch_axis: int = 0) -> int:
    """Where an input's rows are: x on its layout's batch axis, lengths (B,) on 0, states (L·D, B, H) on 1."""
    return x_batch_axis if name == "x" else 0 if name == "lengths" else 1


def row(feeds: dict[str, np.ndarray], b: int, x_batch_axis: int = 0) -> dict[str, np.ndarray]:
    """Row b of every input, each keeping its batch axis (of size 1)."""
    return {k: np.ascontiguousarray(np.take(v, [b], axis=batch_axis(k, x_batch_axis))) for k, v in feeds.items()}


def run_by_row(invoke, feeds: dict[str, np.ndarray], output_names, spec: XSpec = XSpec()) -> dict[str, np.ndarray]:
    """`invoke` once per batch row, rows stacked: x split and y stacked on their batch axes (`spec`),
    states on theirs (1)."""
    bx = spec.batch_axis
    rows = [invoke(row(feeds, b, bx)) for b in range(feeds["x"].shape[bx])]   # a GRU has no c0
    return {k: np.concatenate([r[k] for r in rows], axis=spec.y_batch_axis if k == "y" else 1) for k in output_names}


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


def declare(declared: dict[str, tuple], info: dict, path: Path, *, x_dtype: str | None,
            x_axes: tuple | None = None) -> tuple[dict[str, tuple], Unrolled | None, XSpec]:
    """→ (`expected`, the unrolled T or None, the x spec) of an artefact, from the inputs its graph
    declares and its sidecar. Every artefact runner builds them here, so no guard can be left out of
    one of them. The graph and the sidecar must agree on x's rank (where it says one), on whether x is int64 ids
    (`x_dtype`: the graph's x dtype) and, where the graph names x's axes (`x_axes`, ONNX's dynamic
    axes), on where the batch and time are: a sidecar that is not this graph's is refused here."""
    spec = x_spec(info, path)
    x, layout = declared.get("x"), X_LAYOUTS[spec.layout]
    if x is None:                                                # no x at all: every call is refused by name
        return declared, None, spec
    hint = "keep the sidecar written with the artefact beside it, or re-export"

    def says(key: str) -> str:
        return "its sidecar says" if key in info else \
            f"with no {key!r} ({'none in its sidecar' if info else 'no sidecar beside it'}) lstm-edge's own contract says"

    if (x_dtype == "int64") != (spec.dtype == "int64"):
        raise InvalidInputError(f"{path}: the graph takes x as {x_dtype} but {says('x_dtype')} {spec.dtype}", hint=hint)
    if "x_layout" in info and len(x) != len(spec.layout):      # without one, x is whatever rank the graph declares
        raise InvalidInputError(f"{path}: the graph declares x {_fmt(x)} but its sidecar says x is {layout}", hint=hint)
    names = list(x_axes or ())
    if "batch" in names and "time" in names and (names.index("batch"), names.index("time")) != (spec.batch_axis, spec.time_axis):
        raise InvalidInputError(f"{path}: the graph names x's axes ({', '.join(map(str, names))}) but {says('x_layout')} "
                                f"x is {layout}", hint=hint)
    expected, fixed = pin_time_steps(declared, info, path, spec)
    return expected, fixed, spec


def pin_time_steps(expected: dict[str, tuple], info: dict, path: Path,
                   spec: XSpec = XSpec()) -> tuple[dict[str, tuple], Unrolled | None]:
    """`expected` with x's time axis fixed at the sidecar's T, and that T (or None)."""
    fixed = unrolled(info, path)
    if fixed is None:
        return expected, None
    x, t = list(expected["x"]), spec.time_axis
    if len(x) <= t or x[t] not in (None, fixed.steps):   # the sidecar is not this graph's
        raise InvalidInputError(f"{path}: its sidecar says it takes T = {fixed.steps} but the graph declares x {_fmt(x)}",
                                hint="the sidecar belongs to another artefact; re-export")
    x[t] = fixed.steps
    return expected | {"x": tuple(x)}, fixed


def is_step_artifact(runner) -> bool:
    """A step artefact (x (B, 1, …), returns every state it takes: hn and cn, or a GRU's hn) is stepped
    through a sequence by a Stream. An artefact unrolled at a fixed T is not one, even at T = 1: stepping
    it would feed it T's it never took, and chunking a last-step head would stack one answer per chunk."""
    time_axis = getattr(runner, "x_spec", XSpec()).time_axis
    states = [n for n in runner.input_names if n != "x"]
    returns_state = bool(states) and all(n.replace("0", "n") in runner.output_names for n in states)
    return (runner.expected["x"][time_axis] == 1 and returns_state
            and getattr(runner, "unrolled", None) is None and runner.info.get("fixed_time_steps") is None)


def check_inputs(feeds: dict, expected: dict[str, tuple], where: str, *, fixed: Unrolled | None = None,
                 spec: XSpec = XSpec()) -> None:
    """Refuse inputs that do not match the artefact's declared I/O.

    `expected` maps input name → shape with None for dynamic dims, e.g.
    {"x": (None, None, 4), "h0": (2, None, 64), "c0": (2, None, 64)}. `fixed`: the artefact's
    unrolled T (pin_time_steps); another T is named first, before any other mismatch. `spec`: x's
    layout (which axis is the batch, which the time) and dtype (int64 ids in the vocabulary).
    """
    x, t = feeds.get("x"), spec.time_axis
    if fixed is not None and isinstance(x, np.ndarray) and x.ndim > t and x.shape[t] != fixed.steps:
        raise fixed.refusal(x.shape[t])
    missing = [n for n in expected if n not in feeds]
    extra = [n for n in feeds if n not in expected]
    if missing or extra:
        raise InvalidInputError(f"{where}: inputs {sorted(feeds)} do not match the artefact's {list(expected)}"
                                + (f"; missing {missing}" if missing else "") + (f"; unexpected {extra}" if extra else ""))
    for name, shape in expected.items():
        a = feeds[name]
        if name == "lengths":                # forward(x, lengths): int64 (B,), each in 1 … T (checked below)
            _check_dtype(a, name, "int64", where, spec)
            continue
        _check_dtype(a, name, spec.dtype if name == "x" else "float32", where, spec)
        if a.ndim != len(shape):
            raise InvalidInputError(f"{where}: input '{name}' has rank {a.ndim} (shape {a.shape}), expected rank "
                                    f"{len(shape)} {_fmt(shape)}" + (f" = {X_LAYOUTS[spec.layout]}" if name == "x" else ""))
        for d, (got, want) in enumerate(zip(a.shape, shape)):
            if want is not None and got != want:
                raise InvalidInputError(f"{where}: input '{name}' dimension {d} is {got}, expected {want} "
                                        f"(shape {a.shape} vs {_fmt(shape)})")
        if a.size == 0:
            raise InvalidInputError(f"{where}: input '{name}' is empty (shape {a.shape}): batch and time must be ≥ 1")
        if a.dtype.kind == "i":
            _check_ids(a, name, spec, where)
            continue
        bad = ~np.isfinite(a)
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InvalidInputError(f"{where}: input '{name}' has a non-finite value {a[idx]} at index {idx}",
                                    hint="NaN/Inf propagate through every later step of a recurrence; clean the input")
    if "lengths" in expected and isinstance(x, np.ndarray) and x.ndim > max(spec.batch_axis, t):
        _check_lengths(feeds["lengths"], x.shape[spec.batch_axis], x.shape[t], where)
    if "x" in feeds and "h0" in feeds:
        bx = spec.batch_axis
        batch = feeds["x"].shape[bx]
        for s in ("h0", "c0"):
            if s in feeds and feeds[s].shape[1] != batch:
                raise InvalidInputError(f"{where}: state '{s}' has batch {feeds[s].shape[1]} (dimension 1) but 'x' has "
                                        f"batch {batch}" + ("" if bx == 0 else f" (dimension {bx} of x {X_LAYOUTS[spec.layout]})"))


def _check_dtype(a, name: str, want: str, where: str, spec: XSpec) -> None:
    if isinstance(a, np.ndarray) and a.dtype == np.dtype(want):
        return
    got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
    if name == "lengths":
        raise InvalidInputError(f"{where}: input 'lengths' has dtype {got}, expected int64 (one length per row)",
                                hint="pass the lengths as np.int64; lstm-edge never casts silently")
    if want == "int64":
        raise InvalidInputError(f"{where}: input '{name}' has dtype {got}, expected int64 token ids ({spec.describe()}: "
                                "the module's input layer is an nn.Embedding)",
                                hint="pass the ids as np.int64; lstm-edge never casts silently")
    raise InvalidInputError(f"{where}: input '{name}' has dtype {got}, expected float32",
                            hint="convert explicitly with .astype(np.float32); lstm-edge never casts silently")


def _check_lengths(lengths: np.ndarray, batch: int, steps: int, where: str) -> None:
    """One valid length per row, 1 … T: a length past T reads padding that is not there, 0 has no last step."""
    if lengths.shape != (batch,):
        raise InvalidInputError(f"{where}: input 'lengths' has shape {lengths.shape}, expected ({batch},): one length "
                                "per row of x")
    bad = (lengths < 1) | (lengths > steps)
    if bad.any():
        k = int(np.argwhere(bad)[0][0])
        raise InvalidInputError(f"{where}: input 'lengths' is {int(lengths[k])} at row {k}, outside 1 … {steps} (x's T)",
                                hint="each row's number of valid steps, counted from the start of x")


def _check_ids(a: np.ndarray, name: str, spec: XSpec, where: str) -> None:
    """Token ids inside the vocabulary: outside it an Embedding's gather reads another row or fails in the runtime."""
    if spec.vocab is None:
        return
    bad = (a < 0) | (a >= spec.vocab)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidInputError(f"{where}: input '{name}' has token id {a[idx]} at index {idx}, outside the vocabulary "
                                f"0 … {spec.vocab - 1} (vocab_size {spec.vocab})",
                                hint="map unknown tokens to an id the module was trained with")


def _fmt(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
