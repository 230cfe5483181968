"""PyTorch → TFLite with the fused UNIDIRECTIONAL_SEQUENCE_LSTM kernel, builtin ops only.

Facts this rests on (design.md §5, re-measured on TF 2.21):
- Only Keras 2 (tf-keras, TF_USE_LEGACY_KERAS=1 before TensorFlow is first imported)
  converts an LSTM layer into the fused op; Keras 3 gives a WHILE loop.
- `initial_state` inputs and a dynamic time axis keep the fused op; `return_state=True`
  and a dynamic batch axis do not (the batch-None graph needs TensorList ops, i.e. Flex).
  So the graph is converted at batch 1 and runners resize the batch per call — measured
  exact against Keras for batch 1…7, T up to 1000.
- The fused kernel cannot return the cell state: hn is each layer's last output step, and
  cn is declared missing in the sidecar (streaming artefacts fill that gap).
PyTorch i,f,g,o with b_ih + b_hh maps directly onto Keras i,f,c,o (lstm_edge.gates).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from lstm_edge.artifacts import write_bytes_atomic, write_sidecar
from lstm_edge.converters.validate import check_outputs, example_feeds, torch_outputs
from lstm_edge.errors import ConversionError, EnvironmentFault
from lstm_edge.gates import torch_to_keras
from lstm_edge.spec import Tolerance

OUTPUTS = ("y", "hn")
FUSED_OP = "UNIDIRECTIONAL_SEQUENCE_LSTM"


def import_tensorflow():
    """TensorFlow with Keras 2; refuses to continue if TF was already imported with Keras 3."""
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise EnvironmentFault("tensorflow was imported before lstm-edge could select Keras 2 (tf-keras)",
                               hint="set TF_USE_LEGACY_KERAS=1 in the environment, or import lstm-edge first")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras as keras

    return tf, keras


def keras_function(tensors: dict, dims: dict):
    """The Keras twin of ForecastLSTM as a tf.function with signature x, h0, c0 → y, hn (batch 1)."""
    tf, keras = import_tensorflow()
    F, H, L, O = dims["input_size"], dims["hidden_size"], dims["num_layers"], dims["output_size"]
    layers = [keras.layers.LSTM(H, return_sequences=True, name=f"lstm_l{k}") for k in range(L)]
    head = keras.layers.Dense(O, name="head")
    seq = tf.zeros((1, 1, F))
    for k, layer in enumerate(layers):      # build, then load PyTorch weights in Keras order
        seq = layer(seq)
        layer.set_weights(list(torch_to_keras(tensors[f"lstm.weight_ih_l{k}"], tensors[f"lstm.weight_hh_l{k}"],
                                              tensors[f"lstm.bias_ih_l{k}"], tensors[f"lstm.bias_hh_l{k}"])))
    head(seq)
    head.set_weights([tensors["head.weight"].T, tensors["head.bias"]])

    @tf.function(input_signature=[tf.TensorSpec([1, None, F], tf.float32, name="x"),
                                  tf.TensorSpec([L, 1, H], tf.float32, name="h0"),
                                  tf.TensorSpec([L, 1, H], tf.float32, name="c0")])
    def serve(x, h0, c0):
        seq, last = x, []
        for k, layer in enumerate(layers):
            seq = layer(seq, initial_state=[h0[k], c0[k]])   # (1, T, H)
            last.append(seq[:, -1])                           # h_T of layer k: (1, H)
        return {"y": head(seq), "hn": tf.stack(last, axis=0)}  # y (1, T, O), hn (L, 1, H)

    return serve, layers + [head]


def to_tflite(model, tensors: dict, dims: dict, out_path: Path, budget: Tolerance, *, parent: str = "pytorch") -> dict:
    tf, _ = import_tensorflow()
    serve, trackables = keras_function(tensors, dims)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], trackables[0])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]   # no Flex, ever
    try:
        blob = converter.convert()
    except Exception as e:  # the converter raises ConverterError and friends
        raise ConversionError(str(out_path), [f"TFLite converter failed: {str(e).splitlines()[-1][:300]}"])
    write_bytes_atomic(out_path, blob)
    ops = check_tflite(out_path, model, dims, budget)
    return write_sidecar(out_path, {
        "kind": "artifact", "format": "tflite", "precision": "fp32", "parent": parent,
        "inputs": ["x", "h0", "c0"], "outputs": list(OUTPUTS),
        "missing_outputs": {"cn": "the fused UNIDIRECTIONAL_SEQUENCE_LSTM kernel does not expose its cell state"},
        "ops": ops, "converter": f"tf.lite.TFLiteConverter (tf-keras) tensorflow {tf.__version__}",
        "runtimes": ["litert"], "static_batch": 1,
        "layout": "x (B, T, F); h0, c0, hn (L, B, H); y (B, T, O); converted at B = 1, resized per call",
    })


def tflite_ops(path: Path) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    return [op["op_name"] for op in Interpreter(model_path=str(path))._get_ops_details()]


def check_tflite(path: Path, model, dims: dict, budget: Tolerance) -> list[str]:
    """Graph properties (fused op per layer, no WHILE, builtins only), then values on LiteRT."""
    from lstm_edge.runtime.litert_runner import LiteRTRunner

    ops = tflite_ops(path)
    failures = []
    if ops.count(FUSED_OP) != dims["num_layers"]:
        failures.append(f"{ops.count(FUSED_OP)} {FUSED_OP} op(s), expected {dims['num_layers']} (one per layer)")
    if "WHILE" in ops:
        failures.append("graph contains WHILE: the LSTM was converted as a loop, not the fused kernel")
    custom = sorted({o for o in ops if o.startswith("Flex") or o == "CUSTOM" or not o.isupper()})
    if custom:
        failures.append(f"non-builtin ops {custom}: the device runtime may not have them")
    if not failures:
        feeds = example_feeds(dims)
        runner = LiteRTRunner(path)
        if runner.input_names != ("x", "h0", "c0") or runner.output_names != OUTPUTS:
            failures.append(f"signature {runner.input_names} → {runner.output_names}, expected (x, h0, c0) → {OUTPUTS}")
        else:
            failures += check_outputs(runner.run(feeds), torch_outputs(model, feeds), OUTPUTS, budget.atol, budget.rtol)
    if failures:
        path.unlink(missing_ok=True)
        raise ConversionError(str(path), failures, hint="this is a converter regression; please report it")
    return sorted(set(ops))
