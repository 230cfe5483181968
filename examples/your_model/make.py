"""Train two users' models the way users do, and save them the way users save: safetensors weights,
npz evaluation and calibration sets. Nothing here uses lstm-edge.

    python examples/your_model/make.py OUT_DIR

- kws.py: a GRU keyword spotter on generated MFCC-like frames (13 coefficients × 30 frames; each of 4
  "words" is a formant trajectory spoken at a random rate and loudness, in heavy noise) → accuracy.
- conv_attention.py: the same frames through a Conv1d front end, two LSTMs with a residual add and
  LayerNorm, and attention pooling over time (a module of several layers) → accuracy.
- forecaster.py: a 2-layer LSTM forecasting a noisy two-tone series one step ahead at every step →
  the user's own metric, smape.py.
- residual.py: the same series through a linear front end, a 2-layer LSTM with a residual add and
  LayerNorm, and a GRU (a module of several layers that streams) → mae.
Writes OUT_DIR/{kws,conv_attention,forecaster,residual}.safetensors, kws_eval.npz, kws_calib.npz,
forecaster_eval.npz (the residual forecaster is judged on it too).
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def user_class(file: str, name: str):
    spec = importlib.util.spec_from_file_location(f"example_{Path(file).stem}", HERE / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def kws_frames(n: int, seed: int, T: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    words = rng.integers(0, 4, n)
    t = np.linspace(0, 1, T)[None, :] * rng.uniform(0.7, 1.3, (n, 1))         # speaking rate
    centre = np.array([2.0, 5.0, 8.0, 11.0])[words][:, None] + np.array([3, -3, 2, -2])[words][:, None] * t
    coeff = np.arange(13)[None, None, :]
    frames = np.exp(-0.5 * (coeff - centre[..., None]) ** 2) * rng.uniform(0.5, 1.5, (n, 1, 1))
    frames += 1.1 * rng.standard_normal(frames.shape)
    return frames.astype(np.float32), words.astype(np.int64)


def two_tone(n: int, seed: int, T: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(T + 1)[None, :] + rng.uniform(0, 100, (n, 1))
    level = np.sin(2 * np.pi * t / 24) + 0.5 * np.sin(2 * np.pi * t / 7) + 2.0
    level = level + 0.1 * rng.standard_normal(level.shape)
    drive = np.cos(2 * np.pi * t / 24)
    x = np.stack([level[:, :-1], drive[:, :-1]], axis=-1)
    return x.astype(np.float32), level[:, 1:, None].astype(np.float32)


def train(model, x, y, loss, epochs: int, lr: float = 3e-3):
    import torch

    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr, weight_decay=1e-4)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        for k in range(0, len(x), 64):
            opt.zero_grad()
            loss(model(xs[k:k + 64]), ys[k:k + 64]).backward()
            opt.step()
    return model.eval()


def make_kws(out: Path, epochs: int = 8) -> None:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = user_class("kws.py", "KeywordSpotter")()
    x, y = kws_frames(1200, 0)
    train(net, x, y, torch.nn.functional.cross_entropy, epochs)
    save_file(net.state_dict(), out / "kws.safetensors")
    np.savez(out / "kws_eval.npz", x=kws_frames(300, 1)[0], y=kws_frames(300, 1)[1])
    np.savez(out / "kws_calib.npz", x=kws_frames(128, 2)[0])


def make_conv_attention(out: Path, epochs: int = 6) -> None:
    """The keyword frames again, for a module of several layers (conv_attention.py); it shares kws's
    evaluation and calibration sets (written by make_kws)."""
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = user_class("conv_attention.py", "ConvAttentionClassifier")()
    x, y = kws_frames(1200, 0)
    train(net, x, y, torch.nn.functional.cross_entropy, epochs)
    save_file(net.state_dict(), out / "conv_attention.safetensors")
    if not (out / "kws_eval.npz").exists():
        np.savez(out / "kws_eval.npz", x=kws_frames(300, 1)[0], y=kws_frames(300, 1)[1])
        np.savez(out / "kws_calib.npz", x=kws_frames(128, 2)[0])


def make_forecaster(out: Path, epochs: int = 10) -> None:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = user_class("forecaster.py", "Forecaster")()
    x, y = two_tone(600, 0)
    train(net, x, y, torch.nn.functional.mse_loss, epochs)
    save_file(net.state_dict(), out / "forecaster.safetensors")
    xe, ye = two_tone(200, 1)
    np.savez(out / "forecaster_eval.npz", x=xe, y=ye)


def make_residual(out: Path, epochs: int = 10) -> None:
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = user_class("residual.py", "ResidualForecaster")()
    x, y = two_tone(600, 0)
    train(net, x, y, torch.nn.functional.mse_loss, epochs)
    save_file(net.state_dict(), out / "residual.safetensors")
    if not (out / "forecaster_eval.npz").exists():
        xe, ye = two_tone(200, 1)
        np.savez(out / "forecaster_eval.npz", x=xe, y=ye)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "artifacts/your_model")
    out.mkdir(parents=True, exist_ok=True)
    make_kws(out)
    make_conv_attention(out)
    make_forecaster(out)
    make_residual(out)
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} in {out}")
