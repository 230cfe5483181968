"""Each converter on tiny random models of several shapes: graph properties, parity, sidecars."""
import json

import numpy as np
import pytest
import torch

from lstm_edge.converters.validate import example_feeds
from lstm_edge.errors import UsageError
from lstm_edge.model.network import SequenceLSTM, TorchRunner
from lstm_edge.runtime import open_runner
from lstm_edge.model.spec import Tolerance

FP32 = Tolerance("pytorch", "x", 1e-5, 1e-5)
SHAPES = [  # (F, H, L, O, residual)
    (3, 5, 1, 1, ()),
    (4, 8, 2, 2, (0, 2)),
    (2, 16, 3, 1, (1,)),
]


def tiny(F, H, L, O, residual, seed=0):
    torch.manual_seed(seed)
    model = SequenceLSTM(F, H, L, O, residual).eval()
    tensors = {k: v.numpy() for k, v in model.state_dict().items()}
    dims = {"input_size": F, "hidden_size": H, "num_layers": L, "output_size": O, "residual": list(residual)}
    return model, tensors, dims


def grid(dims, seed=3):
    for b, t in [(1, 1), (3, 17), (7, 300)]:
        yield example_feeds(dims, batch=b, length=t, seed=seed + b)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"F{s[0]}H{s[1]}L{s[2]}O{s[3]}r{len(s[4])}")
@pytest.mark.parametrize("fmt", ["onnx", pytest.param("tflite", marks=pytest.mark.slow)])   # TFLite: TensorFlow, slow
def test_export_keeps_the_fused_op_and_matches_pytorch(tmp_path, shape, fmt):
    model, tensors, dims = tiny(*shape)
    if fmt == "onnx":
        from lstm_edge.converters.to_onnx import to_onnx

        path = tmp_path / "m.onnx"
        info = to_onnx(model, dims, path, FP32)
        assert info["outputs"] == ["y", "hn", "cn"]
    else:
        from lstm_edge.converters.to_tflite import FUSED_OP, to_tflite, tflite_ops

        path = tmp_path / "m.tflite"
        info = to_tflite(model, tensors, dims, path, FP32)
        ops = tflite_ops(path)
        assert ops.count(FUSED_OP) == dims["num_layers"] and "WHILE" not in ops
        assert info["outputs"] == ["y", "hn"] and "cn" in info["missing_outputs"]
    assert json.loads(path.with_name(path.name + ".json").read_text())["sha256"] == info["sha256"]
    runner, torch_runner = open_runner(path), TorchRunner(model)
    for feeds in grid(dims):
        got, want = runner.run(feeds), torch_runner.run(feeds)
        for k in info["outputs"]:
            np.testing.assert_allclose(got[k], want[k], atol=1e-5, rtol=1e-5, err_msg=k)


def conveyor_belt_model():
    """One layer whose cell counts up by 1 per step while x0 = +1 and down while x0 = −1:
    all gates open (bias 20), candidate = tanh(20·x0) ≈ ±1, no recurrence."""
    model, _, dims = tiny(2, 4, 1, 1, ())
    with torch.no_grad():
        for p in model.lstm.parameters():
            p.zero_()
        model.lstm.bias_ih_l0[:] = 20.0            # input, forget, output gates ≈ 1
        model.lstm.bias_ih_l0[8:12] = 0.0          # candidate rows (PyTorch order i, f, g, o)
        model.lstm.weight_ih_l0[8:12, 0] = 20.0
    tensors = {k: v.numpy() for k, v in model.state_dict().items()}
    x = np.zeros((1, 30, 2), np.float32)
    x[0, :15, 0], x[0, 15:, 0] = 1.0, -1.0         # c: 0 → 15 → 0
    feeds = {"x": x, "h0": np.zeros((1, 1, 4), np.float32), "c0": np.zeros((1, 1, 4), np.float32)}
    return model, tensors, dims, feeds


@pytest.mark.slow   # converts with TensorFlow
def test_tflite_does_not_clip_a_large_cell_state(tmp_path):
    """The converter's default cell_clip = 10 would clamp c at 10 and end the sequence at −5 instead of 0."""
    from tensorflow.lite.tools import flatbuffer_utils

    from lstm_edge.converters.to_tflite import lstm_options, to_tflite

    model, tensors, dims, feeds = conveyor_belt_model()
    path = tmp_path / "m.tflite"
    info = to_tflite(model, tensors, dims, path, FP32)
    assert info["converter_fixups"], "the converter no longer sets a clip: update to_tflite's docstring"
    assert all(o.cellClip == 0 for _, o in lstm_options(flatbuffer_utils.read_model(str(path))))
    want = TorchRunner(model).run(feeds)
    assert np.abs(want["cn"]).max() < 1e-3 and abs(want["hn"]).max() < 1e-3   # back to 0 after peaking at 15
    got = open_runner(path).run(feeds)
    np.testing.assert_allclose(got["hn"], want["hn"], atol=1e-5, rtol=1e-5)


