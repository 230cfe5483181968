"""Where a step of the chunked TFLite sequence artefact goes on LiteRT + XNNPACK: an op profile by construction.

The LiteRT Python API has no per-op profiler, so each op type of the cell is timed on its own: a graph of
N copies of it at the model's shapes (B = 1), one thread, XNNPACK on, µs per op = (graph − empty graph) / N.
Those costs times the op counts of one step give the budget of a step, printed beside the chunk
signature's measured µs per step and onnxruntime's µs per step from one sequence call (T = 100):

    python benchmarks/litert_op_profile.py artifacts/sensor [--ops 200] [--repeat 300]

The FULLY_CONNECTED on h is timed twice: N copies sharing one weight tensor (XNNPACK packs each op's
weights separately, so N copies of 64 KiB leave the cache), and a single op called N times (the weights
stay warm), which bounds what a graph could reach if the packed weights were shared.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def timed(fn, repeat: int) -> float:
    fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) * 1e6


def interpreter(blob: bytes, shape):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=blob, num_threads=1)
    it.allocate_tensors()
    index = it.get_input_details()[0]["index"]
    it.set_tensor(index, np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    return it


def convert(tf, fn, shape) -> bytes:
    holder = tf.Module()
    holder.f = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32, name="x")], autograph=False)
    c = tf.lite.TFLiteConverter.from_concrete_functions([holder.f.get_concrete_function()], holder)
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return c.convert()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("directory", type=Path)
    ap.add_argument("--ops", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=300)
    a = ap.parse_args(argv)
    from lstm_edge.converters.tensorflow_env import import_tensorflow
    from lstm_edge.converters.to_tflite_seq import CHUNK_STEPS
    from lstm_edge.runtime import open_runner
    from lstm_edge.runtime.litert_chunks import LiteRTChunkRunner
    from lstm_edge.files import read_sidecar
    from lstm_edge.train.checkpoint import load_checkpoint

    tf, _ = import_tensorflow()
    tensors, meta = load_checkpoint(a.directory)
    H, L = meta["dims"]["hidden_size"], meta["dims"]["num_layers"]
    w_hh = tf.constant(np.ascontiguousarray(tensors["lstm.weight_hh_l0"].T))          # (H, 4H)
    back = tf.constant(np.random.default_rng(1).standard_normal((4 * H, H)).astype(np.float32) * 0.05)
    N = a.ops

    def chain(step):
        def fn(x):
            for _ in range(N):
                x = step(x)
            return x
        return fn

    empty = timed(interpreter(convert(tf, lambda x: x * 1.0, [1, H]), (1, H)).invoke, a.repeat)
    per_op = {}
    # FC (H → 4H) chained with one back (4H → H), the same multiply-adds: their mean is the FC's cost
    cases = {"FULLY_CONNECTED (h, 4H) + return FC": (lambda x: tf.matmul(tf.matmul(x, w_hh), back), 2),
             "LOGISTIC": (tf.sigmoid, 1), "TANH": (tf.tanh, 1), "MUL": (lambda x: x * x, 1), "ADD": (lambda x: x + x, 1),
             "SPLIT (4 ways, one kept) + CONCATENATION": (lambda x: tf.concat(tf.split(tf.concat([x] * 4, 1), 4, 1)[:1], 1), 3)}
    for name, (step, ops) in cases.items():
        t = timed(interpreter(convert(tf, chain(step), [1, H]), (1, H)).invoke, a.repeat)
        per_op[name] = (t - empty) / N / ops
    single = interpreter(convert(tf, lambda x: tf.matmul(x, w_hh), [1, H]), (1, H))
    fc_warm = timed(single.invoke, a.repeat) - empty
    # one LSTM layer-step (lstm_edge/byo/tf_graph.recur): FC(h) ADD SPLIT 3×LOGISTIC 2×TANH 3×MUL ADD
    fc = per_op["FULLY_CONNECTED (h, 4H) + return FC"]
    cell = (per_op["ADD"] * 2 + per_op["SPLIT (4 ways, one kept) + CONCATENATION"] + per_op["LOGISTIC"] * 3
            + per_op["TANH"] * 2 + per_op["MUL"] * 3) * L
    path = a.directory / "tflite-seq-fp32.tflite"
    chunk = LiteRTChunkRunner(path, info=read_sidecar(path)).signature_at("chunk", 1)
    x = np.zeros((1, CHUNK_STEPS, meta["dims"]["input_size"]), np.float32)
    z = np.zeros((L, 1, H), np.float32)
    measured = timed(lambda: chunk(x, z, z), a.repeat) / CHUNK_STEPS
    onnx = open_runner(a.directory / "onnx-fp32.onnx")
    feeds = {"x": np.zeros((1, 100, x.shape[2]), np.float32), "h0": z, "c0": z}
    ort = timed(lambda: onnx.run(feeds), a.repeat) / 100
    print(f"one thread, B = 1, H = {H}, L = {L}; µs per op (XNNPACK, {N} copies, empty graph {empty:.1f} µs removed):")
    for name, us in per_op.items():
        print(f"  {name:44s} {us:6.3f}")
    print(f"  {'FULLY_CONNECTED (h, 4H), one op, weights warm':44s} {fc_warm:6.3f}")
    print(f"one step = {L} layers × (FC, 2 ADD, SPLIT, 3 LOGISTIC, 2 TANH, 3 MUL): the elementwise ops {cell:.2f} µs; "
          f"with every FC's packed weights warm {cell + fc_warm * L:.2f} µs, with {N} packed copies (out of cache) "
          f"{cell + fc * L:.2f} µs")
    print(f"measured: chunk signature {measured:.2f} µs per step; onnxruntime (one call, T = 100) {ort:.2f} µs per step "
          f"(call overhead included); ratio {measured / ort:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
