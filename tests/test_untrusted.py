"""Untrusted files: sniffed by their first bytes, pickles never opened, ONNX external data kept inside
its directory, declared shapes held to the bytes behind them."""
from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

from lstm_edge.errors import InvalidInputError, LstmEdgeError, SecurityRefusal
from lstm_edge.runtime import open_runner
from lstm_edge.runtime.sniff import sniff


class Boom:
    """Unpickling this would create a marker file: the proof that nothing was unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def refusal(fn) -> LstmEdgeError:
    with pytest.raises(LstmEdgeError) as e:
        fn()
    return e.value


def test_file_types_are_named_by_their_bytes(tiny_run, tmp_path):
    import torch

    out, _ = tiny_run
    torch.save({"w": torch.zeros(2)}, tmp_path / "model.onnx")                       # a .pt renamed .onnx
    e = refusal(lambda: open_runner(tmp_path / "model.onnx"))
    assert isinstance(e, SecurityRefusal) and e.exit_code == 4 and "PyTorch zip checkpoint" in e.message
    shutil.copy(out / "onnx-fp32.onnx", tmp_path / "swapped.tflite")
    e = refusal(lambda: open_runner(tmp_path / "swapped.tflite"))
    assert e.exit_code == 3 and "this is an ONNX model, not a TFLite flatbuffer model" in e.message
    (tmp_path / "empty.onnx").write_bytes(b"")
    assert "an empty file" in refusal(lambda: open_runner(tmp_path / "empty.onnx")).message
    (tmp_path / "page.tflite").write_text("<html>404 Not Found</html>")
    assert "a text file" in refusal(lambda: open_runner(tmp_path / "page.tflite")).message
    (tmp_path / "gateway.onnx").write_text("Bad gateway")          # printable bytes a loose check took for protobuf
    assert "a text file, not an ONNX model" in refusal(lambda: open_runner(tmp_path / "gateway.onnx")).message
    assert sniff(out / "model.safetensors") == "safetensors" and sniff(out / "test_set.npz") == "zip"


def test_a_pickle_checkpoint_is_refused_and_never_unpickled(tiny_run, tmp_path):
    from lstm_edge.train.checkpoint import load_checkpoint

    out, _ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(out, run, ignore=shutil.ignore_patterns("bundle"))
    marker = tmp_path / "unpickled"
    (run / "model.safetensors").write_bytes(pickle.dumps(Boom(marker)))
    e = refusal(lambda: load_checkpoint(run))
    assert e.exit_code == 4 and "never unpickles" in e.message and "model.safetensors" in e.message
    (run / "model.safetensors").unlink()
    (run / "weights.pt").write_bytes(pickle.dumps(Boom(marker)))
    e = refusal(lambda: load_checkpoint(run))
    assert e.exit_code == 4 and "weights.pt" in e.message
    assert not marker.exists()


def _external_model(tmp_path, location: str):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(tmp_path / "m.onnx"), save_as_external_data=True, location="w.bin",
              size_threshold=0, all_tensors_to_one_file=True)
    if location != "w.bin":
        m = onnx.load(str(tmp_path / "m.onnx"), load_external_data=False)
        for entry in m.graph.initializer[0].external_data:
            if entry.key == "location":
                entry.value = location
        onnx.save(m, str(tmp_path / "m.onnx"))
    return tmp_path / "m.onnx"


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "link.bin"])
def test_onnx_external_data_outside_the_directory_is_refused(tmp_path, location):
    from lstm_edge.runtime.onnx_scan import scan_onnx

    (tmp_path / "outside.bin").write_bytes(b"\0" * 64)
    d = tmp_path / "model"
    d.mkdir()
    (d / "link.bin").symlink_to(tmp_path / "outside.bin")
    path = _external_model(d, location)
    e = refusal(lambda: scan_onnx(path))
    assert isinstance(e, SecurityRefusal) and e.exit_code == 4 and location in e.message


def test_onnx_external_data_beside_the_model_is_fine(tmp_path):
    from lstm_edge.runtime.onnx_scan import scan_onnx

    scan_onnx(_external_model(tmp_path, "w.bin"))   # no exception


def test_declared_shape_must_match_raw_bytes(tiny_run, tmp_path):
    import onnx

    out, _ = tiny_run
    m = onnx.load(str(out / "onnx-fp32.onnx"))
    t = next(t for t in m.graph.initializer if len(t.raw_data) > 8)
    t.raw_data = t.raw_data[:-4]                       # one float short: the checker does not notice
    onnx.save(m, str(tmp_path / "short.onnx"))
    e = refusal(lambda: open_runner(tmp_path / "short.onnx"))
    assert isinstance(e, InvalidInputError) and f"initializer '{t.name}'" in e.message and "raw bytes" in e.message


@pytest.mark.parametrize("cut", [10, 1000, -7])
def test_truncated_onnx_is_exit_3(tiny_run, tmp_path, cut):
    out, _ = tiny_run
    data = (out / "onnx-fp32.onnx").read_bytes()
    (tmp_path / "t.onnx").write_bytes(data[:cut])
    assert refusal(lambda: open_runner(tmp_path / "t.onnx")).exit_code == 3


# --- regressions from the fuzz loop ------------------------------------------------------------

def test_fuzz_regression_corrupt_npz_header_is_exit_3(tmp_path):
    """Fuzz found BadZipFile, TokenError and NotImplementedError escaping np.load."""
    from lstm_edge.runtime.sniff import read_npz

    np.savez(tmp_path / "a.npz", x=np.zeros(2, np.float32))
    data = (tmp_path / "a.npz").read_bytes()
    (tmp_path / "b.npz").write_bytes(data.replace(b"'shape': (2,)", b"'shape': (2,,"))   # same length, unbalanced
    for name, blob in (("b.npz", None), ("c.npz", data[:60] + b"\0" * 40 + data[100:])):
        if blob is not None:
            (tmp_path / name).write_bytes(blob)
        e = refusal(lambda path=tmp_path / name: read_npz(path))
        assert e.exit_code == 3 and "corrupt npz" in e.message and name in e.message


def test_fuzz_regression_onnx_that_fails_while_running_is_exit_3(tiny_run, tmp_path):
    """Fuzz found onnxruntime's own exceptions (a Gather index out of range) escaping run()."""
    import onnx
    from onnx import numpy_helper

    out, _ = tiny_run
    m = onnx.load(str(out / "onnx-fp32.onnx"))
    gather = next(n for n in m.graph.node if n.op_type == "Gather")
    const = next(n for n in m.graph.node if n.op_type == "Constant" and n.output[0] == gather.input[1])
    const.attribute[0].t.CopyFrom(numpy_helper.from_array(np.array([0, 99], np.int64)))
    onnx.save(m, str(tmp_path / "bad.onnx"))
    runner = open_runner(tmp_path / "bad.onnx")
    zero = np.zeros((2, 1, 8), np.float32)
    e = refusal(lambda: runner.run({"x": np.zeros((1, 3, 4), np.float32), "h0": zero, "c0": zero}))
    assert e.exit_code == 3 and "onnxruntime cannot run this model" in e.message


@pytest.mark.slow   # converts with TensorFlow
def test_fuzz_regression_tflite_with_a_foreign_signature_is_exit_3(tmp_path):
    """Fuzz found ValueError/UnicodeDecodeError escaping the signature reading."""
    from lstm_edge.converters.tensorflow_env import import_tensorflow

    tf, _ = import_tensorflow()

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="pixels")])
    def f(pixels):
        return {"logits": pixels * 2.0}

    holder = tf.Module()
    holder.f = f
    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], holder)
    (tmp_path / "foreign.tflite").write_bytes(conv.convert())
    e = refusal(lambda: open_runner(tmp_path / "foreign.tflite"))
    assert e.exit_code == 3 and "signature is not x[, h0[, c0]]" in e.message
