"""Modules as users write them, for tests/test_byo_refusals.py: loaded as a user's file by
`lstm-edge export --module byo_user_nets.py:Class` and imported in-process. Supported ones first,
then the shapes the issue (22) found failing or refused."""
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class User(nn.Module):
    """Linear input (+ activation) → LSTM/GRU → Linear head; each piece configurable."""

    def __init__(self, kind="LSTM", bias=True, in_bias=True, head_bias=True, act=None, head="last", out=2,
                 batch_first=True, bidirectional=False, post=None):
        super().__init__()
        self.inp = nn.Linear(4, 5, bias=in_bias)
        self.act = act if act is not None else nn.Identity()
        self.rnn = getattr(nn, kind)(5, 6, num_layers=2, bias=bias, batch_first=batch_first, bidirectional=bidirectional)
        self.fc = nn.Linear(12 if bidirectional else 6, out, bias=head_bias)
        self.head, self.batch_first, self.post = head, batch_first, post or (lambda y: y)

    def forward(self, x):
        seq = self.rnn(self.act(self.inp(x)))[0]
        t = 1 if self.batch_first else 0
        z = seq.select(t, -1) if self.head == "last" else seq.mean(dim=t) if self.head == "mean" else seq
        return self.post(self.fc(z))


class FusedBiasFree(User):          # bias-free LSTM, input layer and head; LeakyReLU; bare sigmoid, squeeze(-1)
    def __init__(self):
        super().__init__(bias=False, in_bias=False, head_bias=False, act=nn.LeakyReLU(0.2), out=1,
                         post=lambda y: torch.sigmoid(y).squeeze(-1))


class GeneralGRU(User):             # bias-free bidirectional time-major GRU, ELU(0.5), per-step head, tanh, squeeze(-1)
    def __init__(self):
        super().__init__(kind="GRU", bias=False, bidirectional=True, batch_first=False, act=nn.ELU(0.5), head="step",
                         out=1, post=lambda y: torch.tanh(y).squeeze(-1))


class MeanSoftmax(User):            # ELU, mean head, softmax
    def __init__(self):
        super().__init__(act=nn.ELU(), head="mean", out=3, post=lambda y: y.softmax(-1))


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.fc = nn.LSTM(4, 6, batch_first=True), nn.Linear(6, 1)

    def forward(self, x):
        return self.fc(self.lstm(x)[0][:, -1])


class SqueezeAll(Plain):
    def forward(self, x):
        return self.fc(self.lstm(x)[0][:, -1]).squeeze()


class Doubled(Plain):
    def forward(self, x):
        return 2 * self.fc(self.lstm(x)[0][:, -1])


class ScaledInput(Plain):
    def forward(self, x):
        return self.fc(self.lstm(x * 2)[0][:, -1])


class StateRequired(Plain):
    def forward(self, x, h0, c0):
        return self.fc(self.lstm(x, (h0, c0))[0][:, -1])


class StateOptional(Plain):
    def forward(self, x, state=None):
        return torch.sigmoid(self.fc(self.lstm(x, state)[0][:, -1])).squeeze(-1)


class Lengths(Plain):
    def forward(self, x, lengths):
        out, _ = pad_packed_sequence(self.lstm(pack_padded_sequence(x, lengths, batch_first=True,
                                                                    enforce_sorted=False))[0], batch_first=True)
        return self.fc(out[:, -1])


class PackedOptional(Plain):
    def forward(self, x, lengths=None):
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)
        out, _ = pad_packed_sequence(self.lstm(pack_padded_sequence(x, lengths, batch_first=True,
                                                                    enforce_sorted=False))[0], batch_first=True)
        return self.fc(out[:, -1])


class Masked(Plain):
    def forward(self, x, mask):
        return self.fc((self.lstm(x)[0] * mask[..., None])[:, -1])


class PackedFromX(Plain):
    """Packs with lengths it computes itself (from padding zeros): not forward()'s lengths argument."""
    def forward(self, x):
        lengths = (x.abs().sum(-1) > 0).sum(1).clamp(min=1)
        out, _ = pad_packed_sequence(self.lstm(pack_padded_sequence(x, lengths, batch_first=True,
                                                                    enforce_sorted=False))[0], batch_first=True)
        return self.fc(out[:, -1])


class StepLoop(Plain):
    def forward(self, x):
        state, out = None, None
        for t in range(x.shape[1]):
            out, state = self.lstm(x[:, t:t + 1], state)
        return self.fc(out[:, -1])


class Dict(Plain):
    def forward(self, x):
        return {"y": self.fc(self.lstm(x)[0][:, -1])}


class SoftmaxOverBatch(Plain):
    def __init__(self):
        super().__init__()
        self.sm = nn.Softmax(dim=0)

    def forward(self, x):
        return self.sm(self.fc(self.lstm(x)[0][:, -1]))


class MaxNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.lstm = nn.Embedding(11, 4, max_norm=1.0), nn.LSTM(4, 6, batch_first=True)

    def forward(self, x):
        return self.lstm(self.emb(x))[0]
