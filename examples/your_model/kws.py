"""A keyword spotter, written as a user writes one: a GRU over MFCC frames."""
from torch import nn


class KeywordSpotter(nn.Module):
    """MFCC frames (B, T, 13) -> logits over the keywords (B, K)."""

    def __init__(self, coefficients=13, hidden=32, keywords=4):
        super().__init__()
        self.gru = nn.GRU(coefficients, hidden, batch_first=True)
        self.classify = nn.Linear(hidden, keywords)

    def forward(self, frames):
        steps, _ = self.gru(frames)
        return self.classify(steps[:, -1])