@pytest.mark.slow   # converts with TensorFlow
def test_a_clipped_cell_is_refused(tmp_path, monkeypatch):
    from lstm_edge.converters import to_tflite as mod
    from lstm_edge.errors import ConversionError

    monkeypatch.setattr(mod, "unclip_cell_state", lambda blob: (blob, []))
    model, tensors, dims, _ = conveyor_belt_model()
    with pytest.raises(ConversionError) as e:
        mod.to_tflite(model, tensors, dims, tmp_path / "m.tflite", FP32)
    assert "cell_clip 10.0" in str(e.value)


def test_onnx_export_is_byte_identical_twice(tmp_path):
    from lstm_edge.converters.to_onnx import to_onnx

    model, _, dims = tiny(*SHAPES[1])
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    to_onnx(model, dims, a, FP32)
    to_onnx(model, dims, b, FP32)
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.slow   # converts with TensorFlow, twice per case
@pytest.mark.parametrize("kind", ["tflite", "tflite-step", "tflite-seq"])
def test_tflite_export_is_byte_identical_twice_and_carries_a_semantic_hash(tmp_path, kind):
    """Keras numbered layers per process (model_1, lambda_5 …), so a second export in one process
    differed in tensor names; a fresh Keras session makes the bytes identical."""
    from lstm_edge.converters.to_tflite import to_tflite
    from lstm_edge.converters.to_tflite_seq import to_tflite_seq
    from lstm_edge.converters.to_tflite_step import to_tflite_step

    model, tensors, dims = tiny(*SHAPES[1])
    a, b = tmp_path / "a.tflite", tmp_path / "b.tflite"
    convert = {"tflite": to_tflite, "tflite-step": to_tflite_step, "tflite-seq": to_tflite_seq}[kind]
    for path in (a, b):
        info = convert(model, tensors, dims, path, FP32)
    assert a.read_bytes() == b.read_bytes()
    assert len(info["semantic_sha256"]) == 64


def test_semantic_diff_names_what_differs(tiny_run, tmp_path):
    from tensorflow.lite.tools import flatbuffer_utils as fbu

    from lstm_edge.converters.tflite_ops import semantic_diff, semantic_fingerprint

    out, _ = tiny_run
    src = out / "tflite-fp32.tflite"
    m = fbu.read_model(str(src))
    m.subgraphs[0].tensors[3].name = b"renamed"
    fbu.write_model(m, str(tmp_path / "renamed.tflite"))
    assert (tmp_path / "renamed.tflite").read_bytes() != src.read_bytes()
    assert semantic_fingerprint(tmp_path / "renamed.tflite") == semantic_fingerprint(src)
    assert semantic_diff(src, tmp_path / "renamed.tflite") == ["tensor names (1 differ; not semantic)"]
    t = next(k for k, t in enumerate(m.subgraphs[0].tensors) if m.buffers[t.buffer].data is not None
             and len(m.buffers[t.buffer].data) >= 4)
    m.buffers[m.subgraphs[0].tensors[t].buffer].data[0] ^= 1
    fbu.write_model(m, str(tmp_path / "weights.tflite"))
    assert f"subgraph 0 tensors [{t}]" in semantic_diff(src, tmp_path / "weights.tflite")


@pytest.mark.slow   # converts with TensorFlow
def test_a_converter_that_breaks_parity_fails_loudly(tmp_path, monkeypatch):
    """If the mapping permuted gates, the export's own check must refuse the artefact."""
    from lstm_edge.converters import to_tflite as mod
    from lstm_edge.errors import ConversionError
    from lstm_edge.model.gates import reorder

    def wrong_mapping(w_ih, w_hh, b_ih, b_hh):   # treats PyTorch rows as if they were ONNX order
        return (reorder(w_ih, "onnx", "keras").T, reorder(w_hh, "onnx", "keras").T,
                reorder(b_ih + b_hh, "onnx", "keras"))

    monkeypatch.setattr(mod, "torch_to_keras", wrong_mapping)
    model, tensors, dims = tiny(*SHAPES[1])
    path = tmp_path / "m.tflite"
    with pytest.raises(ConversionError) as e:
        mod.to_tflite(model, tensors, dims, path, FP32)
    assert "output 'y' differs from PyTorch" in str(e.value)
    assert not path.exists()


