"""The graph converter (lstm_edge/graph): modules of any composition around LSTM / GRU layers, traced and
mapped layer by layer. Fast: what is accepted and what is refused by name (a trace, no conversion), and
every module row of the table against torch in TensorFlow eagerly. Slow: export with parity over the grid
(ONNX with one native op per recurrent layer; TFLite fused where it maps, any T, no variable tensors)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from lstm_edge.errors import InvalidInputError

NETS = Path(__file__).with_name("graph_user_nets.py")
SCOPE: dict = {}
exec(compile(NETS.read_text(), str(NETS), "exec"), SCOPE)

ACCEPTED = {   # class → (example shape, token ids?, native ONNX ops, which recurrent layers are fused in TFLite)
    "Autoencoder": ((2, 9, 4), False, {"LSTM": 3}, [True, True]),
    "ConvResidualAttention": ((2, 9, 6), False, {"LSTM": 2}, [True, True]),
    "TokensMixed": ((2, 9), True, {"GRU": 1, "LSTM": 1}, [False, False]),   # bidirectional; proj + c read
    "ConcatMean": ((2, 9, 3), False, {"LSTM": 1, "GRU": 1}, [True, False]),
    "SeededDecoder": ((2, 9, 3), False, {"LSTM": 2}, [False, True]),     # the decoder falls back at conversion
    "ResidualStack": ((2, 9, 4), False, {"LSTM": 2, "GRU": 1}, [True, False]),
    "ProjectedLast": ((2, 9), True, {"LSTM": 2}, [False, True]),
}
FUSED_AFTER_CONVERSION = {"SeededDecoder": [False, False], "ProjectedLast": [False, False]}   # fell back to WHILE


def example(shape, ids: bool):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 20, shape, generator=g) if ids else torch.randn(shape, generator=g)


def net(cls: str):
    torch.manual_seed(0)
    return SCOPE[cls]().eval()


@pytest.mark.parametrize("cls", list(ACCEPTED))
def test_traced_and_recognised_as_a_graph(cls):
    from lstm_edge.byo.recognise import architecture_from_dict, recognise

    shape, ids, native, fused = ACCEPTED[cls]
    arch = recognise(net(cls), example(shape, ids))
    assert arch.form == "graph" and arch.native_ops() == native
    assert [r["fused"] for r in arch.recurrent] == fused
    assert arch.input_kind == ("embedding" if ids else None)
    again = architecture_from_dict(json.loads(json.dumps(arch.__dict__)))     # as model.json holds it
    assert again.describe() == arch.describe() and again.native_ops() == native


def test_a_single_layer_module_keeps_the_single_form_with_state():
    from lstm_edge.byo.recognise import recognise

    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.fc = nn.LSTM(3, 4, batch_first=True), nn.Linear(4, 1)

        def forward(self, x):
            return self.fc(self.lstm(x)[0][:, -1])

    arch = recognise(Plain().eval(), torch.randn(2, 5, 3))
    assert arch.form == "single" and arch.head_kind == "last"


STREAMS = {   # class → why it cannot stream (measured), None: it streams
    "Autoencoder": "differs from forward() on those steps", "ConvResidualAttention": "differs from forward() on those steps",
    "TokensMixed": "backward direction", "ConcatMean": "differs from forward() on those steps",
    "SeededDecoder": "layer 'decoder' is started from a state forward() computes", "ResidualStack": None,
    "ProjectedLast": None,
}


@pytest.mark.parametrize("cls", list(ACCEPTED))
def test_whether_a_graph_streams_is_measured(cls):
    from lstm_edge.byo.recognise import architecture_from_dict, recognise
    from lstm_edge.byo.step import why_not_streamable

    shape, ids, *_ = ACCEPTED[cls]
    arch = recognise(net(cls), example(shape, ids))
    want = STREAMS[cls]
    assert (arch.why_not_streaming is None) if want is None else (want in arch.why_not_streaming), arch.why_not_streaming
    again = architecture_from_dict(json.loads(json.dumps(arch.__dict__)))       # as model.json holds it
    assert why_not_streamable(again) == arch.why_not_streaming
    old = {k: v for k, v in arch.__dict__.items() if k != "why_not_streaming"}  # a model.json from before: not streamed
    assert "not measured" in why_not_streamable(architecture_from_dict(old))


def test_the_packed_state_carries_every_layer_as_pytorch_does():
    """TorchStep (graph/step.py) fed chunks with its packed state carried is forward() on the whole sequence,
    and the packed state is each layer's own (h, c) in call order, row by row."""
    from lstm_edge.byo.recognise import recognise
    from lstm_edge.graph.step import TorchStep, state_shapes

    m = net("ResidualStack")
    arch = recognise(m, example((2, 9, 4), False))
    x = torch.randn(3, 11, 4, generator=torch.Generator().manual_seed(3))
    step, ys = TorchStep(m, arch), []
    state = {k: np.zeros(s, np.float32) for k, s in state_shapes(arch, 3).items()}
    assert {k: v.shape for k, v in state.items()} == {"h0": (1, 3, 2 * 12 + 8), "c0": (1, 3, 2 * 12)}
    for t0, t1 in ((0, 1), (1, 5), (5, 11)):
        out = step.run({"x": x[:, t0:t1].numpy()} | state)
        ys.append(out["y"])
        state = {"h0": out["hn"], "c0": out["cn"]}
    with torch.no_grad():
        np.testing.assert_allclose(np.concatenate(ys, axis=1), m(x).numpy(), atol=1e-5)
        z = torch.relu(m.inp(x))
        a, (h, c) = m.lstm(z)
        _, hg = m.gru(m.norm(z + a))

    def rows(s):                                            # (L, B, w) → (B, L·w)
        return s.transpose(0, 1).reshape(3, -1).numpy()

    np.testing.assert_allclose(state["h0"][0], np.concatenate([rows(h), rows(hg)], axis=1), atol=1e-5)
    np.testing.assert_allclose(state["c0"][0], rows(c), atol=1e-5)


