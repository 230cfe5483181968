"""The chunked TFLite sequence artefact (converters/to_tflite_seq.py, runtime/litert_chunks.py): any T as
chunks and steps, the same numbers as PyTorch, XNNPACK takes the cell, a wrong sidecar is refused by name."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from test_converters import SHAPES, tiny

from lstm_edge.errors import InvalidInputError
from lstm_edge.model.spec import Tolerance

FP32 = Tolerance(parent="pytorch", child="tflite-seq-fp32", atol=1e-5, rtol=1e-5)
K = 4     # a small chunk, so that short sequences mix chunk and step calls


@pytest.fixture(scope="module", params=range(len(SHAPES)), ids=lambda k: "F{}-H{}-L{}".format(*SHAPES[k][:3]))
def seq_artifact(request, tmp_path_factory):
    from lstm_edge.converters import to_tflite_seq as mod

    model, tensors, dims = tiny(*SHAPES[request.param])
    path = tmp_path_factory.mktemp("seq") / "tflite-seq-fp32.tflite"
    saved, mod.CHUNK_STEPS = mod.CHUNK_STEPS, K
    try:
        info = mod.to_tflite_seq(model, tensors, dims, path, FP32)
    finally:
        mod.CHUNK_STEPS = saved
    return path, info, model, dims


pytestmark = pytest.mark.slow       # converts with TensorFlow


@pytest.mark.parametrize("batch, length", [(1, 1), (2, K - 1), (1, K), (3, K + 1), (2, 3 * K + 2), (1, 57)])
def test_any_length_and_batch_agrees_with_pytorch(seq_artifact, batch, length):
    from lstm_edge.converters.validate import example_feeds, torch_outputs
    from lstm_edge.runtime import open_runner

    path, info, model, dims = seq_artifact
    runner = open_runner(path)
    feeds = example_feeds(dims, batch=batch, length=length, seed=length)
    got, want = runner.run(feeds), torch_outputs(model, feeds)
    for name in ("y", "hn", "cn"):
        assert got[name].shape == want[name].shape
        np.testing.assert_allclose(got[name], want[name], atol=1e-5, rtol=1e-5, err_msg=name)


def test_graph_is_builtins_that_xnnpack_takes(seq_artifact):
    path, info, _, dims = seq_artifact
    assert info["chunked"] == {"steps": K, "chunk": "serving_default", "step": "step"}
    assert not {"WHILE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "SPLIT_V", "STRIDED_SLICE", "CUSTOM"} & set(info["ops"])
    # the cell (FULLY_CONNECTED, SPLIT, LOGISTIC, TANH, MUL, ADD) is delegated; only the UNPACK/PACK/GATHER
    # at the ends of each layer stay on the builtin kernels: at most a partition per layer and one more
    assert info["xnnpack"]["delegated_ops"] > 0 and info["xnnpack"]["partitions"] <= 2 * dims["num_layers"] + 1


def test_a_stream_stepped_one_step_at_a_time_equals_the_whole_sequence(seq_artifact):
    from lstm_edge.converters.validate import example_feeds
    from lstm_edge.runtime import open_runner
    from lstm_edge.runtime.stream import Stream

    path, _, _, dims = seq_artifact
    runner = open_runner(path)
    x = example_feeds(dims, batch=2, length=2 * K + 3, seed=5)["x"]
    zero = np.zeros((dims["num_layers"], 2, dims["hidden_size"]), np.float32)
    whole = runner.run({"x": x, "h0": zero, "c0": zero})
    stream = Stream(runner, batch=2)
    stepped = np.stack([stream.step(x[:, t]) for t in range(x.shape[1])], axis=1)
    np.testing.assert_allclose(stepped, whole["y"], atol=1e-6)
    np.testing.assert_allclose(stream.c, whole["cn"], atol=1e-6)


def test_a_sidecar_that_is_not_this_graphs_is_refused_by_name(seq_artifact, tmp_path):
    from lstm_edge.runtime import open_runner

    path, info, _, dims = seq_artifact
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    side = copy.with_name(copy.name + ".json")
    side.write_text(json.dumps(info | {"chunked": {"steps": K + 3, "chunk": "serving_default", "step": "step"}}))
    with pytest.raises(InvalidInputError, match=f"take {K} and 1 steps, its sidecar says {K + 3} and 1"):
        open_runner(copy)
    side.write_text(json.dumps(info | {"chunked": {"steps": K, "chunk": "forward", "step": "step"}}))
    with pytest.raises(InvalidInputError, match="forward"):
        open_runner(copy)
    side.write_text(json.dumps(info | {"chunked": {"steps": 0}}))
    with pytest.raises(InvalidInputError, match="'chunked'"):
        open_runner(copy)


def test_bad_inputs_are_refused_before_litert_sees_them(seq_artifact):
    from lstm_edge.runtime import open_runner

    path, _, _, dims = seq_artifact
    runner = open_runner(path)
    L, H, F = dims["num_layers"], dims["hidden_size"], dims["input_size"]
    z = np.zeros((L, 1, H), np.float32)
    with pytest.raises(InvalidInputError, match="empty"):
        runner.run({"x": np.zeros((1, 0, F), np.float32), "h0": z, "c0": z})
    with pytest.raises(InvalidInputError, match="dimension 2"):
        runner.run({"x": np.zeros((1, 3, F + 1), np.float32), "h0": z, "c0": z})
    with pytest.raises(InvalidInputError, match="non-finite"):
        runner.run({"x": np.full((1, 3, F), np.nan, np.float32), "h0": z, "c0": z})
