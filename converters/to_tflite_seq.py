"""PyTorch → a TFLite *chunked sequence* artefact (tflite-seq-fp32): builtin ops XNNPACK takes, any T.

The fused UNIDIRECTIONAL_SEQUENCE_LSTM (to_tflite.py) is the op the TFLite ecosystem knows, but no
delegate takes it: on the default model it runs at a fifth of onnxruntime's speed. This artefact writes
the recurrence out of the one cell builder (lstm_edge/byo/tf_graph.py: project → recur), shaped for
XNNPACK, in two signatures over the same weights (runtime/litert_chunks.py runs them):

    serving_default   x (B, K, F), h0, c0 (L, B, H) → y (B, K, O), hn, cn (L, B, H)
    step              x (B, 1, F), h0, c0            → y (B, 1, O), hn, cn

Per layer, the input half of the cell for all K steps is one FULLY_CONNECTED; then K recurrent halves
(FULLY_CONNECTED on h, ADD, SPLIT, LOGISTIC, TANH, MUL), unrolled. No loop, no fused op, batch dynamic;
it returns the cell state, so it streams too. K: CHUNK_STEPS, measured below.
"""
from __future__ import annotations

from pathlib import Path

from lstm_edge.files import write_bytes_atomic, write_sidecar
from lstm_edge.converters.to_tflite import convert_builtins, semantic_sha256, tflite_ops, variable_tensors
from lstm_edge.converters.tensorflow_env import import_tensorflow
from lstm_edge.converters.validate import check_outputs, example_feeds, torch_outputs
from lstm_edge.errors import ConversionError
from lstm_edge.model.spec import Tolerance

OUTPUTS = ("y", "hn", "cn")
SIGNATURES = {"chunk": "serving_default", "step": "step"}
# Steps per chunk call. Measured on the default model (B = 1, T = 100, one thread, XNNPACK; one run):
# K = 4 723 µs, 8 622, 16 537, 25 499, 32 591, 50 592 (onnx-fp32 330). Each unrolled step's
# FULLY_CONNECTED gets its own packed copy of W_hh, so past ~25 steps the copies leave the cache; below
# ~16 the per-call cost dominates. 20, not the 25 that measured best: T = 100 is 4 × 25 exactly, which flatters
# 25 on the one length the bench times; 20 sits in the same plateau.
CHUNK_STEPS = 20


def spec_architecture(dims: dict):
    """lstm-edge's own SequenceLSTM in the words of the one cell builder (lstm_edge/byo/inspect.py)."""
    from lstm_edge.byo.inspect import Architecture

    return Architecture(rnn_path="lstm", kind="LSTM", num_layers=dims["num_layers"], hidden_size=dims["hidden_size"],
                        proj_size=0, bidirectional=False, batch_first=True)


def seq_functions(tensors: dict, dims: dict, K: int) -> dict:
    """{signature key: tf.function} for the chunk of K steps and the single step."""
    import numpy as np

    from lstm_edge.byo import tf_graph

    tf, _ = import_tensorflow()
    F, H, L = dims["input_size"], dims["hidden_size"], dims["num_layers"]
    arch = spec_architecture(dims)
    sd = {k: np.asarray(v, np.float32) for k, v in tensors.items()}
    head_w, head_b = tf.constant(sd["head.weight"].T), tf.constant(sd["head.bias"])
    residual = list(dims.get("residual", ()))
    table = tf.constant(sd["embedding.weight"]) if dims.get("vocab_size") else None

    def body(x, h0, c0, steps):
        seq = x                                                        # (B, k, F)
        if table is not None:                                          # token ids (B, k, 1) → (B, k, E), as model.embed
            seq = tf.gather(table, tf.cast(tf.clip_by_value(x[:, :, 0], 0.0, float(table.shape[0] - 1)), tf.int32))
        seq, hn, cn = tf_graph.recurrence_chunk(tf, arch, sd, seq, h0, c0, steps)   # (B, k, H), (L, B, H) × 2
        y = tf.matmul(seq, head_w) + head_b                            # (B, k, O)
        if residual:                                                   # forecast = last value + change
            y = y + tf.gather(x, residual, axis=2)
        return {"y": y, "hn": hn, "cn": cn}

    def signature(key: str, steps: int):
        def fn(x, h0, c0):
            return body(x, h0, c0, steps)
        fn.__name__ = key                   # the converter names each signature after its function
        return tf.function(fn, input_signature=[tf.TensorSpec([None, steps, F], tf.float32, name="x"),
                                                tf.TensorSpec([L, None, H], tf.float32, name="h0"),
                                                tf.TensorSpec([L, None, H], tf.float32, name="c0")])

    return {SIGNATURES["chunk"]: signature(SIGNATURES["chunk"], K), SIGNATURES["step"]: signature(SIGNATURES["step"], 1)}


