"""The golden model: the LSTM equations in NumPy, gate by gate.

For each step t, with [h_{t-1}, x_t] the concatenation, σ the sigmoid, ⊙ element-wise product:

    f_t = σ(W_f·[h_{t-1}, x_t] + b_f)        forget gate
    i_t = σ(W_i·[h_{t-1}, x_t] + b_i)        input gate
    c̃_t = tanh(W_c·[h_{t-1}, x_t] + b_c)     candidate values
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ c̃_t           the cell state
    o_t = σ(W_o·[h_{t-1}, x_t] + b_o)        output gate
    h_t = o_t ⊙ tanh(c_t)

One line per equation, variables named after the symbols (as the ONNX reference LSTM reads).
Computes in float64 so that its own rounding is far below every fp32 budget
it judges.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstm_edge.model.gates import torch_to_per_gate
from lstm_edge.runtime.contract import INPUT_NAMES, OUTPUT_NAMES, check_inputs


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class LayerWeights:
    W: dict[str, np.ndarray]   # gate → (H, H + F_in), acting on [h_{t-1}, x_t]
    b: dict[str, np.ndarray]   # gate → (H,)


@dataclass
class ReferenceLSTM:
    layers: list[LayerWeights]
    head_W: np.ndarray          # (O, H): linear head on every step
    head_b: np.ndarray          # (O,)
    residual: tuple[int, ...] = ()   # input column added to each output (see network.py)
    embedding: np.ndarray | None = None   # (V, E): x (B, T, 1) holds token ids (see network.py)

    @classmethod
    def from_state_dict(cls, sd: dict[str, np.ndarray], num_layers: int, residual=()) -> "ReferenceLSTM":
        """From the PyTorch model's tensors (names as in lstm_edge.model.network.SequenceLSTM)."""
        f64 = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
        layers = []
        for k in range(num_layers):
            W, b = torch_to_per_gate(f64[f"lstm.weight_ih_l{k}"], f64[f"lstm.weight_hh_l{k}"],
                                 f64[f"lstm.bias_ih_l{k}"], f64[f"lstm.bias_hh_l{k}"])
            layers.append(LayerWeights(W, b))
        return cls(layers, f64["head.weight"], f64["head.bias"], tuple(residual), f64.get("embedding.weight"))

    def __call__(self, x, h0, c0):
        """x (B, T, F), h0 and c0 (L, B, H) → y (B, T, O), hn and cn (L, B, H), float64."""
        seq = np.asarray(x, dtype=np.float64)
        if self.embedding is not None:                      # ids → rows of the table, (B, T, E)
            ids = np.clip(seq[:, :, 0], 0, len(self.embedding) - 1).astype(np.int64)
            seq = self.embedding[ids]
        hn, cn = [], []
        for layer, h, c in zip(self.layers, np.asarray(h0, np.float64), np.asarray(c0, np.float64)):
            seq, h, c = run_layer(layer, seq, h, c)
            hn.append(h)
            cn.append(c)
        y = seq @ self.head_W.T + self.head_b               # (B, T, O)
        if self.residual:
            y = y + np.asarray(x, np.float64)[:, :, list(self.residual)]
        return {"y": y, "hn": np.stack(hn), "cn": np.stack(cn)}


def run_layer(layer: LayerWeights, x, h, c):
    """One layer over the whole sequence: x (B, T, F), h and c (B, H) → (B, T, H), h_T, c_T."""
    W, b = layer.W, layer.b
    outputs = []
    for t in range(x.shape[1]):
        hx = np.concatenate([h, x[:, t]], axis=1)           # [h_{t-1}, x_t]  (B, H + F)
        f_t = sigmoid(hx @ W["forget"].T + b["forget"])     # forget gate
        i_t = sigmoid(hx @ W["input"].T + b["input"])       # input gate
        c_tilde = np.tanh(hx @ W["cell"].T + b["cell"])     # candidate values
        c = f_t * c + i_t * c_tilde                         # the cell state, the conveyor belt
        o_t = sigmoid(hx @ W["output"].T + b["output"])     # output gate
        h = o_t * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, axis=1), h, c


class ReferenceRunner:
    """The golden model behind the Runner interface (outputs stay float64)."""

    name = "numpy-reference"
    input_names = INPUT_NAMES
    output_names = OUTPUT_NAMES

    def __init__(self, reference: ReferenceLSTM):
        self.reference = reference
        L, H = len(reference.layers), len(reference.layers[0].b["input"])
        F = 1 if reference.embedding is not None else reference.layers[0].W["input"].shape[1] - H
        self.expected = {"x": (None, None, F), "h0": (L, None, H), "c0": (L, None, H)}
        self.missing, self.info = {}, {}

    @classmethod
    def from_checkpoint(cls, tensors: dict, dims: dict) -> "ReferenceRunner":
        """From a checkpoint's tensors and the dims in its model.json (layers, residual columns)."""
        return cls(ReferenceLSTM.from_state_dict(tensors, dims["num_layers"], dims.get("residual", ())))

    def run(self, feeds: dict) -> dict:
        check_inputs(feeds, self.expected, self.name)
        return self.reference(feeds["x"], feeds["h0"], feeds["c0"])
