"""PyTorch → a TFLite *step* artefact: one time step of the whole stack as builtin ops.

The fused UNIDIRECTIONAL_SEQUENCE_LSTM cannot return its cell state, so it cannot carry a
stream across calls. This artefact writes the seed's equations out as a graph — MatMul,
split, logistic, tanh, mul, add — for one step, with the state as explicit I/O:

    x (B, 1, F), h0 (L, B, H), c0 (L, B, H)  →  y (B, 1, O), hn (L, B, H), cn (L, B, H)

No loop, no fused op, batch dynamic (no TensorList is needed without a time loop).
Weights go in Keras gate order (i, f, c, o) through lstm_edge.model.gates.
"""
from __future__ import annotations

from pathlib import Path

from lstm_edge.files import write_bytes_atomic, write_sidecar
from lstm_edge.converters.to_tflite import convert_builtins, semantic_sha256, tflite_ops, variable_tensors
from lstm_edge.converters.tensorflow_env import import_tensorflow
from lstm_edge.converters.validate import check_outputs, example_feeds, torch_outputs
from lstm_edge.errors import ConversionError
from lstm_edge.model.gates import torch_to_step
from lstm_edge.model.spec import Tolerance

OUTPUTS = ("y", "hn", "cn")


def step_function(tensors: dict, dims: dict):
    tf, _ = import_tensorflow()
    F, H, L = dims["input_size"], dims["hidden_size"], dims["num_layers"]
    layers = [[tf.constant(w, tf.float32) for w in torch_to_step(
        tensors[f"lstm.weight_ih_l{k}"], tensors[f"lstm.weight_hh_l{k}"],
        tensors[f"lstm.bias_ih_l{k}"], tensors[f"lstm.bias_hh_l{k}"])] for k in range(L)]
    head_w, head_b = tf.constant(tensors["head.weight"].T), tf.constant(tensors["head.bias"])
    residual = list(dims.get("residual", ()))
    table = tf.constant(tensors["embedding.weight"]) if dims.get("vocab_size") else None

    # Shaped for speed (measured, default model, one step, XNNPACK on: 9.8 → 7.8 µs): one
    # FULLY_CONNECTED per layer over [x_t, h_{t-1}], one LOGISTIC over the gates i, f, o side
    # by side, and the state split by UNPACK (slicing h0[k] made STRIDED_SLICEs XNNPACK does
    # not take, cutting its partition).
    @tf.function(input_signature=[tf.TensorSpec([None, 1, F], tf.float32, name="x"),
                                  tf.TensorSpec([L, None, H], tf.float32, name="h0"),
                                  tf.TensorSpec([L, None, H], tf.float32, name="c0")])
    def step(x, h0, c0):
        inp, hs, cs = x[:, 0], [], []                                  # x_t (B, F)
        if table is not None:                                          # token id (B, 1) → (B, E), as model.embed
            inp = tf.gather(table, tf.cast(tf.clip_by_value(inp[:, 0], 0.0, float(table.shape[0] - 1)), tf.int32))
        h_prev, c_prev = tf.unstack(h0), tf.unstack(c0)                # L × (B, H)
        for k, (W, b) in enumerate(layers):
            z = tf.matmul(tf.concat([inp, h_prev[k]], 1), W) + b        # (B, 4H): i, f, o, c̃
            i_t, f_t, o_t = tf.split(tf.sigmoid(z[:, :3 * H]), 3, axis=1)
            c = f_t * c_prev[k] + i_t * tf.tanh(z[:, 3 * H:])           # the conveyor belt
            h = o_t * tf.tanh(c)
            hs.append(h)
            cs.append(c)
            inp = h
        y = tf.matmul(inp, head_w) + head_b                             # (B, O)
        if residual:
            y = y + tf.gather(x[:, 0], residual, axis=1)
        return {"y": y[:, None], "hn": tf.stack(hs), "cn": tf.stack(cs)}

    return step


def convert_step(tensors: dict, dims: dict, where: str) -> bytes:
    """The step graph as TFLite bytes, unchecked (to_tflite_step checks; gate probes diagnose)."""
    tf, _ = import_tensorflow()
    holder = tf.Module()               # owns the constants; gives the model its serving signature
    holder.step = step_function(tensors, dims)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([holder.step.get_concrete_function()], holder)
    return convert_builtins(tf, converter, where)


def to_tflite_step(model, tensors: dict, dims: dict, out_path: Path, budget: Tolerance) -> dict:
    tf, _ = import_tensorflow()
    write_bytes_atomic(out_path, convert_step(tensors, dims, str(out_path)))
    ops = tflite_ops(out_path)
    failures = [f"graph contains {o}: a step graph must be loop-free builtins"
                for o in sorted(set(ops)) if o in ("WHILE", "CUSTOM") or o.startswith("Flex")]
    failures += [f"variable tensor {n}: LiteRT would carry it between calls" for n in variable_tensors(out_path)]
    if not failures:
        from lstm_edge.runtime.litert_runner import LiteRTRunner

        runner = LiteRTRunner(out_path)
        for b in (1, 3):   # one step, several streams at once
            feeds = example_feeds(dims, batch=b, length=1, seed=b)
            failures += check_outputs(runner.run(feeds), torch_outputs(model, feeds), OUTPUTS, budget.atol, budget.rtol)
    if failures:
        out_path.unlink(missing_ok=True)
        raise ConversionError(str(out_path), failures, hint="this is a converter regression; please report it")
    return write_sidecar(out_path, {
        "kind": "artifact", "format": "tflite", "precision": "fp32", "parent": "pytorch",
        "inputs": ["x", "h0", "c0"], "outputs": list(OUTPUTS), "missing_outputs": {},
        "ops": sorted(set(ops)), "converter": f"tf.lite.TFLiteConverter (tf.function cell step) tensorflow {tf.__version__}",
        "semantic_sha256": semantic_sha256(out_path),
        "runtimes": ["litert"], "streaming": True, "chunk": 1,
        "layout": "x (B, 1, F): one step per call; h0, c0, hn, cn (L, B, H); y (B, 1, O)",
    })