def convert_seq(tensors: dict, dims: dict, where: str, *, setup=None, K: int = CHUNK_STEPS) -> bytes:
    """Both signatures as one TFLite file (weights stored once), unchecked; `setup` adds a recipe's options."""
    tf, _ = import_tensorflow()
    holder = tf.Module()
    functions = seq_functions(tensors, dims, K)
    for key, fn in functions.items():
        setattr(holder, key, fn)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [fn.get_concrete_function() for fn in functions.values()], holder)
    return convert_builtins(tf, converter, where, setup=setup)


def chunked_facts(K: int) -> dict:
    """The sidecar keys a runner needs (runtime/litert_chunks.py), shared by the fp32 artefact and its recipes."""
    return {"chunked": {"steps": K, **SIGNATURES}, "runtimes": ["litert"], "streaming": True,
            "layout": f"x (B, T, F), any T: T // {K} calls of the '{SIGNATURES['chunk']}' signature (x (B, {K}, F)) "
                      f"then T % {K} of '{SIGNATURES['step']}' (x (B, 1, F)), the state carried; h0, c0, hn, cn (L, B, H)"}


def check_seq(path: Path, model, dims: dict, budget: Tolerance, K: int) -> list[str]:
    """Graph properties (builtins, no loop, no fused op, no variable tensors), then values on LiteRT with
    XNNPACK against PyTorch: lengths below, at and past K (chunks and steps mixed), batch 1 and 3."""
    from lstm_edge.runtime.litert_chunks import LiteRTChunkRunner

    ops = tflite_ops(path)
    failures = [f"graph contains {o}: the chunked artefact must be loop-free builtins"
                for o in sorted(set(ops)) if o in ("WHILE", "CUSTOM", "UNIDIRECTIONAL_SEQUENCE_LSTM") or o.startswith("Flex")]
    failures += [f"variable tensor {n}: LiteRT would carry it between calls" for n in variable_tensors(path)]
    if not failures:
        runner = LiteRTChunkRunner(path, info=chunked_facts(K))
        for b, length in ((1, 1), (3, K - 1), (1, K), (3, 2 * K + 3)):
            feeds = example_feeds(dims, batch=b, length=max(length, 1), seed=b + length)
            failures += [f"B = {b}, T = {length}: {f}" for f in
                         check_outputs(runner.run(feeds), torch_outputs(model, feeds), OUTPUTS, budget.atol, budget.rtol)]
    return failures


def to_tflite_seq(model, tensors: dict, dims: dict, out_path: Path, budget: Tolerance) -> dict:
    from lstm_edge.converters.tflite_ops import xnnpack_partitions

    tf, _ = import_tensorflow()
    K = CHUNK_STEPS
    write_bytes_atomic(out_path, convert_seq(tensors, dims, str(out_path), K=K))
    failures = check_seq(out_path, model, dims, budget, K)
    if failures:
        out_path.unlink(missing_ok=True)
        raise ConversionError(str(out_path), failures, hint="this is a converter regression; please report it")
    taken, partitions = xnnpack_partitions(out_path)
    return write_sidecar(out_path, {
        "kind": "artifact", "format": "tflite", "precision": "fp32", "parent": "pytorch",
        "inputs": ["x", "h0", "c0"], "outputs": list(OUTPUTS), "missing_outputs": {},
        "ops": sorted(set(tflite_ops(out_path))),
        "converter": f"tf.lite.TFLiteConverter (tf.function, lstm_edge.byo.tf_graph cell, chunks of {K}) "
                     f"tensorflow {tf.__version__}",
        "semantic_sha256": semantic_sha256(out_path),
        "xnnpack": {"partitions": partitions, "delegated_ops": sum(taken.values())},
    } | chunked_facts(K))
