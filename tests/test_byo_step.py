"""Issue 15, point 3: the streaming step artefact of a user's GRU and of a projected LSTM, stepped 10 000 steps
one call per step through a Stream (the deployment mode), against PyTorch over the same sequence in one call:
y at every step and the state at each horizon within the project's fp32 drift budgets."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn


class UserGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb, self.act = nn.Linear(3, 8), nn.Tanh()
        self.gru, self.fc = nn.GRU(8, 12, num_layers=2, batch_first=True), nn.Linear(12, 2)

    def forward(self, x):
        return self.fc(self.gru(self.act(self.emb(x)))[0])


class Projected(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.fc = nn.LSTM(3, 12, num_layers=2, proj_size=5, batch_first=True), nn.Linear(5, 1)

    def forward(self, x):
        return self.fc(self.lstm(x)[0])


@pytest.mark.slow   # converts with TensorFlow, 10 000 calls
@pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")
@pytest.mark.parametrize("cls", [UserGRU, Projected])
def test_step_artefact_over_ten_thousand_steps(cls, tmp_path):
    from lstm_edge.byo.recognise import recognise
    from lstm_edge.byo.step import export_step
    from lstm_edge.byo.wrap import TorchModuleRunner, names, state_shapes
    from lstm_edge.project.file import PROJECT_STREAMING
    from lstm_edge.runtime import open_runner
    from lstm_edge.runtime.stream import Stream

    torch.manual_seed(0)
    model = cls().eval()
    arch = recognise(model, torch.randn(2, 9, 3))
    assert arch.form == "single"                     # one recurrent layer: state in and out, a step artefact
    info = export_step(model, arch, (2, 9, 3), 0, tmp_path / "step.tflite", lambda m: None)
    assert info["path_taken"] == "step" and not any(o.startswith("Flex") or o == "WHILE" for o in info.get("ops", {}))
    N, horizons, budgets = 10_000, PROJECT_STREAMING.horizons, PROJECT_STREAMING.fp32
    x = np.random.default_rng(1).standard_normal((1, N, 3)).astype(np.float32)
    stream = Stream(open_runner(tmp_path / "step.tflite"), batch=1)
    torch_runner = TorchModuleRunner(model, arch, *names(arch))
    zero = {k: np.zeros(s, np.float32) for k, s in state_shapes(arch, 1).items()}
    ys = np.concatenate([stream.step(x[:, t:t + 1]) for t in range(N)], axis=1)
    want = torch_runner.run({"x": x} | zero)
    assert ys.shape == want["y"].shape
    for h, budget in zip(horizons, budgets):         # y up to each horizon; the state at the end
        drift = float(np.abs(ys[:, :h] - want["y"][:, :h]).max())
        assert drift <= budget, (cls.__name__, h, drift, budget)
    assert np.allclose(stream.h, want["hn"], atol=budgets[-1], rtol=budgets[-1])
    if "cn" in want:
        assert np.allclose(stream.c, want["cn"], atol=budgets[-1], rtol=budgets[-1])