REFUSED = [   # class → what the message names
    ("BatchSoftmax", "mixes the rows of a batch"),
    ("Cumulative", "forward() calls torch.cumsum"),
    ("Attention", "layer 'att' (MultiheadAttention) is not supported: attention"),
    ("Branchy", "cannot be traced as one graph (torch.fx)"),
    ("TimeMajor", "layer 'a' (LSTM) is time-major"),
    ("SqueezeAny", "squeeze() without a dim"),
]


@pytest.mark.parametrize("cls, names", REFUSED, ids=[c for c, _ in REFUSED])
def test_refused_by_name_exit_3(cls, names, tmp_path):
    import lstm_edge

    shape = (5, 2, 3) if cls == "TimeMajor" else (2, 5, 3)
    with pytest.raises(InvalidInputError) as e:
        lstm_edge.export(net(cls), np.random.default_rng(0).standard_normal(shape).astype(np.float32), tmp_path / "o")
    assert e.value.exit_code == 3 and names in str(e.value), str(e.value)
    assert not (tmp_path / "o").exists()


MODULES = [   # a leaf module of the table, its input shape
    (nn.Conv1d(3, 5, 3, padding=1), (2, 3, 9)), (nn.Conv1d(3, 5, 4, padding="same", dilation=2), (2, 3, 9)),
    (nn.Conv1d(3, 5, 3, stride=2, bias=False), (2, 3, 9)), (nn.LayerNorm(6), (2, 4, 6)),
    (nn.LayerNorm(6, elementwise_affine=False), (2, 4, 6)), (nn.BatchNorm1d(3), (2, 3, 7)),
    (nn.Linear(6, 2, bias=False), (2, 4, 6)), (nn.Flatten(), (2, 3, 4)), (nn.Softmax(dim=1), (2, 5, 3)),
    (nn.GELU(approximate="tanh"), (2, 3)), (nn.ELU(alpha=0.5), (2, 3)),
]


