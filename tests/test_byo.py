"""Bring your own model: every supported variant through ONNX and TFLite on tiny random weights,
parity over the grid (checked inside export_module, which raises on any miss), the path taken,
GRU's linear_before_reset, refusals naming the layer, and the CLI with a user's file."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from lstm_edge.cli import app
from lstm_edge.errors import ConversionError, InvalidInputError

runner = CliRunner()


class Net(nn.Module):
    """Input layer → one recurrent module → Linear head on every step / the last step / the mean."""

    def __init__(self, kind="LSTM", batch_first=True, bidirectional=False, proj=0, embedding=False, head="step",
                 layers=2, activation=False):
        super().__init__()
        self.inp = nn.Embedding(11, 5) if embedding else nn.Linear(3, 5)
        self.act = nn.Tanh() if activation else None
        kw = dict(num_layers=layers, batch_first=batch_first, bidirectional=bidirectional)
        if kind == "LSTM":
            kw |= dict(proj_size=proj, dropout=0.25 if layers > 1 else 0.0)
        self.rnn = getattr(nn, kind)(5, 6, **kw)
        self.head = nn.Linear((proj or 6) * (2 if bidirectional else 1), 2)
        self.head_kind, self.batch_first = head, batch_first

    def forward(self, x):
        z = self.inp(x)
        if self.act is not None:
            z = self.act(z)
        seq, _ = self.rnn(z)
        if not self.batch_first:
            seq = seq.transpose(0, 1)
        if self.head_kind == "last":
            seq = seq[:, -1]
        elif self.head_kind == "mean":
            seq = seq.mean(dim=1)
        return self.head(seq)


VARIANTS = {   # name: (constructor kwargs, TFLite path expected)
    "lstm-stacked-step": ({}, "fused"),
    "lstm-time-major-last": ({"batch_first": False, "head": "last"}, "fused"),
    "lstm-embedding-mean": ({"embedding": True, "head": "mean", "activation": True}, "fused"),
    "lstm-one-layer": ({"layers": 1, "head": "last"}, "fused"),
    "lstm-bidirectional": ({"bidirectional": True}, "general"),
    "lstm-proj": ({"proj": 4, "head": "last"}, "general"),
    "gru-stacked": ({"kind": "GRU"}, "general"),
    "gru-bidirectional-time-major": ({"kind": "GRU", "bidirectional": True, "batch_first": False, "head": "mean"}, "general"),
}


def example_for(kw: dict, rng):
    shape = (2, 7) if kw.get("embedding") else (2, 7, 3)
    if not kw.get("batch_first", True):
        shape = (shape[1], shape[0], *shape[2:])
    return rng.integers(0, 11, shape) if kw.get("embedding") else rng.standard_normal(shape).astype(np.float32)


@pytest.mark.slow   # TFLite: converts with TensorFlow
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_exports_with_parity(name, tmp_path):
    import lstm_edge

    kw, path = VARIANTS[name]
    torch.manual_seed(0)
    report = lstm_edge.export(Net(**kw), example_for(kw, np.random.default_rng(0)), tmp_path)
    got = {a["format"]: a for a in report["artifacts"]}
    assert got["tflite"]["path_taken"] == path
    if kw.get("proj"):   # ONNX's LSTM has no projection: refused, naming the layer and why
        assert "onnx" not in got and "layer 'rnn' (LSTM): ONNX's LSTM op has no projection" in report["refused"][0]["reason"]
    else:
        assert not report["refused"] and len(got["onnx"]["parity_cases"]) == 15
        assert max(got["onnx"]["max_abs_vs_pytorch"].values()) <= 1e-5
    t = got["tflite"]
    assert t["parity_cases"] and max(t["max_abs_vs_pytorch"].values()) <= 1e-5
    assert not [o for o in t["ops"] if o.startswith("Flex") or o == "WHILE"]
    if path == "fused":
        assert t["ops"]["UNIDIRECTIONAL_SEQUENCE_LSTM"] == kw.get("layers", 2) and len(t["parity_cases"]) == 15
    else:   # unrolled at the example's T, checked there for every B
        assert t["fixed_time_steps"] == 7 and all(c.endswith(" T=7") for c in t["parity_cases"])
    D = 2 if kw.get("bidirectional") else 1
    assert report["architecture"]["state_layout"].startswith(f"h0, hn ({kw.get('layers', 2) * D}, B, {kw.get('proj') or 6})")


@pytest.mark.slow   # a BYO export with parity over the whole grid (~2-5 s)
def test_gru_linear_before_reset_is_checked(tmp_path):
    """PyTorch's GRU is ONNX linear_before_reset=1; a graph with 0 computes another function: refused."""
    import onnx

    import lstm_edge
    from lstm_edge.byo.inspect import inspect
    from lstm_edge.byo.to_onnx import check_graph

    torch.manual_seed(0)
    net, x = Net(kind="GRU"), np.random.default_rng(0).standard_normal((2, 7, 3)).astype(np.float32)
    lstm_edge.export(net, x, tmp_path, formats=("onnx",))
    proto = onnx.load(str(tmp_path / "model.onnx"))
    grus = [n for n in proto.graph.node if n.op_type == "GRU"]
    assert len(grus) == 2 and all(a.i == 1 for n in grus for a in n.attribute if a.name == "linear_before_reset")
    for a in grus[1].attribute:
        if a.name == "linear_before_reset":
            a.i = 0
    onnx.save(proto, str(tmp_path / "bad.onnx"))
    with pytest.raises(ConversionError, match="linear_before_reset=0"):
        check_graph(tmp_path / "bad.onnx", inspect(net, torch.from_numpy(x)))


