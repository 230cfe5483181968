"""export_module: a user's PyTorch module → ONNX and TFLite with explicit state, each artefact
checked against PyTorch over the parity grid where it is made (exit 3 on any miss).

Grid: B ∈ {1, 2, 7} × T ∈ {1, 2, 50, 1000}, random inputs (token ids over the whole vocabulary
for an embedding) and random initial states; budget |a − b| ≤ 1e-5 + 1e-5·|b| (fp32). The
general TFLite path takes only the example's T, so it is checked at that T for every B.
Writes OUT/<name>.onnx, OUT/<name>.tflite (+ sidecars) and OUT/byo-report.json, all or nothing:
everything is made in a staging directory beside OUT (files.staged_output, as the pipeline does)
and swapped into place only once every format is written or refused by name; an error leaves OUT
as it was (absent, or byte-identical). A format refused while another is written is published with
the refusal in the report; when every format is refused nothing is.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from lstm_edge.files import staged_output, write_json_atomic, write_sidecar
from lstm_edge.errors import ConversionError, InvalidInputError, LstmEdgeError, UsageError
from lstm_edge.runtime.budget import elements_within

from lstm_edge.byo.support import ATOL, BATCHES, LENGTHS, RTOL     # the one check budget


def export_module(model, example, out_dir, *, formats=("onnx", "tflite"), name: str = "model", progress=None,
                  tflite_time: str = "fixed") -> dict:
    """tflite_time: the general TFLite path unrolled at the example's T ("fixed") or a WHILE loop taking any
    T ("any"; lstm-edge pipeline --project's choice, module.tflite_time)."""
    import torch

    from lstm_edge.byo.recognise import recognise
    from lstm_edge.byo.wrap import Stateful, names

    say = progress or (lambda msg: None)
    out_dir = Path(out_dir)
    _check_out(out_dir)
    model = model.eval()
    ex = torch.as_tensor(np.asarray(example))
    from lstm_edge.byo.example_shape import check_example_shape

    check_example_shape(model, ex.numpy(), None)   # a wrong feature count: exit 3 naming the first layer, not torch's error
    arch = recognise(model, ex)               # a refusal here has written nothing, not even a staging directory
    say(f"recognised: {arch.describe()}; state {arch.state_layout}")
    wrapper = Stateful(model, arch).eval()
    inputs, outputs = names(arch)
    bx = 0 if arch.batch_first else 1
    vocab = model.get_submodule(arch.input_layer).num_embeddings if arch.input_kind == "embedding" else None

    def feeds(b: int, t: int, seed: int, zero: bool = False) -> dict:
        from lstm_edge.byo.wrap import module_feeds

        return module_feeds(arch, tuple(ex.shape), vocab, b, t, seed, zero=zero)

    def torch_run(f: dict) -> dict:
        try:
            with torch.no_grad():
                outs = wrapper(*(torch.from_numpy(f[k]) for k in inputs))
        except Exception as e:     # the user's forward() at a size of the grid: theirs, exit 3
            raise InvalidInputError(f"forward() fails on x of shape {f['x'].shape}: {type(e).__name__}: {str(e)[:300]}",
                                    hint="lstm-edge checks every artefact at B ∈ {1, 2, 7} and T ∈ {1, 2, 50, 1000}")
        return {k: v.numpy() for k, v in zip(outputs, outs)}

    B, T = int(ex.shape[bx]), int(ex.shape[1 - bx])
    from lstm_edge.byo.inspect import run

    own = run(model, ex, "the example").numpy()             # the wrapper is the module, at zero state (full lengths)
    zero = feeds(B, T, 0, zero=True) | {"x": ex.numpy()}
    if arch.lengths:
        zero["lengths"] = np.full(B, T, np.int64)
    if not np.allclose(torch_run(zero)["y"], own, atol=1e-6, rtol=1e-6):
        raise InvalidInputError("with its state made explicit the module no longer computes its own forward() "
                                "(it may build its own initial state); lstm-edge feeds h0/c0 to the recurrent layer")
    y_axis = _y_batch_axis(torch_run(feeds(B, T, 0))["y"], torch_run(feeds(B + 1, T + 2, 0))["y"])
    cases = {f"B={b} T={t}": feeds(b, t, 1000 + 10 * b + t) for b in BATCHES for t in LENGTHS}
    cases |= {f"B={b} T={T}": feeds(b, T, 2000 + b) for b in BATCHES}     # the example's T: the general path's
    expected = {c: torch_run(f) for c, f in cases.items()}
    if arch.lengths:     # mixed lengths per row for ONNX; every row full for a format without lengths (TFLite)
        full = {f"{c} all rows T": f | {"lengths": np.full(len(f["lengths"]), f["x"].shape[1 - bx], np.int64)}
                for c, f in cases.items()}
        expected |= {c: torch_run(f) for c, f in full.items()}
    else:
        full = cases
    report = {"architecture": arch.__dict__ | {"description": arch.describe(), "state_layout": arch.state_layout},
              "inputs": list(inputs), "outputs": list(outputs), "example_shape": list(ex.shape), "y_batch_axis": y_axis,
              "budget": {"atol": ATOL, "rtol": RTOL}, "artifacts": [], "refused": []}
    with staged_output(Path(os.path.abspath(out_dir))) as staging:
        def shown(e: Exception) -> str:          # messages name OUT, not the staging directory
            return str(e).replace(str(staging), str(out_dir))

        try:
            for fmt in formats:          # a format that cannot take this architecture is refused, naming why
                try:
                    if fmt == "onnx":
                        done = _onnx(wrapper, arch, feeds, B, T, bx, y_axis, cases, expected, staging / f"{name}.onnx", say)
                    else:
                        done = _tflite(model, arch, ex, vocab, bx, y_axis, full, expected, T, staging / f"{name}.tflite", say,
                                       tflite_time=tflite_time)
                    report["artifacts"].append(done)
                except ConversionError as e:
                    say(f"{fmt}: refused — {shown(e)}")
                    report["refused"].append({"format": fmt, "reason": shown(e)})
        except LstmEdgeError as e:
            e.message = e.message.replace(str(staging), str(out_dir))     # the hint is added by str(e)
            raise
        if not report["artifacts"]:
            raise ConversionError(", ".join(formats), [r["reason"] for r in report["refused"]],
                                  hint=f"nothing was written: {out_dir} is as it was")
        write_json_atomic(staging / "byo-report.json", report)
    return report


def _check_out(out: Path) -> None:
    """OUT is replaced as a whole, so it must be new, empty, or an earlier export's (it holds
    byo-report.json): anything else may be the user's own files (`export .` would take the
    working directory with it). Checked before any work."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory", hint="choose a new directory for the export")
    if out.is_dir() and any(out.iterdir()) and not (out / "byo-report.json").is_file():
        held = sorted(p.name for p in out.iterdir())
        raise UsageError(f"{out} already holds files an export did not write ({', '.join(held[:5])}"
                         f"{', …' if len(held) > 5 else ''}); the export replaces its output directory as a whole",
                         hint="choose a new or empty directory, e.g. " + str(out / "export"))


def _y_batch_axis(y: np.ndarray, y_bigger: np.ndarray) -> int:
    """Which axis of y grew with the batch (B → B + 1); inspect() has proved y keeps its axes."""
    axis = next((k for k, (a, b) in enumerate(zip(y.shape, y_bigger.shape)) if b == a + 1), None)
    if axis is None or y.ndim != y_bigger.ndim:
        raise InvalidInputError(f"forward()'s y has no batch axis: shape {y.shape} at one batch size, "
                                f"{y_bigger.shape} at one more", hint="return y with its batch axis")
    return axis


def _dynamic_axes(arch, bx: int, y: np.ndarray, y_bigger: np.ndarray, inputs, outputs) -> dict:
    axes = {"x": {bx: "batch", 1 - bx: "time"}}
    for k in inputs[1:]:
        axes[k] = {0: "batch"} if k == "lengths" else {1: "batch"}
    for k in outputs[1:]:
        axes[k] = {1: "batch"}
    grew = {k: ("batch" if b == a + 1 else "time") for k, (a, b) in enumerate(zip(y.shape, y_bigger.shape)) if a != b}
    axes["y"] = grew
    return axes


LENGTHS_TAKEN = ("input 'lengths' (int64, (B,)): each row's valid steps, as sequence_lens on every recurrent op; "
                 "outputs past a row's length and its hn/cn are what PyTorch's packed forward() gives")
LENGTHS_AS_USED = ("input 'lengths' (int64, (B,)): given to forward() as it uses them (it does not pack: the "
                   "recurrent op runs every step of every row)")
LENGTHS_NOT_TAKEN = ("one length per call: no lengths input (the fused kernel has none), every row runs all T steps — "
                     "pad no row, or call once per length")


def _x_keys(arch, model, y_axis: int, fmt: str = "onnx") -> dict:
    """How the artefact takes x, for lstm-edge's runners (runtime/contract.py, XSpec): the module's own
    layout and dtype — (T, B, F) for batch_first=False, int64 token ids (B, T) for an nn.Embedding —
    the vocabulary the ids index, and where y's batch is."""
    ids = arch.input_kind == "embedding"
    keys = {"x_layout": ("BT" if arch.batch_first else "TB") + ("" if ids else "F"), "x_dtype": "int64" if ids else "float32",
            "y_batch_axis": y_axis}
    if getattr(arch, "lengths", False):
        keys["lengths"] = (LENGTHS_TAKEN if arch.packs else LENGTHS_AS_USED) if fmt == "onnx" else LENGTHS_NOT_TAKEN
    return keys | ({"vocab_size": int(model.get_submodule(arch.input_layer).num_embeddings)} if ids else {})


def _compare(got: dict, want: dict, case: str, names) -> tuple[list[str], dict]:
    failures, worst = [], {}
    for n in names:
        if n not in got:
            continue
        a, b = np.asarray(got[n], np.float64), want[n].astype(np.float64)
        if a.shape != b.shape:
            failures.append(f"{case}: '{n}' shape {a.shape}, expected {b.shape}")
            continue
        err = np.abs(a - b)
        worst[n] = float(err.max()) if err.size else 0.0
        if not elements_within(a, b, ATOL, RTOL):           # the one rule (lstm_edge/runtime/budget.py): NaN fails
            failures.append(f"{case}: '{n}' differs from PyTorch by {worst[n]:.3g} (budget {ATOL:g} + {RTOL:g}·|ref|)")
    return failures, worst


def _judge(path: Path, run, cases: dict, expected: dict, names) -> dict:
    failures, worst = [], {}
    for case, f in cases.items():
        fail, w = _compare(run(f), expected[case], case, names)
        failures += fail
        for n, v in w.items():
            worst[n] = max(worst.get(n, 0.0), v)
    if failures:
        path.unlink(missing_ok=True)
        raise ConversionError(str(path), failures[:12], hint="this is a converter bug; please report it")
    return worst


def _latency(run, f: dict, n: int = 50) -> float:
    run(f)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        run(f)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


def _onnx(wrapper, arch, feeds, B, T, bx, y_axis, cases, expected, path: Path, say) -> dict:
    import onnxruntime as ort

    from lstm_edge.byo.to_onnx import OPSET, export_onnx
    from lstm_edge.byo.wrap import names

    inputs, outputs = names(arch)
    f_small, f_big = feeds(max(B, 2), T, 0), feeds(max(B, 2) + 1, T + 2, 0)
    axes = _dynamic_axes(arch, bx, _torch_y(wrapper, inputs, f_small), _torch_y(wrapper, inputs, f_big), inputs, outputs)
    say(f"ONNX: torch.onnx.export (TorchScript, opset {OPSET}), native {arch.kind} op, dynamic batch and time")
    ops = export_onnx(wrapper, arch, f_small, axes, path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def run(f):
        return dict(zip(outputs, session.run(None, f)))

    worst = _judge(path, run, cases, expected, outputs)
    info = {"kind": "byo-artifact", "format": "onnx", "path_taken": "native", "why": f"ONNX has a native {arch.kind} op",
            "ops": sorted(set(ops)), "inputs": list(inputs), "outputs": list(outputs), "layout": arch.state_layout,
            "dynamic_axes": {k: {str(a): v for a, v in d.items()} for k, d in axes.items()},
            "parity_cases": list(cases), "max_abs_vs_pytorch": worst,
            "latency_us_B1": _latency(run, feeds(1, T, 5)), "runtimes": ["onnxruntime"]} | _x_keys(arch, wrapper.model, y_axis)
    if arch.lengths:
        say(("ONNX: lengths → sequence_lens of every recurrent op" if arch.packs else "ONNX: lengths given to forward() "
             "as it uses them") + "; parity on padded batches of mixed lengths")
    say(f"ONNX parity over {len(cases)} cases: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    return write_sidecar(path, info)


def _torch_y(wrapper, inputs, f: dict) -> np.ndarray:
    import torch

    with torch.no_grad():
        return wrapper(*(torch.from_numpy(f[k]) for k in inputs))[0].numpy()


def _tflite(model, arch, ex, vocab, bx, y_axis, cases, expected, T, path: Path, say, tflite_time: str = "fixed") -> dict:
    from lstm_edge.byo import to_tflite
    from lstm_edge.byo.wrap import names
    from lstm_edge.converters.to_tflite import tflite_ops

    inputs, outputs = names(arch)
    inputs = tuple(k for k in inputs if k != "lengths")        # one length per call: LENGTHS_NOT_TAKEN
    route, _ = to_tflite.choose_path(arch)
    any_t = route == "graph" or (route == "general" and tflite_time == "any")
    route, why, fixups = to_tflite.build(arch, model, tuple(ex.shape), vocab is not None, path, any_t=any_t)
    say(f"TFLite: {route} path — {why}")
    judged = cases if any_t or route == "fused" else {c: f for c, f in cases.items() if f["x"].shape[1 - bx] == T}
    loops = () if any_t else ("WHILE",)          # the any-T graphs hold one WHILE per layer and direction
    bad = [o for o in tflite_ops(path) if o.startswith("Flex") or o == "CUSTOM" or o in loops]
    if bad:
        path.unlink(missing_ok=True)
        raise ConversionError(str(path), [f"non-builtin or looping ops {sorted(set(bad))}"])

    def run(f):
        f = {k: v for k, v in f.items() if k != "lengths"}      # every row full length in these cases
        return to_tflite.run_tflite(path, f, per_row=to_tflite.per_row(arch), x_axis=bx, y_axis=y_axis)

    worst = _judge(path, run, judged, expected, outputs) if judged else {}
    ops = tflite_ops(path)
    counts = {o: ops.count(o) for o in sorted(set(ops))}
    one = next(iter(judged.values())) if judged else None
    info = {"kind": "byo-artifact", "format": "tflite", "path_taken": route, "why": why, "ops": counts,
            "op_count": len(ops), "inputs": list(inputs),
            "outputs": list(outputs) if route != "fused" else ["y", "hn"],
            "missing_outputs": {} if route != "fused" or arch.kind != "LSTM" else
            {"cn": "the fused UNIDIRECTIONAL_SEQUENCE_LSTM kernel does not expose its cell state"},
            "fixed_time_steps": None if route == "fused" or any_t else T, "layout": arch.state_layout,
            "converter_fixups": fixups, "parity_cases": list(judged), "max_abs_vs_pytorch": worst,
            "runtimes": ["litert"]} | _x_keys(arch, model, y_axis, "tflite")
    if to_tflite.per_row(arch):     # the kernel is converted at batch 1 and checked above one row per call: run it so
        info["batch_resizable"] = False
    if one is not None:
        from lstm_edge.runtime.contract import row

        b1 = {k: v for k, v in row(one, 0, bx).items() if k != "lengths"}
        info["latency_us_B1"] = _latency(run, b1)
    say(f"TFLite parity over {len(judged)} cases: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    return write_sidecar(path, info)
