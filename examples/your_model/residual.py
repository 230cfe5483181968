"""A sensor forecaster of several layers, written as a user writes one: a linear front end, a 2-layer LSTM
with a residual add and LayerNorm, a GRU, and a per-step head. It streams: nothing in it reads across time
except its recurrent layers."""
import torch
from torch import nn


class ResidualForecaster(nn.Module):
    """Readings (B, T, 2) -> the next reading of channel 0 at every step (B, T, 1)."""

    def __init__(self, channels=2, width=24, gru=16):
        super().__init__()
        self.inp = nn.Linear(channels, width)
        self.lstm = nn.LSTM(width, width, num_layers=2, batch_first=True)
        self.norm = nn.LayerNorm(width)
        self.gru = nn.GRU(width, gru, batch_first=True)
        self.out = nn.Linear(gru, 1)

    def forward(self, x):
        z = torch.relu(self.inp(x))
        a, _ = self.lstm(z)
        b, _ = self.gru(self.norm(z + a))
        return self.out(b)
