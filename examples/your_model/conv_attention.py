"""A keyword classifier of several layers, written as a user writes one: a Conv1d front end over MFCC
frames, two LSTM layers with a residual add and LayerNorm, attention pooling over time."""
import torch
from torch import nn


class ConvAttentionClassifier(nn.Module):
    """MFCC frames (B, T, 13) -> logits over the keywords (B, K)."""

    def __init__(self, coefficients=13, channels=24, hidden=32, keywords=4):
        super().__init__()
        self.conv = nn.Conv1d(coefficients, channels, kernel_size=5, padding=2)
        self.lstm1 = nn.LSTM(channels, hidden, batch_first=True)
        self.lstm2 = nn.LSTM(hidden, hidden, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.score = nn.Linear(hidden, 1)
        self.dropout = nn.Dropout(0.1)
        self.classify = nn.Linear(hidden, keywords)

    def forward(self, frames):
        z = torch.relu(self.conv(frames.transpose(1, 2))).transpose(1, 2)     # (B, T, channels)
        a, _ = self.lstm1(z)
        b, _ = self.lstm2(a)
        s = self.norm(a + b)                                                  # residual, normalised
        weights = torch.softmax(self.score(s).squeeze(-1), dim=1)             # (B, T) attention over time
        context = (s * weights.unsqueeze(-1)).sum(dim=1)
        return self.classify(self.dropout(context))
