"""A sensor forecaster, written as a user writes one: two LSTM layers and a per-step head."""
from torch import nn


class Forecaster(nn.Module):
    """Readings (B, T, 2) -> the next reading of channel 0 at every step (B, T, 1)."""

    def __init__(self, channels=2, hidden=24, layers=2):
        super().__init__()
        self.lstm = nn.LSTM(channels, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x):
        seq, _ = self.lstm(x)
        return self.out(seq)
