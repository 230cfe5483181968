"""PyTorch → ONNX with the native `LSTM` op, dynamic batch and time, state as I/O.

Uses the TorchScript exporter (`dynamo=False`): on torch 2.13 it emits one `LSTM` op per
layer with correct symbolic output shapes and identical bytes run after run, while the
dynamo exporter declares `y`'s time axis static (it only warns at run time) and takes
~50× longer. The exporter is recorded in the sidecar.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from lstm_edge.files import write_bytes_atomic, write_sidecar
from lstm_edge.converters.validate import check_outputs, example_feeds, torch_outputs
from lstm_edge.errors import ConversionError
from lstm_edge.model.spec import Tolerance

OPSET = 17
INPUTS = ("x", "h0", "c0")
OUTPUTS = ("y", "hn", "cn")
DYNAMIC_AXES = {"x": {0: "batch", 1: "time"}, "h0": {1: "batch"}, "c0": {1: "batch"},
                "y": {0: "batch", 1: "time"}, "hn": {1: "batch"}, "cn": {1: "batch"}}


def to_onnx(model, dims: dict, out_path: Path, budget: Tolerance, *, parent: str = "pytorch") -> dict:
    """Export `model` (SequenceLSTM, eval mode) to `out_path`; check it; write its sidecar."""
    import torch

    example = tuple(torch.from_numpy(v) for v in example_feeds(dims).values())
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, example, buf, dynamo=False, opset_version=OPSET,
                          input_names=list(INPUTS), output_names=list(OUTPUTS),
                          dynamic_axes=DYNAMIC_AXES, do_constant_folding=True)
    write_bytes_atomic(out_path, buf.getvalue())
    check_onnx(out_path, model, dims, budget)
    return write_sidecar(out_path, {
        "kind": "artifact", "format": "onnx", "precision": "fp32", "parent": parent,
        "inputs": list(INPUTS), "outputs": list(OUTPUTS), "missing_outputs": {},
        "opset": OPSET, "exporter": f"torch.onnx.export(dynamo=False) torch {torch.__version__}",
        "runtimes": ["onnxruntime"], "layout": "x (B, T, F); h0, c0, hn, cn (L, B, H); y (B, T, O)",
    })


def check_onnx(path: Path, model, dims: dict, budget: Tolerance) -> None:
    """Names, shapes, dtypes, graph properties, then values on onnxruntime; all failures at once."""
    import onnx

    from lstm_edge.runtime.onnxruntime_runner import OnnxRuntimeRunner

    proto = onnx.load(str(path))
    failures = []
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as e:
        failures.append(f"onnx.checker: {str(e).splitlines()[0]}")
    L, H, F, O = dims["num_layers"], dims["hidden_size"], dims["input_size"], dims["output_size"]
    want = {"x": ("batch", "time", F), "h0": (L, "batch", H), "c0": (L, "batch", H),
            "y": ("batch", "time", O), "hn": (L, "batch", H), "cn": (L, "batch", H)}
    io_ = {v.name: v for v in [*proto.graph.input, *proto.graph.output]}
    for name, shape in want.items():
        if name not in io_:
            failures.append(f"graph has no {'input' if name in INPUTS else 'output'} '{name}' (has {sorted(io_)})")
            continue
        t = io_[name].type.tensor_type
        got = tuple(d.dim_param or d.dim_value for d in t.shape.dim)
        if got != shape:
            failures.append(f"'{name}' declared shape {got}, expected {shape}")
        if t.elem_type != onnx.TensorProto.FLOAT:
            failures.append(f"'{name}' dtype {onnx.TensorProto.DataType.Name(t.elem_type)}, expected FLOAT")
    ops = [n.op_type for n in proto.graph.node]
    if ops.count("LSTM") != L:
        failures.append(f"graph has {ops.count('LSTM')} native LSTM op(s), expected {L} (one per layer)")
    loops = sorted({o for o in ops if o in ("Loop", "Scan", "If")})
    if loops:
        failures.append(f"graph contains control flow {loops}: the LSTM was unrolled or looped, not fused")
    if not failures:
        feeds = example_feeds(dims)
        got = OnnxRuntimeRunner(path).run(feeds)
        failures += check_outputs(got, torch_outputs(model, feeds), OUTPUTS, budget.atol, budget.rtol)
    if failures:
        path.unlink(missing_ok=True)   # a failed artefact is never left where a later stage could use it
        raise ConversionError(str(path), failures, hint="this is a converter regression; please report it")


def onnx_lstm_weights(path: Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(W, R, B) of every LSTM op in graph order: lets tests check the exporter's gate order."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    return [tuple(inits[n.input[k]] for k in (1, 2, 3)) for n in proto.graph.node if n.op_type == "LSTM"]
