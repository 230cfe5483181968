"""Training: fixed seed, Adam, early stopping on validation loss, best weights kept.

Loss is the MSE of normalized forecasts over steps t ≥ warmup_steps of each window: the
first steps have too little context to forecast from and would only add noise.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstm_edge.checkpoint import save_checkpoint
from lstm_edge.data import Series
from lstm_edge.data.windows import Prepared, prepare
from lstm_edge.metrics import forecast_metrics, test_set
from lstm_edge.spec import Spec


CALIBRATION_WINDOWS = 256


@dataclass
class TrainResult:
    tensors: dict[str, np.ndarray]
    meta: dict
    prepared: Prepared


def prepare_for(spec: Spec, series: Series) -> Prepared:
    d = spec.data
    return prepare(series, features=d.features, targets=d.targets, window=d.window,
                   horizon=d.horizon, split=d.split)


def train(spec: Spec, series: Series, out_dir: Path, *, progress: bool = True) -> TrainResult:
    import torch

    from lstm_edge.model import ForecastLSTM

    prep = prepare_for(spec, series)
    t = spec.train
    torch.manual_seed(t.seed)
    residual = [prep.features.index(c) for c in prep.targets] if set(prep.targets) <= set(prep.features) else []
    dims = {"input_size": len(prep.features), "hidden_size": spec.model.hidden_size,
            "num_layers": spec.model.num_layers, "output_size": len(prep.targets), "residual": residual}
    model = ForecastLSTM(**dims)
    opt = torch.optim.Adam(model.parameters(), lr=t.learning_rate)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, t.patience // 2))
    xtr, ytr = torch.from_numpy(prep.train.x), torch.from_numpy(prep.train.y)
    xva, yva = torch.from_numpy(prep.val.x), torch.from_numpy(prep.val.y)
    gen = torch.Generator().manual_seed(t.seed)
    w = t.warmup_steps

    def loss_on(x, y):
        out, _, _ = model(x, *model.zero_state(len(x)))
        return torch.mean((out[:, w:] - y[:, w:]) ** 2)

    best, best_state, stale, history = float("inf"), None, 0, []
    started = time.perf_counter()
    with _progress(progress, t.max_epochs) as bar:
        for epoch in range(t.max_epochs):
            model.train()
            order = torch.randperm(len(xtr), generator=gen)
            total = 0.0
            for k in range(0, len(order), t.batch_size):
                idx = order[k:k + t.batch_size]
                opt.zero_grad()
                loss = loss_on(xtr[idx], ytr[idx])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                total += loss.item() * len(idx)
            model.eval()
            with torch.no_grad():
                val = float(loss_on(xva, yva))
            sched.step(val)
            history.append({"epoch": epoch + 1, "train_loss": total / len(xtr), "val_loss": val})
            if val < best - 1e-6:
                best, stale = val, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                stale += 1
            bar(epoch + 1, f"train {total / len(xtr):.4f}  val {val:.4f}  best {best:.4f}")
            if stale >= t.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    test = test_set(prep, period=spec.data.period, horizon=spec.data.horizon)
    with torch.no_grad():
        pred, _, _ = model(torch.from_numpy(test["x"]), *model.zero_state(len(test["x"])))
    metrics = forecast_metrics(pred[:, -1].numpy(), test, prep.norm, prep.targets)
    tensors = {k: v.numpy() for k, v in model.state_dict().items()}
    meta = {
        "model": spec.name, "spec": spec.to_dict(), "dims": dims,
        "features": list(prep.features), "targets": list(prep.targets),
        "normalization": prep.norm.to_dict(), "data_source": series.source,
        "training": {"epochs": len(history), "best_val_loss": best, "seconds": time.perf_counter() - started,
                     "history": history},
        "test_metrics": metrics,
    }
    # Calibration windows for quantization: spread evenly over the whole training split.
    pick = np.linspace(0, len(prep.train.x) - 1, min(CALIBRATION_WINDOWS, len(prep.train.x))).astype(int)
    val = test_set(prep, period=spec.data.period, horizon=spec.data.horizon, split="val")
    save_checkpoint(Path(out_dir), tensors, meta, test, {"x": prep.train.x[pick]}, val)
    return TrainResult(tensors, meta, prep)


class _progress:
    """A rich progress bar over epochs (or nothing, for tests and pipes)."""

    def __init__(self, enabled: bool, total: int):
        self.enabled, self.total = enabled, total

    def __enter__(self):
        if not self.enabled:
            return lambda *a: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.p = Progress(TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          TextColumn("{task.description}"))
        self.p.__enter__()
        task = self.p.add_task("", total=self.total)
        return lambda done, text: self.p.update(task, completed=done, description=text)

    def __exit__(self, *exc):
        if self.enabled:
            self.p.__exit__(*exc)
