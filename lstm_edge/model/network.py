"""The reference model: stacked nn.LSTM (batch_first) plus a linear head on every step.

State is explicit I/O, the same names in every format:
    x (B, T, F), h0 (L, B, H), c0 (L, B, H)  →  y (B, T, O), hn (L, B, H), cn (L, B, H)

Residual forecast: when every target is also an input, y[t] = head(h_t) + x[t, targets],
so the network learns the change from the last observed value. Levels outside the
training range (seasons, drift) then pass straight through instead of being squashed by
the head; the exports carry it as one Gather + Add.

Token input (the charlm task): x (B, T, 1) holds character ids as float32; the model clips
them to [0, V − 1], casts to integers and looks them up in `embedding` (ONNX: Clip, Cast,
Gather). The LSTM then reads (B, T, E) embeddings instead of x.
"""
from __future__ import annotations

import torch
from torch import nn

from lstm_edge.runtime.contract import INPUT_NAMES, OUTPUT_NAMES, check_inputs

class SequenceLSTM(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int, output_size: int,
                 residual: tuple[int, ...] = (), vocab_size: int = 0, embedding_dim: int = 0):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim) if vocab_size else None
        self.lstm = nn.LSTM(embedding_dim if vocab_size else input_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, output_size)
        self.residual = list(residual)           # input column of each target, or empty

    def forward(self, x, h0, c0):
        inputs = x if self.embedding is None else self.embed(x)
        seq, (hn, cn) = self.lstm(inputs, (h0, c0))   # seq (B, T, H): the last layer's h_t
        y = self.head(seq)                       # (B, T, O)
        if self.residual:
            y = y + x[:, :, self.residual]       # forecast = last value + predicted change
        return y, hn, cn

    def embed(self, x):                          # (B, T, 1) float ids → (B, T, E)
        ids = x[:, :, 0].clamp(0, self.embedding.num_embeddings - 1).long()
        return self.embedding(ids)

    def zero_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (self.lstm.num_layers, batch, self.lstm.hidden_size)
        return torch.zeros(shape), torch.zeros(shape)


def build_model(dims: dict) -> SequenceLSTM:
    """From the resolved dims stored with every checkpoint (see lstm_edge/train/checkpoint.py)."""
    return SequenceLSTM(dims["input_size"], dims["hidden_size"], dims["num_layers"], dims["output_size"],
                        tuple(dims.get("residual", ())), dims.get("vocab_size", 0), dims.get("embedding_dim", 0))


class TorchRunner:
    """The PyTorch model behind the same Runner interface as every artefact."""

    name = "pytorch"
    input_names = INPUT_NAMES
    output_names = OUTPUT_NAMES

    def __init__(self, model: SequenceLSTM):
        self.model = model.eval()
        L, H = model.lstm.num_layers, model.lstm.hidden_size
        F = 1 if model.embedding is not None else model.lstm.input_size    # token models: x holds ids
        self.expected = {"x": (None, None, F), "h0": (L, None, H), "c0": (L, None, H)}
        self.missing, self.info = {}, {}

    def run(self, feeds: dict) -> dict:
        check_inputs(feeds, self.expected, self.name)
        with torch.no_grad():
            y, hn, cn = self.model(*(torch.from_numpy(feeds[k]) for k in INPUT_NAMES))
        return {"y": y.numpy(), "hn": hn.numpy(), "cn": cn.numpy()}


def load_model(tensors: dict, dims: dict) -> SequenceLSTM:
    model = build_model(dims)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    return model.eval()


def lstm_flops(dims: dict, steps: int) -> float:
    """Matrix-product FLOPs of `steps` (batch × time) LSTM steps, head included."""
    H, L = dims["hidden_size"], dims["num_layers"]
    per_step = sum(8 * H * ((dims["input_size"] if k == 0 else H) + H) for k in range(L)) + 2 * H * dims["output_size"]
    return float(per_step * steps)
