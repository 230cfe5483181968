"""Gate order mappings, both ways, and against the weights real exporters wrote."""
import numpy as np
import pytest

from lstm_edge.model import gates

H, F = 3, 2


def torch_layer(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((4 * H, F)), rng.standard_normal((4 * H, H)),
            rng.standard_normal(4 * H), rng.standard_normal(4 * H))


def marked(framework):
    """Rows filled with the index of their gate in canonical order: a permutation is visible."""
    return gates.stack_gates({g: np.full((H, 1), k) for k, g in enumerate(gates.GATES)}, framework)


@pytest.mark.parametrize("src,dst", [("pytorch", "onnx"), ("onnx", "keras"), ("keras", "pytorch"), ("pytorch", "step"),
                                     ("step", "onnx")])
def test_reorder_moves_each_gate_to_its_named_place(src, dst):
    np.testing.assert_array_equal(gates.reorder(marked(src), src, dst), marked(dst))


def test_onnx_round_trip():
    layer = torch_layer()
    back = gates.onnx_to_torch(*gates.torch_to_onnx(*layer))
    for a, b in zip(layer, back):
        np.testing.assert_array_equal(a, b)


def test_onnx_order_is_i_o_f_c():
    w_ih, w_hh, b_ih, b_hh = torch_layer()
    W, R, B = gates.torch_to_onnx(w_ih, w_hh, b_ih, b_hh)
    np.testing.assert_array_equal(W[0, H:2 * H], w_ih[3 * H:])        # ONNX o = PyTorch o (rows 3H:4H)
    np.testing.assert_array_equal(W[0, 2 * H:3 * H], w_ih[H:2 * H])   # ONNX f = PyTorch f
    np.testing.assert_array_equal(B[0, 4 * H:], gates.reorder(b_hh, "pytorch", "onnx"))


def test_keras_round_trip_keeps_the_summed_bias():
    w_ih, w_hh, b_ih, b_hh = torch_layer()
    k, r, b = gates.torch_to_keras(w_ih, w_hh, b_ih, b_hh)
    assert k.shape == (F, 4 * H) and r.shape == (H, 4 * H) and b.shape == (4 * H,)
    w_ih2, w_hh2, b_ih2, b_hh2 = gates.keras_to_torch(k, r, b)
    np.testing.assert_array_equal(w_ih2, w_ih)
    np.testing.assert_array_equal(w_hh2, w_hh)
    np.testing.assert_allclose(b_ih2 + b_hh2, b_ih + b_hh)


def test_step_cell_weights_act_on_x_then_h_with_gates_i_f_o_c():
    w_ih, w_hh, b_ih, b_hh = torch_layer()
    W, b = gates.torch_to_step(w_ih, w_hh, b_ih, b_hh)
    assert W.shape == (F + H, 4 * H) and b.shape == (4 * H,)
    np.testing.assert_array_equal(W[:F, 2 * H:3 * H], w_ih[3 * H:].T)    # step column block 2 = output gate
    np.testing.assert_array_equal(W[F:, 3 * H:], w_hh[2 * H:3 * H].T)    # block 3 = cell candidate, on h
    np.testing.assert_allclose(b[H:2 * H], b_ih[H:2 * H] + b_hh[H:2 * H])


def test_seed_weights_act_on_h_then_x():
    w_ih, w_hh, b_ih, b_hh = torch_layer()
    W, b = gates.torch_to_per_gate(w_ih, w_hh, b_ih, b_hh)
    np.testing.assert_array_equal(W["forget"][:, :H], w_hh[H:2 * H])   # [h_{t-1}, x_t]: h first
    np.testing.assert_array_equal(W["forget"][:, H:], w_ih[H:2 * H])
    np.testing.assert_allclose(b["cell"], b_ih[2 * H:3 * H] + b_hh[2 * H:3 * H])


def test_exported_onnx_weights_map_back_to_pytorch(tiny_run):
    """The exporter's own W, R, B, read back through our mapping, equal the checkpoint."""
    from lstm_edge.train.checkpoint import load_checkpoint
    from lstm_edge.converters.to_onnx import onnx_lstm_weights

    out, _ = tiny_run
    tensors, meta = load_checkpoint(out)
    layers = onnx_lstm_weights(out / "onnx-fp32.onnx")
    assert len(layers) == meta["dims"]["num_layers"]
    for k, (W, R, B) in enumerate(layers):
        w_ih, w_hh, b_ih, b_hh = gates.onnx_to_torch(W, R, B)
        np.testing.assert_array_equal(w_ih, tensors[f"lstm.weight_ih_l{k}"])
        np.testing.assert_array_equal(w_hh, tensors[f"lstm.weight_hh_l{k}"])
        np.testing.assert_array_equal(b_ih, tensors[f"lstm.bias_ih_l{k}"])
        np.testing.assert_array_equal(b_hh, tensors[f"lstm.bias_hh_l{k}"])
