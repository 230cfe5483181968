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
    assert sniff(out / "model.safetensors") == "safetensors" and sniff(out / "test_set.npz") == "zip"


def test_a_pickle_checkpoint_is_refused_and_never_unpickled(tiny_run, tmp_path):
    from lstm_edge.checkpoint import load_checkpoint

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