def test_every_module_row_computes_what_torch_computes():
    from lstm_edge.converters.tensorflow_env import import_tensorflow
    from lstm_edge.graph import table

    tf, _ = import_tensorflow()
    torch.manual_seed(0)
    for m, shape in MODULES:
        if isinstance(m, nn.BatchNorm1d):       # running statistics that are not the identity
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.weight.data.uniform_(0.5, 2)
        m.eval()
        x = torch.randn(shape)
        with torch.no_grad():
            want = m(x).numpy()
        got = table.module_tf(tf, type(m).__name__, m, tf.constant(x.numpy())).numpy()
        assert got.shape == want.shape and np.allclose(got, want, atol=1e-5), (m, np.abs(got - want).max())


def test_every_function_and_method_row_computes_what_torch_computes():
    from lstm_edge.converters.tensorflow_env import import_tensorflow
    from lstm_edge.graph import table

    tf, _ = import_tensorflow()
    x = torch.randn(2, 3, 4)
    cases = [   # (row, torch result, args for the row given the TF tensor)
        ("torch.cat", torch.cat([x, x], dim=-1), lambda t: ([t, t],), {"dim": -1}),
        ("torch.stack", torch.stack([x, x], dim=1), lambda t: ([t, t],), {"dim": 1}),
        ("torch.sum", torch.sum(x, dim=1), lambda t: (t,), {"dim": 1}),
        ("torch.mean", x.mean(dim=(1, 2), keepdim=True), lambda t: (t,), {"dim": (1, 2), "keepdim": True}),
        ("torch.bmm", torch.bmm(x, x.transpose(1, 2)), lambda t: (t, tf.transpose(t, [0, 2, 1])), {}),
        ("torch.transpose", x.transpose(0, 2), lambda t: (t, 0, 2), {}),
        ("torch.flatten", torch.flatten(x, 1), lambda t: (t, 1), {}),
        ("torch.nn.functional.softmax", torch.softmax(x, dim=1), lambda t: (t,), {"dim": 1}),
    ]
    for name, want, args, kwargs in cases:
        got = table.FUNCTIONS[name](tf, *args(tf.constant(x.numpy())), **kwargs).numpy()
        assert np.allclose(got, want.numpy(), atol=1e-6), name
    methods = [
        ("repeat", x[:, :1].repeat(1, 3, 2), (1, 3, 2)), ("expand", x[:, :1].expand(-1, 5, -1), (-1, 5, -1)),
        ("view", x.view(2, -1), (2, -1)), ("permute", x.permute(2, 0, 1), (2, 0, 1)),
        ("unsqueeze", x.unsqueeze(1), (1,)), ("squeeze", x[:, :1].squeeze(1), (1,)),
    ]
    for name, want, args in methods:
        t = tf.constant((x[:, :1] if name in ("repeat", "expand", "squeeze") else x).numpy())
        got = table.METHODS[name](tf, t, *args).numpy()
        assert got.shape == tuple(want.shape) and np.allclose(got, want.numpy()), name
    assert int(table.METHODS["size"](tf, tf.constant(x.numpy()), 1)) == 3


@pytest.mark.slow   # converts with TensorFlow
def test_what_tensorflow_cannot_build_refuses_the_format_by_name(tmp_path):
    import lstm_edge

    report = lstm_edge.export(net("FancyIndex"), np.zeros((2, 5, 3), np.float32), tmp_path / "o")
    assert [a["format"] for a in report["artifacts"]] == ["onnx"]
    (refused,) = report["refused"]
    assert refused["format"] == "tflite" and "Only integers, slices" in refused["reason"]


