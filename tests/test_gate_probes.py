"""Gate-order probes: every converter keeps PyTorch's gate order, and a permutation — injected as a
buggy converter would write it — is named, not reported as a vague mismatch."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from lstm_edge.cli import app
from lstm_edge.exporting.gate_probe import GRU_GATES, describe, diagnose, permute_gates, probe_converters


@pytest.mark.slow   # all three converters, TFLite ones with TensorFlow
def test_every_converter_keeps_the_gate_order(tmp_path):
    r = CliRunner().invoke(app, ["probe-gates", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert r.output.count("gate order correct") == 3
    assert (tmp_path / "gate_probes.json").exists()


@pytest.mark.slow   # all three converters, TFLite ones with TensorFlow
def test_injected_permutations_are_named(tmp_path):
    rows = {r["converter"]: r for r in probe_converters(tmp_path, inject={
        "tflite-fp32": (0, 3, 2, 1), "onnx-fp32": (2, 1, 0, 3), "tflite-step-fp32": (1, 3, 2, 0)})}
    assert rows["tflite-fp32"]["finding"] == "forget and output gates swapped in tflite-fp32 export"
    assert rows["onnx-fp32"]["finding"] == "input and cell gates swapped in onnx-fp32 export"
    assert rows["tflite-step-fp32"]["finding"].startswith("gates rotated: input → forget → output → input")
    assert not any(r["passed"] for r in rows.values())
    assert all(r["min_separation"] > 100 * r["error"] for r in rows.values())   # unambiguous


def test_describe_names_cycles():
    assert describe((0, 1, 2, 3), ("a", "b", "c", "d")) == "gate order correct"
    assert describe((1, 0, 2), GRU_GATES) == "reset and update gates swapped"
    assert describe((1, 2, 0), GRU_GATES) == "gates rotated: reset → update → new → reset"


class GRUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(3, 8, num_layers=2, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


def gru_signature(net: GRUNet) -> None:
    """Distinct biases per GRU gate (reset +1, update −1, new 0) on top of random blocks."""
    with torch.no_grad():
        for k in range(2):
            getattr(net.rnn, f"bias_ih_l{k}").copy_(torch.tensor([1.0] * 8 + [-1.0] * 8 + [0.0] * 8))


@pytest.mark.slow   # three BYO exports with parity over the grid: ~3 s each
@pytest.mark.parametrize("perm, finding", [((0, 1, 2), "gate order correct"),
                                           ((1, 0, 2), "reset and update gates swapped"),
                                           ((2, 1, 0), "reset and new gates swapped")])
def test_gru_gate_probe_through_onnx(perm, finding, tmp_path):
    """GRU (r, z, n) through the BYO ONNX exporter; a permuted export is named."""
    import onnxruntime as ort

    import lstm_edge
    from lstm_edge.byo.inspect import inspect
    from lstm_edge.byo.wrap import Stateful

    torch.manual_seed(0)
    net = GRUNet()
    gru_signature(net)
    true = {k: v.numpy().copy() for k, v in net.state_dict().items()}
    exported = GRUNet()
    exported.load_state_dict({k: torch.from_numpy(v) for k, v in permute_gates(true, perm, "rnn.").items()})
    x = np.random.default_rng(0).standard_normal((2, 6, 3)).astype(np.float32)
    lstm_edge.export(exported, x, tmp_path, formats=("onnx",))
    rng = np.random.default_rng(1)
    feeds = {"x": x, "h0": rng.uniform(-0.9, 0.9, (2, 2, 8)).astype(np.float32)}
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    outputs = dict(zip(("y", "hn"), session.run(None, feeds)))
    arch = inspect(net, torch.from_numpy(x))

    def reference(tensors, f):
        m = GRUNet()
        m.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
        with torch.no_grad():
            y, hn = Stateful(m, arch)(torch.from_numpy(f["x"]), torch.from_numpy(f["h0"]))
        return {"y": y.numpy().astype(np.float64), "hn": hn.numpy().astype(np.float64)}

    d = diagnose(outputs, reference, true, feeds, gates=GRU_GATES, prefix="rnn.")
    assert d["finding"] == finding and d["passed"] == (perm == (0, 1, 2))


def test_a_bug_that_is_no_permutation_is_said_so(tmp_path):
    from lstm_edge.exporting.gate_probe import PROBE_DIMS, probe_feeds, probe_tensors, torch_reference

    tensors, feeds = probe_tensors(PROBE_DIMS), probe_feeds(PROBE_DIMS)
    broken = dict(tensors, **{"lstm.bias_hh_l1": tensors["lstm.bias_hh_l1"] + 0.3})
    d = diagnose(torch_reference(broken, feeds), torch_reference, tensors, feeds)
    assert not d["passed"] and d["finding"].startswith("matches no gate permutation")
