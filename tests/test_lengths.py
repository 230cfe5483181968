"""Issue 15, point 5: variable-length batches. A module whose forward(x, lengths) packs is exported with the
lengths: ONNX carries them as sequence_lens on every recurrent op and is checked on padded batches of mixed
lengths (outputs past each length, and hn/cn at each row's last valid step, as PyTorch gives them); TFLite,
whose fused kernel has no lengths input, says "one length per call" and is checked at full lengths; lstm-edge's
runners check the lengths (int64, one per row, 1 … T); the project chain refuses such a module by name."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_edge.errors import ConversionError, InvalidInputError


class PackedForecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 6, num_layers=2, batch_first=True)
        self.fc = nn.Linear(6, 1)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return self.fc(out)


class LastValid(nn.Module):
    """A GRU classifier reading h_n: each row's state at its own last valid step."""

    def __init__(self):
        super().__init__()
        self.gru, self.fc = nn.GRU(3, 5, batch_first=True), nn.Linear(5, 2)

    def forward(self, x, seq_lens=None):
        if seq_lens is None:
            seq_lens = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)
        _, h = self.gru(pack_padded_sequence(x, seq_lens, batch_first=True, enforce_sorted=False))
        return self.fc(h[-1])


def net(cls):
    torch.manual_seed(0)
    return cls().eval()


@pytest.mark.parametrize("cls", [PackedForecaster, LastValid])
def test_recognised_with_a_lengths_input(cls):
    from lstm_edge.byo.recognise import recognise
    from lstm_edge.byo.wrap import module_feeds, names

    arch = recognise(net(cls), torch.randn(2, 7, 3))
    assert arch.form == "single" and arch.lengths and names(arch)[0][:2] == ("x", "lengths")
    f = module_feeds(arch, (2, 7, 3), None, 7, 50, 0)
    assert f["lengths"].dtype == np.int64 and f["lengths"][0] == 50 and len(set(f["lengths"])) > 1
    assert f["lengths"].min() >= 1 and f["lengths"].max() <= 50


@pytest.mark.parametrize("cls", [PackedForecaster, LastValid])
def test_onnx_takes_the_lengths_and_matches_pytorch_on_padded_batches(cls, tmp_path):
    import lstm_edge
    from lstm_edge.runtime import open_runner

    report = lstm_edge.export(net(cls), np.zeros((2, 7, 3), np.float32), tmp_path / "o", formats=("onnx",))
    onnx_info = report["artifacts"][0]
    assert onnx_info["inputs"][:2] == ["x", "lengths"] and "sequence_lens" in onnx_info["lengths"]
    assert max(onnx_info["max_abs_vs_pytorch"].values()) < 1e-5
    runner = open_runner(tmp_path / "o" / "model.onnx")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 12, 3)).astype(np.float32)
    lengths = np.array([12, 3, 7, 1], np.int64)
    L = 2 if cls is PackedForecaster else 1
    state = {"h0": np.zeros((L, 4, runner.expected["h0"][2]), np.float32)}
    state |= {"c0": np.zeros((L, 4, 6), np.float32)} if "c0" in runner.input_names else {}
    got = runner.run({"x": x, "lengths": lengths} | state)
    with torch.no_grad():
        want = net(cls)(torch.from_numpy(x), torch.from_numpy(lengths))
    assert np.allclose(got["y"], want.numpy(), atol=1e-5)
    full = runner.run({"x": x, "lengths": np.full(4, 12, np.int64)} | state)
    assert not np.allclose(full["y"][1:], got["y"][1:], atol=1e-3)          # the lengths change the answer
    for bad, says in ((np.array([12, 0, 7, 1]), "outside 1 … 12"), (np.array([12, 3, 7]), "expected (4,)"),
                      (lengths.astype(np.float32), "expected int64")):
        with pytest.raises(InvalidInputError, match=re.escape(says)):
            runner.run({"x": x, "lengths": bad} | state)


