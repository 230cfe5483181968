"""A user's module (wrapped with explicit state) → ONNX with the native LSTM / GRU op.

TorchScript exporter (`dynamo=False`), opset 17, dynamic batch and time on the axes the
module uses. Checked where it is made: one native recurrent op per layer (a bidirectional
layer is one op with direction "bidirectional"), no Loop/Scan, and for GRU
`linear_before_reset = 1` — PyTorch applies the reset gate after the recurrent product
(n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))); with 0 ONNX computes another function and
the numbers differ silently (a known bug of the newer exporter). The activations and post-head
ops come from the module's own forward(); the table (support.py) says which node each becomes.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

from lstm_edge.byo import support
from lstm_edge.files import write_bytes_atomic
from lstm_edge.errors import ConversionError

OPSET = 17


def export_onnx(wrapper, arch, feeds: dict, axes: dict, out: Path) -> list[str]:
    """→ the graph's op types. `axes`: {input/output name: {axis: "batch" | "time"}}."""
    import torch

    from lstm_edge.byo.wrap import names

    inputs, outputs = names(arch)
    example = tuple(torch.from_numpy(feeds[k]) for k in inputs)
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, example, buf, dynamo=False, opset_version=OPSET, input_names=list(inputs),
                              output_names=list(outputs), dynamic_axes=axes, do_constant_folding=True)
    except Exception as e:   # the exporter raises SymbolicValueError and friends
        first = str(e).strip().splitlines()[0][:240]
        why = ("ONNX's LSTM op has no projection (proj_size)" if arch.proj_size else "the exporter failed")
        rows = getattr(arch, "recurrent", None) or [{"path": arch.rnn_path, "kind": arch.kind, "proj_size": arch.proj_size}]
        layer = next((r for r in rows if r["proj_size"]), rows[0])
        raise ConversionError(str(out), [f"layer '{layer['path']}' ({layer['kind']}): {why}: {first}"],
                              hint="use the TFLite general path, or an LSTM without proj_size")
    write_bytes_atomic(out, buf.getvalue())
    return check_graph(out, arch)


def check_graph(path: Path, arch) -> list[str]:
    import onnx

    proto = onnx.load(str(path))
    ops = [n.op_type for n in proto.graph.node]
    failures = []
    for kind, layers in arch.native_ops().items():
        if ops.count(kind) != layers:
            failures.append(f"{ops.count(kind)} native {kind} op(s), expected {layers} (one per recurrent layer)")
    loops = sorted({o for o in ops if o in ("Loop", "Scan")})
    if loops:
        failures.append(f"graph contains {loops}: the recurrence was unrolled or looped, not the native op")
    for name, args in [*zip(arch.activations, arch.activation_args), *zip(arch.post, arch.post_args)]:
        want = support.onnx_op(name, args)            # the table's row: what torch.onnx writes for that op
        if want and want not in ops:
            failures.append(f"{name} ({args}) should be an ONNX {want} node; the graph has none")
    if getattr(arch, "packs", False):        # forward(x, lengths) packs: every recurrent op takes them as sequence_lens
        for n in proto.graph.node:
            if n.op_type in ("LSTM", "GRU") and (len(n.input) < 5 or not n.input[4]):
                failures.append(f"{n.op_type} node '{n.name}' has no sequence_lens: the lengths forward() packs with "
                                "would be ignored")
    if "GRU" in arch.native_ops():
        for n in proto.graph.node:
            if n.op_type == "GRU":
                lbr = next((a.i for a in n.attribute if a.name == "linear_before_reset"), 0)
                if lbr != 1:
                    failures.append(f"GRU node '{n.name}' has linear_before_reset={lbr}: PyTorch's GRU needs 1 "
                                    "(reset gate applied after the recurrent product)")
    if failures:
        path.unlink(missing_ok=True)
        raise ConversionError(str(path), failures, hint="this is an exporter bug; please report it")
    return ops
