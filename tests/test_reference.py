"""The NumPy reference against PyTorch, and against the seed's equations written out by hand."""
import numpy as np
import pytest
import torch

from lstm_edge.model.network import SequenceLSTM, TorchRunner
from lstm_edge.model.reference import ReferenceLSTM, ReferenceRunner, sigmoid


def make(seed=0, F=3, H=5, L=2, O=2):
    torch.manual_seed(seed)
    model = SequenceLSTM(F, H, L, O).eval()
    tensors = {k: v.numpy() for k, v in model.state_dict().items()}
    return model, ReferenceLSTM.from_state_dict(tensors, L)


@pytest.mark.parametrize("B,T", [(1, 1), (2, 7), (4, 200)])
def test_reference_matches_pytorch(B, T):
    model, ref = make()
    rng = np.random.default_rng(B * T)
    feeds = {"x": rng.standard_normal((B, T, 3)).astype(np.float32),
             "h0": rng.uniform(-1, 1, (2, B, 5)).astype(np.float32),
             "c0": rng.standard_normal((2, B, 5)).astype(np.float32)}
    want, got = TorchRunner(model).run(feeds), ReferenceRunner(ref).run(feeds)
    for k in ("y", "hn", "cn"):
        np.testing.assert_allclose(got[k], want[k], atol=1e-5, rtol=1e-5)


def test_one_step_is_the_seed_equations():
    """One step of one layer, every equation spelled out with PyTorch's raw tensors."""
    model, ref = make(L=1)
    sd = {k: v.double().numpy() for k, v in model.state_dict().items()}
    x, h, c = np.array([[0.3, -1.2, 0.5]]), np.array([[0.1, -0.2, 0.3, 0.0, 0.5]]), np.ones((1, 5))
    z = x @ sd["lstm.weight_ih_l0"].T + sd["lstm.bias_ih_l0"] + h @ sd["lstm.weight_hh_l0"].T + sd["lstm.bias_hh_l0"]
    i, f, g, o = np.split(z, 4, axis=1)            # PyTorch's documented row order
    c1 = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    h1 = sigmoid(o) * np.tanh(c1)
    out = ref(x[:, None], h[None], c[None])
    np.testing.assert_allclose(out["cn"][0], c1, rtol=1e-12)
    np.testing.assert_allclose(out["hn"][0], h1, rtol=1e-12)


def test_forget_gate_closed_erases_the_cell():
    """With the forget bias at −∞-ish and input gate shut, the conveyor belt is emptied."""
    model, ref = make(L=1)
    layer = ref.layers[0]
    layer.b["forget"][:] = -50.0
    layer.b["input"][:] = -50.0
    out = ref(np.zeros((1, 1, 3)), np.zeros((1, 1, 5)), np.full((1, 1, 5), 3.0))
    np.testing.assert_allclose(out["cn"], 0.0, atol=1e-12)