def test_an_onnx_graph_without_sequence_lens_is_refused(tmp_path):
    import lstm_edge
    import onnx

    from lstm_edge.byo.recognise import recognise
    from lstm_edge.byo.to_onnx import check_graph

    model = net(PackedForecaster)
    lstm_edge.export(model, np.zeros((2, 7, 3), np.float32), tmp_path / "o", formats=("onnx",))
    proto = onnx.load(str(tmp_path / "o" / "model.onnx"))
    for n in proto.graph.node:
        if n.op_type == "LSTM":
            n.input[4] = ""                      # the lengths dropped: every row would run all T steps
    onnx.save(proto, str(tmp_path / "bad.onnx"))
    with pytest.raises(ConversionError, match="has no sequence_lens"):
        check_graph(tmp_path / "bad.onnx", recognise(model, torch.zeros(2, 7, 3)))


def test_lengths_for_a_module_that_takes_none_are_named(tmp_path):
    """An evaluation npz with 'lengths' for a forward(x) module: they would be ignored without a word."""
    from safetensors.torch import save_file
    from typer.testing import CliRunner

    from lstm_edge.cli import app

    (tmp_path / "net.py").write_text("from torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
                                     "        super().__init__()\n        self.rnn, self.fc = nn.GRU(3, 4, batch_first=True), "
                                     "nn.Linear(4, 1)\n\n    def forward(self, x):\n        return self.fc(self.rnn(x)[0])\n")
    torch.manual_seed(0)
    rnn, fc = nn.GRU(3, 4, batch_first=True), nn.Linear(4, 1)
    save_file({**{f"rnn.{k}": v for k, v in rnn.state_dict().items()}, **{f"fc.{k}": v for k, v in fc.state_dict().items()}},
              str(tmp_path / "w.safetensors"))
    np.savez(tmp_path / "eval.npz", x=np.ones((4, 7, 3), np.float32), y=np.ones((4, 7, 1), np.float32),
             lengths=np.array([7, 3, 2, 7]))
    (tmp_path / "p.toml").write_text(
        'name = "p"\n[module]\npath = "net.py:Net"\nweights = "w.safetensors"\nexample_shape = [2, 7, 3]\n'
        '[data]\nevaluation = "eval.npz"\n[metric]\nname = "mae"\n'
        '[[tolerance]]\nparent = "pytorch"\nchild = "onnx-fp32"\natol = 1e-5\nrtol = 1e-5\n')
    r = CliRunner().invoke(app, ["pipeline", "--project", str(tmp_path / "p.toml"), "--out", str(tmp_path / "out")])
    assert r.exit_code == 3 and "has 'lengths', but" in " ".join(r.output.split()), r.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow   # converts with TensorFlow
def test_tflite_is_one_length_per_call(tmp_path):
    import lstm_edge

    report = lstm_edge.export(net(LastValid), np.zeros((2, 7, 3), np.float32), tmp_path / "o")
    got = {a["format"]: a for a in report["artifacts"]}
    tfl = json.loads((tmp_path / "o" / "model.tflite.json").read_text())
    assert tfl["lengths"].startswith("one length per call") and "lengths" not in tfl["inputs"]
    assert all(c.endswith("all rows T") for c in got["tflite"]["parity_cases"])
    assert max(got["tflite"]["max_abs_vs_pytorch"].values()) < 1e-5


USER_FORECASTER = """
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class PackedForecaster(nn.Module):
    \"\"\"Next value at every step of a padded batch; lengths say where each series ends.\"\"\"

    def __init__(self, hidden=16):
        super().__init__()
        self.lstm = nn.LSTM(2, hidden, num_layers=2, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        y, _ = self.lstm(packed)
        y, _ = pad_packed_sequence(y, batch_first=True, total_length=x.size(1))
        return self.out(y)
"""
USER_METRIC = """
import numpy as np


def masked_mae(y_pred, y_true):
    \"\"\"MAE over the valid steps: the padding is 0 in y_true (the series never reaches 0).\"\"\"
    valid = y_true != 0
    return float(np.abs(y_pred[valid] - y_true[valid]).mean())
"""