def test_tflite_artefacts_have_no_variable_tensors(tiny_run):
    """LiteRT keeps variable tensors between invoke() calls; ours take the state as inputs instead."""
    from lstm_edge.converters.to_tflite import variable_tensors

    out, _ = tiny_run
    for path in sorted(out.glob("*.tflite")):
        assert variable_tensors(path) == [], path.name


@pytest.mark.slow   # converts with TensorFlow
def test_a_stateful_lstm_is_caught_as_leaking(tmp_path):
    """Without initial_state inputs the converter gives the fused LSTM persistent variable state
    tensors that no op writes: exactly what would leak between calls. The check must see them."""
    from lstm_edge.converters.to_tflite import variable_tensors
    from lstm_edge.converters.tensorflow_env import import_tensorflow

    tf, keras = import_tensorflow()
    x = keras.Input((None, 3), batch_size=1)
    model = keras.Model(x, keras.layers.LSTM(4, return_sequences=True)(x))
    c = tf.lite.TFLiteConverter.from_keras_model(model)
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    path = tmp_path / "stateful.tflite"
    path.write_bytes(c.convert())
    assert len(variable_tensors(path)) == 2      # h and c of the one layer


# ---------------------------------------------------------------------------------------------
# lstm_edge.exporting and lstm_edge.converters (ONNX only: TFLite converts with TensorFlow, slow)

def test_export_writes_a_checked_onnx_artefact_that_matches_pytorch(untrained, exported):
    from lstm_edge.converters.validate import example_feeds
    from lstm_edge.files import read_sidecar
    from lstm_edge.model.network import TorchRunner, load_model
    from lstm_edge.runtime import open_runner

    out, written, refused = exported
    _, tensors, meta = untrained
    assert refused == [] and [w["artifact"] for w in written] == ["onnx-fp32.onnx"]
    info = read_sidecar(out / "onnx-fp32.onnx")                      # hash matches the bytes on disk
    assert (info["format"], info["precision"], info["parent"]) == ("onnx", "fp32", "pytorch")
    feeds = example_feeds(meta["dims"], batch=3, length=11)
    got = open_runner(out / "onnx-fp32.onnx").run(feeds)
    want = TorchRunner(load_model(tensors, meta["dims"])).run(feeds)
    for k in ("y", "hn", "cn"):
        np.testing.assert_allclose(got[k], want[k], atol=1e-5, rtol=1e-5)


def test_export_refuses_unknown_formats_and_recipes(exported):
    from lstm_edge.exporting.artifacts import export

    out, _, _ = exported
    with pytest.raises(UsageError, match="keras"):
        export(out, ["keras"])
    with pytest.raises(UsageError, match="unknown quantization recipe 'int3'"):
        export(out, [], recipes=["int3"])


def test_recipes_are_data_judged_against_the_fp32_stage_of_their_format():
    from lstm_edge.converters.recipes import RECIPES, recipe

    assert len(RECIPES) >= 9
    for name, r in RECIPES.items():
        family = next((f for f in ("tflite-step", "tflite-seq") if name.startswith(f + "-")), r.format)
        assert r.name == name and r.parent == f"{family}-fp32"          # judged against its own format's fp32
        assert r.parent.startswith(r.format) and r.suffix == (".onnx" if r.format == "onnx" else ".tflite")
        assert r.attempts and all(isinstance(a, dict) for a in r.attempts)
    assert recipe("tflite-step-fp16").parent == "tflite-step-fp32"
    assert recipe("tflite-seq-fp16").parent == "tflite-seq-fp32"
    with pytest.raises(UsageError, match="choose from") as e:
        recipe("onnx-int3")
    assert e.value.exit_code == 2


def test_converter_self_check_names_every_failure_at_once():
    from lstm_edge.converters.validate import check_outputs

    want = {"y": np.zeros((2, 3, 1)), "hn": np.zeros((1, 2, 4)), "cn": np.zeros((1, 2, 4))}
    assert check_outputs({k: v.astype(np.float32) for k, v in want.items()}, want, ("y", "hn", "cn"), 1e-5, 1e-5) == []
    y = np.zeros((2, 3, 1), np.float32)
    y[1, 2, 0] = 0.5
    got = {"y": y, "hn": np.full((1, 2, 4), np.nan, np.float32), "cn": np.zeros((1, 2, 5), np.float32)}
    failures = check_outputs(got, want, ("y", "hn", "cn"), 1e-5, 1e-5)
    assert len(failures) == 3
    assert "output 'y' differs from PyTorch at (1, 2, 0)" in failures[0]
    assert "'hn' has non-finite values" in failures[1] and "'cn' shape (1, 2, 5)" in failures[2]
    failures = check_outputs({"y": y.astype(np.float64)}, want, ("y", "cn"), 1.0, 0.0)
    assert failures == ["output 'y' dtype float64, expected float32", "output 'cn' missing (got ['y'])"]
