"""Acceptance (issue 21), models: valid ONNX (embedded or external data), ORT and TFLite files are named as
that kind by runtime/sniff.py and run back equal through open_runner. Safetensors, npz and CSV:
test_accept_files.py.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lstm_edge.runtime import open_runner
from lstm_edge.runtime.onnx_scan import scan_onnx
from lstm_edge.runtime.sniff import sniff
from accept_helpers import EXAMPLES, _base, same, write  # noqa: F401  (_base: the autouse fixture write() needs)


# --- ONNX (embedded or external data inside its directory) and ORT format, through open_runner -----

def onnx_model(initializers: dict, ir_version: int):
    """x → y, and every initializer w_k → o_k (Identity): the outputs read the weights back."""
    from onnx import TensorProto, helper, numpy_helper

    info, init = helper.make_tensor_value_info, initializers.items()
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])] + [helper.make_node("Identity", [f"w_{k}"], [f"o_{k}"]) for k, _ in init],
        "g", [info("x", TensorProto.FLOAT, [2, 3])],
        [info("y", TensorProto.FLOAT, [2, 3])] + [info(f"o_{k}", helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for k, a in init],
        [numpy_helper.from_array(a, f"w_{k}") for k, a in init])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=ir_version)


@settings(max_examples=EXAMPLES["onnx"], deadline=None)
@given(st.dictionaries(st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8),   # also file names
                       st.sampled_from([np.float32, np.float64, np.float16, np.int8, np.uint8, np.int16, np.int32, np.int64,
                                        np.bool_]).flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3))),
                       min_size=1, max_size=3),
       st.integers(7, 12), st.sampled_from([None, "weights.bin", "data/w.bin", "é d/w.data", "per-tensor"]), st.booleans())
def test_onnx_and_ort_are_accepted(initializers, ir_version, external, ort_format):
    import onnx
    import onnxruntime as ort

    path, model = write(b"", "m.onnx"), onnx_model(initializers, ir_version)
    if external is None:
        onnx.save(model, str(path))
    else:
        (path.parent / external).parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=external != "per-tensor",
                  location=None if external == "per-tensor" else external, size_threshold=0)
    assert sniff(path) == "onnx" and path.read_bytes()[:2] == bytes([0x08, ir_version])
    scan_onnx(path)                                                    # external data inside: no refusal
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    want = {"y": x} | {f"o_{k}": a for k, a in initializers.items()}
    same(open_runner(path).run({"x": x}), want)
    if ort_format:                                                     # onnxruntime's own converter
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(path.with_suffix(".ort"))
        options.add_session_config_entry("session.save_model_format", "ORT")
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        assert sniff(path.with_suffix(".ort")) == "ort"
        same(open_runner(path.with_suffix(".ort")).run({"x": x}), want)


# --- TFLite with and without metadata, through open_runner (LiteRT) --------------------------------

@pytest.fixture(scope="module")
def tflite_base() -> bytes:
    """A converted tf.function with lstm-edge's signature (x, h0, c0 → y, hn, cn), no LSTM: ~7 s."""
    from lstm_edge.converters.to_tflite import import_tensorflow

    tf, _ = import_tensorflow()

    @tf.function(input_signature=[tf.TensorSpec(s, tf.float32, name=n) for n, s in (("x", [1, 3, 2]), ("h0", [1, 1, 4]),
                                                                                     ("c0", [1, 1, 4]))])
    def f(x, h0, c0):
        return {"y": x * 2.0, "hn": h0 + 1.0, "cn": c0 * 3.0}

    holder = tf.Module()
    holder.f = f
    return bytes(tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], holder).convert())


def tflite_metadata(model) -> list[tuple[str, bytes]]:
    """(name, bytes) of every metadata entry of a flatbuffer_utils model object."""
    data = [b"" if b.data is None else bytes(np.asarray(b.data, np.uint8)) for b in model.buffers]
    return [(m.name if isinstance(m.name, str) else m.name.decode(), data[m.buffer]) for m in model.metadata or []]


@pytest.mark.slow   # converts with TensorFlow once (the module's TFLite fixture)
@settings(max_examples=EXAMPLES["tflite"], deadline=None)
@given(st.booleans(), st.lists(st.tuples(st.text(max_size=8), st.binary(max_size=24)), max_size=3))
def test_tflite_is_accepted(tflite_base, keep_converter_metadata, entries):
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    model = fbu.convert_bytearray_to_object(bytearray(tflite_base))
    model.metadata = list(model.metadata or []) if keep_converter_metadata else []
    for name, blob in entries:
        buffer, entry = schema.BufferT(), schema.MetadataT()
        buffer.data = np.frombuffer(blob, np.uint8) if blob else None
        model.buffers.append(buffer)
        entry.name, entry.buffer = name, len(model.buffers) - 1
        model.metadata.append(entry)
    want = tflite_metadata(model)
    model.metadata = model.metadata or None                            # none at all: the field is left out
    path = write(bytes(fbu.convert_object_to_bytearray(model)), "m.tflite")
    assert sniff(path) == "tflite"
    rng = np.random.default_rng(len(entries))
    feeds = {k: rng.standard_normal(s).astype(np.float32) for k, s in (("x", (1, 3, 2)), ("h0", (1, 1, 4)), ("c0", (1, 1, 4)))}
    same(open_runner(path).run(feeds), {"y": feeds["x"] * 2, "hn": feeds["h0"] + 1, "cn": feeds["c0"] * 3})
    assert tflite_metadata(fbu.convert_bytearray_to_object(bytearray(path.read_bytes()))) == want
