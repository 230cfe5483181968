"""Identity models: each runtime's per-call floor for our I/O.

The same inputs and outputs as a real artefact — x (B, T, F), h0, c0 (L, B, H) → y (B, T, O),
hn, cn — and (next to) no work: y = x[:, :, :O], hn = h0, cn = c0. Timed through the same
runner or stepper as the artefacts, they give the cost of a call itself (Python, the runtime's
dispatch, copies), so "within 2× of the floor" means "the model's own work is at most as
expensive as calling it".
"""
from __future__ import annotations

from pathlib import Path


def identity_onnx(path: Path, F: int, L: int, H: int, O: int) -> Path:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "T", F])
    h0 = helper.make_tensor_value_info("h0", TensorProto.FLOAT, [L, "B", H])
    c0 = helper.make_tensor_value_info("c0", TensorProto.FLOAT, [L, "B", H])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", "T", O])
    hn = helper.make_tensor_value_info("hn", TensorProto.FLOAT, [L, "B", H])
    cn = helper.make_tensor_value_info("cn", TensorProto.FLOAT, [L, "B", H])
    consts = [helper.make_tensor(n, TensorProto.INT64, [1], [v]) for n, v in (("zero", 0), ("out", O), ("axis", 2))]
    nodes = [helper.make_node("Slice", ["x", "zero", "out", "axis"], ["y"]),
             helper.make_node("Identity", ["h0"], ["hn"]), helper.make_node("Identity", ["c0"], ["cn"])]
    graph = helper.make_graph(nodes, "identity", [x, h0, c0], [y, hn, cn], initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="lstm-edge")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def identity_tflite(path: Path, F: int, L: int, H: int, O: int) -> Path:
    """Batch 1, dynamic time (the runners resize it like the real artefacts)."""
    from lstm_edge.converters.tensorflow_env import import_tensorflow, quiet_stderr

    tf, _ = import_tensorflow()

    holder = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([1, None, F], tf.float32, name="x"),
                                  tf.TensorSpec([L, 1, H], tf.float32, name="h0"),
                                  tf.TensorSpec([L, 1, H], tf.float32, name="c0")])
    def identity(x, h0, c0):
        # one cheap op per output: a graph output may not be a graph input in TFLite
        return {"y": x[:, :, :O] * 1.0 + 0.0, "hn": tf.maximum(h0, -3e38), "cn": tf.maximum(c0, -3e38)}

    holder.identity = identity
    converter = tf.lite.TFLiteConverter.from_concrete_functions([identity.get_concrete_function()], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with quiet_stderr():
        Path(path).write_bytes(converter.convert())
    return path