@pytest.mark.slow   # converts with TensorFlow
@pytest.mark.parametrize("cls", list(ACCEPTED))
def test_exported_with_parity_any_t(cls, tmp_path):
    import lstm_edge
    from lstm_edge.converters.to_tflite import FUSED_OP, tflite_ops, variable_tensors

    shape, ids, native, fused = ACCEPTED[cls]
    formats = ("tflite",) if cls in ("TokensMixed", "ProjectedLast") else ("onnx", "tflite")   # ONNX: no projection
    report = lstm_edge.export(net(cls), example(shape, ids).numpy(), tmp_path / "o", formats=formats)
    got = {a["format"]: a for a in report["artifacts"]}
    assert set(got) == set(formats) and not report["refused"]
    tfl = got["tflite"]
    assert tfl["path_taken"] == "graph" and tfl["fixed_time_steps"] is None and tfl["outputs"] == ["y"]
    assert {"B=1 T=1000", "B=7 T=2"} <= set(tfl["parity_cases"])
    assert all(v <= 1e-5 for a in got.values() for v in a["max_abs_vs_pytorch"].values()), got
    path = tmp_path / "o" / "model.tflite"
    fused = FUSED_AFTER_CONVERSION.get(cls, fused)
    assert [r["fused"] for r in report["architecture"]["recurrent"]] == fused
    assert tflite_ops(path).count(FUSED_OP) == sum(r["num_layers"] for r, f in zip(
        report["architecture"]["recurrent"], fused) if f) and variable_tensors(path) == []
    assert ("UNIDIRECTIONAL_SEQUENCE_LSTM" in tfl["why"]) == any(fused)
    assert not any(o.startswith("Flex") or o == "CUSTOM" for o in tflite_ops(path))
    if "onnx" in got:
        import onnx

        ops = [n.op_type for n in onnx.load(str(tmp_path / "o" / "model.onnx")).graph.node]
        assert {k: ops.count(k) for k in native} == native and "Loop" not in ops and "Scan" not in ops


@pytest.mark.slow   # converts with TensorFlow
@pytest.mark.parametrize("cls", [c for c, why in STREAMS.items() if why is None])
def test_the_step_artefact_of_a_graph_streams(cls, tmp_path):
    """Builtin ops (no loop, no fused kernel), checked where it is made; 2000 steps through a Stream equal
    forward() on the whole sequence; as a whole-sequence runner it takes x alone and starts from zero, like
    its parent."""
    from lstm_edge.byo.recognise import recognise
    from lstm_edge.byo.step import export_step
    from lstm_edge.converters.to_tflite import FUSED_OP, tflite_ops
    from lstm_edge.runtime.runner import open_runner, open_sequence_runner
    from lstm_edge.runtime.stream import Stream

    shape, ids, *_ = ACCEPTED[cls]
    m = net(cls)
    arch = recognise(m, example(shape, ids))
    path = tmp_path / "tflite-step-fp32.tflite"
    info = export_step(m, arch, shape, 0, path, lambda _: None)
    assert max(info["max_abs_vs_pytorch"].values()) < 1e-5 and info["sequence_inputs"] == ["x"]
    ops = tflite_ops(path)
    assert not {"WHILE", FUSED_OP} & set(ops) and not any(o.startswith("Flex") or o == "CUSTOM" for o in ops)
    x = example((1, 2000, *shape[2:]), ids)
    stream = Stream(open_runner(path))
    y = stream.step(x.numpy())
    with torch.no_grad():
        want = m(x).numpy()
    y = y[:, -1] if stream.answers_once else y               # a last-step head answers once per sequence
    np.testing.assert_allclose(y, want, atol=2e-5)
    seq = open_sequence_runner(path)
    assert seq.input_names == ("x",) and seq.output_names == ("y",)
    with torch.no_grad():
        np.testing.assert_allclose(seq.run({"x": x[:, :50].numpy()})["y"], m(x[:, :50]).numpy(), atol=1e-5)