def _series(n: int, seed: int, T: int = 40):
    rng = np.random.default_rng(seed)
    t = np.arange(T + 1)[None, :] + rng.uniform(0, 100, (n, 1))
    level = np.sin(2 * np.pi * t / 16) + 0.4 * np.sin(2 * np.pi * t / 5) + 2.0 + 0.05 * rng.standard_normal((n, T + 1))
    x = np.stack([level[:, :-1], np.cos(2 * np.pi * t[:, :-1] / 16)], -1).astype(np.float32)
    y = level[:, 1:, None].astype(np.float32)
    lengths = rng.integers(T // 4, T + 1, n).astype(np.int64)
    lengths[0] = T
    for k, n_k in enumerate(lengths):                   # padded past each series' end, as users pad
        x[k, n_k:], y[k, n_k:] = 0.0, 0.0
    return x, y, lengths


@pytest.mark.slow   # trains, converts, and verifies the bundle in a fresh base venv
def test_a_users_packed_forecaster_the_whole_way(tmp_path, base_venv):
    """Issue 15's third test model: forward(x, lengths) packing variable-length series, the user's metric from
    a file, through init → pipeline --project (ONNX stages with the lengths; TFLite refused by name) → a bundle
    that verifies in the base install."""
    import importlib.util

    from safetensors.torch import save_file
    from typer.testing import CliRunner

    from lstm_edge.cli import app

    (tmp_path / "net.py").write_text(USER_FORECASTER)
    (tmp_path / "metric.py").write_text(USER_METRIC)
    spec = importlib.util.spec_from_file_location("users_packed", tmp_path / "net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    model = module.PackedForecaster()
    x, y, lengths = _series(512, 0)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(6):
        for k in range(0, len(x), 64):
            xb, yb, lb = (torch.from_numpy(a[k:k + 64]) for a in (x, y, lengths))
            mask = (torch.arange(x.shape[1])[None, :] < lb[:, None]).float()[..., None]
            opt.zero_grad()
            ((model(xb, lb) - yb).abs() * mask).sum().div(mask.sum()).backward()
            opt.step()
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    xe, ye, le = _series(128, 1)
    np.savez(tmp_path / "eval.npz", x=xe, y=ye, lengths=le)
    r = CliRunner().invoke(app, ["init", "--module", f"{tmp_path / 'net.py'}:PackedForecaster", "--weights",
                                 str(tmp_path / "w.safetensors"), "--example-shape", "2,40,2", "--evaluation",
                                 str(tmp_path / "eval.npz"), "--metric-function", f"{tmp_path / 'metric.py'}:masked_mae",
                                 "--lower-is-better", "--out", str(tmp_path / "p.toml")])
    assert r.exit_code == 0, r.output
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["pipeline", "--project", str(tmp_path / "p.toml"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    stages = {s["name"]: s for s in report["stages"]}
    assert stages["pytorch"]["metrics"]["metric"] == "masked_mae" and stages["pytorch"]["metrics"]["beats_baseline"]
    assert stages["onnx-fp32"]["passed"] and stages["onnx-fp32"]["outputs"]["y"]["max_abs"] < 1e-5
    assert "tflite-fp32" not in stages and not report["streaming"]
    model_json = json.loads((out / "model.json").read_text())
    assert any(r["format"] == "tflite" and "one length per call" in r["reason"] for r in model_json["refused_formats"])
    assert "sequence_lens" in json.loads((out / "onnx-fp32.onnx.json").read_text())["lengths"]
    golden = np.load(out / "bundle" / "golden.npz")
    assert "windows.lengths" in golden and len(set(golden["windows.lengths"].tolist())) > 1
    device = base_venv.python("-m", "lstm_edge.runtime", "verify", out / "bundle", ok=False)
    assert device.returncode == 0 and "skipped" not in device.stdout, device.stdout + device.stderr
    r = CliRunner().invoke(app, ["bench", str(out), "--rounds", "1"])      # every peer fed full-length rows
    assert r.exit_code == 0 and (out / "bench.json").is_file(), r.output

    # lengths of another dtype are named, not cast
    np.savez(tmp_path / "eval2.npz", x=xe, y=ye, lengths=le.astype(np.int32))
    (tmp_path / "p2.toml").write_text((tmp_path / "p.toml").read_text().replace("eval.npz", "eval2.npz"))
    r = CliRunner().invoke(app, ["pipeline", "--project", str(tmp_path / "p2.toml"), "--out", str(tmp_path / "o2")])
    assert r.exit_code == 3 and "'lengths' must be int64" in " ".join(r.output.split()), r.output