class Vanilla(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(3, 4, batch_first=True)

    def forward(self, x):
        return self.rnn(x)[0]


@pytest.mark.parametrize("cls, message", [
    (Vanilla, "layer 'rnn' (RNN) is not supported: nn.RNN"),
])
def test_unsupported_architecture_names_the_layer(cls, message, tmp_path):
    import lstm_edge

    with pytest.raises(InvalidInputError, match=None) as e:
        lstm_edge.export(cls(), np.zeros((2, 5, 3), np.float32), tmp_path)
    assert e.value.exit_code == 3 and message in str(e.value), str(e.value)


USER_FILE = '''
import torch
from torch import nn

class Forecaster(nn.Module):
    def __init__(self, hidden=6):
        super().__init__()
        self.lstm = nn.LSTM(4, hidden, num_layers=2, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.out(self.lstm(x)[0][:, -1])
'''


@pytest.mark.slow   # ONNX and TFLite (TensorFlow)
def test_cli_exports_a_users_file(tmp_path):
    from safetensors.torch import save_file

    (tmp_path / "net.py").write_text(USER_FILE)
    import importlib.util

    spec = importlib.util.spec_from_file_location("user_net", tmp_path / "net.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(0)
    save_file(mod.Forecaster(hidden=6).state_dict(), str(tmp_path / "net.safetensors"))
    args = ["export", str(tmp_path / "out"), "--module", f"{tmp_path / 'net.py'}:Forecaster", "--weights",
            str(tmp_path / "net.safetensors"), "--example-shape", "2,30,4", "--init-args", '{"hidden": 6}']
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "fused path" in r.output and "native path" in r.output and "(2, B, 6)" in r.output
    assert (tmp_path / "out" / "model.onnx").exists() and (tmp_path / "out" / "model.tflite").exists()
    # wrong weights: named; a pickle: refused unopened (exit 4)
    save_file({"lstm.weight_ih_l0": torch.zeros(3, 3)}, str(tmp_path / "bad.safetensors"))
    r = runner.invoke(app, args[:5] + [str(tmp_path / "bad.safetensors")] + args[6:])
    assert r.exit_code == 3 and "missing" in r.output and "wrong shape lstm.weight_ih_l0" in r.output
    (tmp_path / "net.pt").write_bytes(pickle.dumps({"a": 1}))
    r = runner.invoke(app, args[:5] + [str(tmp_path / "net.pt")] + args[6:])
    assert r.exit_code == 4 and "never unpickles" in r.output
    r = runner.invoke(app, args[:3] + ["nofile.py:Net"] + args[4:])
    assert r.exit_code == 3 and "does not exist" in r.output


def test_the_python_api_is_not_shadowed_by_a_module():
    """`lstm_edge.export` stays the function after every module of the package is imported."""
    import importlib
    import pkgutil

    import lstm_edge

    for m in pkgutil.walk_packages(lstm_edge.__path__, "lstm_edge."):
        if not m.name.startswith(("lstm_edge.runtime.__main__",)):
            importlib.import_module(m.name)
    assert callable(lstm_edge.export) and lstm_edge.export.__module__ == "lstm_edge"


# ---------------------------------------------------------------------------------------------
# lstm_edge.byo: which architecture a user's module is, read without converting it

@pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")   # torch: oneDNN has no proj_size
def test_inspect_reads_a_users_architecture_without_converting():
    import torch
    from torch import nn

    from lstm_edge.byo.inspect import inspect

    class TimeMajor(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(11, 5)
            self.act = nn.Tanh()
            self.rnn = nn.LSTM(5, 6, num_layers=2, proj_size=4)          # time-major, projected
            self.head = nn.Linear(4, 3)

        def forward(self, x):
            return self.head(self.rnn(self.act(self.emb(x)))[0].mean(dim=0))

    class LastStepGRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 7, batch_first=True, bidirectional=True)
            self.out = nn.Linear(14, 1)

        def forward(self, x):
            return self.out(self.gru(x)[0][:, -1])

    torch.manual_seed(0)
    a = inspect(TimeMajor().eval(), torch.randint(0, 11, (9, 2)))
    assert (a.kind, a.num_layers, a.hidden_size, a.proj_size, a.batch_first) == ("LSTM", 2, 6, 4, False)
    assert (a.input_kind, a.activations, a.head, a.head_kind) == ("embedding", ["Tanh"], "head", "mean")
    assert a.state_layout == "h0, hn (2, B, 4); c0, cn (2, B, 6) = (L·D, B, H)"
    g = inspect(LastStepGRU().eval(), torch.randn(2, 5, 3))
    assert (g.kind, g.directions, g.head_kind, g.input_kind) == ("GRU", 2, "last", None)
    assert g.describe() == "raw input, 1-layer bidirectional GRU H=7 batch_first=True, last head"

    class Cell(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.LSTMCell(3, 4)

        def forward(self, x):
            return self.cell(x[:, 0])[0]

    with pytest.raises(InvalidInputError, match="layer 'cell' \\(LSTMCell\\) is not supported"):
        inspect(Cell(), torch.randn(2, 5, 3))
