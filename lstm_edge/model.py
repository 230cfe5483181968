"""The reference model: stacked nn.LSTM (batch_first) plus a linear head on every step.

State is explicit I/O, the same names in every format:
    x (B, T, F), h0 (L, B, H), c0 (L, B, H)  →  y (B, T, O), hn (L, B, H), cn (L, B, H)
"""
from __future__ import annotations

import torch
from torch import nn

INPUT_NAMES = ("x", "h0", "c0")
OUTPUT_NAMES = ("y", "hn", "cn")


class ForecastLSTM(nn.Module):
    def __init__(self, input_size: int, hidden_size: int, num_layers: int, output_size: int):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, output_size)

    def forward(self, x, h0, c0):
        seq, (hn, cn) = self.lstm(x, (h0, c0))   # seq (B, T, H): the last layer's h_t
        return self.head(seq), hn, cn            # y (B, T, O)

    def zero_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (self.lstm.num_layers, batch, self.lstm.hidden_size)
        return torch.zeros(shape), torch.zeros(shape)


def build_model(dims: dict) -> ForecastLSTM:
    """From the resolved dims stored with every checkpoint (see checkpoint.py)."""
    return ForecastLSTM(dims["input_size"], dims["hidden_size"], dims["num_layers"], dims["output_size"])


class TorchRunner:
    """The PyTorch model behind the same Runner interface as every artefact."""

    name = "pytorch"
    input_names = INPUT_NAMES
    output_names = OUTPUT_NAMES

    def __init__(self, model: ForecastLSTM):
        self.model = model.eval()

    def run(self, feeds: dict) -> dict:
        with torch.no_grad():
            y, hn, cn = self.model(*(torch.from_numpy(feeds[k]) for k in INPUT_NAMES))
        return {"y": y.numpy(), "hn": hn.numpy(), "cn": cn.numpy()}


def load_model(tensors: dict, dims: dict) -> ForecastLSTM:
    model = build_model(dims)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    return model.eval()
