"""Modules of several layers around their LSTM / GRU layers, written the way users write them (not built
from lstm_edge.model): the graph converter's cases (tests/test_graph.py). Accepted ones first."""
import torch
from torch import nn


class Autoencoder(nn.Module):
    """The anomaly-detection tutorial's LSTM autoencoder: encoder → code → repeated → decoder."""

    def __init__(self, features=4, hidden=16, code=8):
        super().__init__()
        self.encoder = nn.LSTM(features, hidden, num_layers=2, batch_first=True)
        self.code = nn.Linear(hidden, code)
        self.decoder = nn.LSTM(code, hidden, batch_first=True)
        self.out = nn.Linear(hidden, features)

    def forward(self, x):
        _, (h, _) = self.encoder(x)
        z = torch.tanh(self.code(h[-1]))
        z = z.unsqueeze(1).repeat(1, x.size(1), 1)
        y, _ = self.decoder(z)
        return self.out(y)


class ConvResidualAttention(nn.Module):
    """A Conv1d front end, two LSTM layers with a residual add and LayerNorm, attention pooling over time."""

    def __init__(self, features=6, channels=12, hidden=16, classes=4):
        super().__init__()
        self.conv = nn.Conv1d(features, channels, kernel_size=3, padding=1)
        self.lstm1 = nn.LSTM(channels, hidden, batch_first=True)
        self.lstm2 = nn.LSTM(hidden, hidden, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.score = nn.Linear(hidden, 1)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):                                    # x (B, T, F)
        z = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        a, _ = self.lstm1(z)
        b, _ = self.lstm2(a)
        s = self.norm(a + b)
        w = torch.softmax(self.score(s).squeeze(-1), dim=1)   # (B, T) attention weights
        context = (s * w.unsqueeze(-1)).sum(dim=1)
        return self.head(self.drop(context))


class TokensMixed(nn.Module):
    """Token ids → a bidirectional GRU → a projected LSTM whose cell state forward() reads."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.gru = nn.GRU(8, 12, batch_first=True, bidirectional=True)
        self.lstm = nn.LSTM(24, 10, batch_first=True, proj_size=5)
        self.head = nn.Linear(5, 3)

    def forward(self, x):
        a, _ = self.gru(self.emb(x))
        b, (h, c) = self.lstm(a)
        return self.head(b) + c.sum(0).mean(-1, keepdim=True).unsqueeze(1)


class ConcatMean(nn.Module):
    """Two LSTMs side by side on the same input, concatenated, mean-pooled; a GELU MLP head; BatchNorm1d."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(3)
        self.a, self.b = nn.LSTM(3, 5, batch_first=True), nn.GRU(3, 4, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(9, 8), nn.GELU(), nn.Linear(8, 1))

    def forward(self, x):
        x = self.bn(x.transpose(1, 2)).transpose(1, 2)
        y = torch.cat([self.a(x)[0], self.b(x)[0]], dim=-1)
        return self.mlp(y.mean(dim=1)).squeeze(-1)


class ResidualStack(nn.Module):
    """A forecaster that streams: a Linear front end, a 2-layer LSTM with a residual add and LayerNorm, a GRU,
    an answer per step."""

    def __init__(self, features=4, hidden=12):
        super().__init__()
        self.inp = nn.Linear(features, hidden)
        self.lstm = nn.LSTM(hidden, hidden, num_layers=2, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.gru = nn.GRU(hidden, 8, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        z = torch.relu(self.inp(x))
        a, _ = self.lstm(z)
        b, _ = self.gru(self.norm(z + a))
        return self.head(b)


class ProjectedLast(nn.Module):
    """A classifier that streams: token ids → an embedding → a projected LSTM → an LSTM, the last step's answer."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 6)
        self.a = nn.LSTM(6, 10, batch_first=True, proj_size=4)
        self.b = nn.LSTM(4, 7, batch_first=True)
        self.head = nn.Linear(7, 3)

    def forward(self, x):
        y, _ = self.b(self.a(self.emb(x))[0])
        return self.head(y[:, -1])


# refused, by name
class BatchSoftmax(ConcatMean):
    def forward(self, x):
        y = torch.cat([self.a(x)[0], self.b(x)[0]], dim=-1)
        return torch.softmax(self.mlp(y.mean(dim=1)), dim=0)


class Cumulative(ConcatMean):
    def forward(self, x):
        return torch.cumsum(torch.cat([self.a(x)[0], self.b(x)[0]], dim=-1), dim=1)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.att = nn.LSTM(3, 4, batch_first=True), nn.MultiheadAttention(4, 1, batch_first=True)
        self.gru = nn.GRU(4, 4, batch_first=True)

    def forward(self, x):
        a = self.lstm(x)[0]
        return self.gru(self.att(a, a, a)[0])[0]


class Branchy(ConcatMean):
    def forward(self, x):
        if x.size(1) > 3:
            x = x[:, -3:]
        return torch.cat([self.a(x)[0], self.b(x)[0]], dim=-1)


class TimeMajor(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.LSTM(3, 4), nn.LSTM(4, 4)

    def forward(self, x):
        return self.b(self.a(x)[0])[0]


class SqueezeAny(ConcatMean):
    def forward(self, x):
        return self.mlp(torch.cat([self.a(x)[0], self.b(x)[0]], dim=-1)[:, -1]).squeeze()


class SeededDecoder(nn.Module):
    """A decoder started from the encoder's (h, c), the code repeated with expand(x.shape[1]): the encoder is not
    fused (its c is read), and the converter does not fuse the decoder either — both run as builtin WHILE."""

    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = nn.LSTM(3, 4, batch_first=True), nn.LSTM(4, 4, batch_first=True)

    def forward(self, x):
        _, (h, c) = self.encoder(x)
        z = h[-1].unsqueeze(1).expand(-1, x.shape[1], -1)
        y, _ = self.decoder(z, (h, c))
        return y


class FancyIndex(ConcatMean):
    """x[:, :, [0, 2]]: PyTorch's list indexing, which TensorFlow has not (the TFLite format is refused by name)."""

    def forward(self, x):
        return torch.cat([self.a(x)[0], self.b(x)[0]], dim=-1)[:, :, [0, 2]]
