"""Training: fixed seed, Adam, early stopping on validation loss, best weights kept.

The task (lstm_edge.tasks) gives the data, the loss and the metric: for forecasting the MSE
of normalized forecasts over steps t ≥ warmup_steps of each window (the first steps have too
little context), for the adding problem the MSE at the last step, cross-entropy for gestures
(last step) and characters (every step).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstm_edge.train.checkpoint import save_checkpoint
from lstm_edge.model.spec import Spec
from lstm_edge.tasks import task_name
from lstm_edge.tasks.base import TaskData


CALIBRATION_WINDOWS = 256


@dataclass
class TrainResult:
    tensors: dict[str, np.ndarray]
    meta: dict
    data: TaskData


def model_dims(spec: Spec, data: TaskData) -> dict:
    """The resolved sizes stored with the checkpoint; build_model(dims) rebuilds the module."""
    dims = {"input_size": len(data.features), "hidden_size": spec.model.hidden_size,
            "num_layers": spec.model.num_layers, "output_size": len(data.targets),
            "residual": list(data.extra.get("residual", []))}
    if spec.model.embedding_dim:
        dims |= {"vocab_size": len(data.extra["vocabulary"]), "embedding_dim": spec.model.embedding_dim}
    return dims


def train(spec: Spec, task, data: TaskData, out_dir: Path, *, progress: bool = True,
          budget_file: Path | None = None) -> TrainResult:
    import torch

    from lstm_edge.model.network import SequenceLSTM

    t = spec.train
    torch.manual_seed(t.seed)
    dims = model_dims(spec, data)
    model = SequenceLSTM(**dims)
    if t.forget_bias:   # e.g. 1 (Gers et al., 2000): remember by default, which long gaps need
        with torch.no_grad():
            for k in range(dims["num_layers"]):
                getattr(model.lstm, f"bias_ih_l{k}")[dims["hidden_size"]:2 * dims["hidden_size"]] = t.forget_bias
    opt = (torch.optim.AdamW(model.parameters(), lr=t.learning_rate, weight_decay=t.weight_decay) if t.weight_decay
           else torch.optim.Adam(model.parameters(), lr=t.learning_rate))
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(1, t.patience // 2))
    xtr, ytr = torch.from_numpy(data.train.x), torch.from_numpy(data.train.y)
    xva, yva = torch.from_numpy(data.val.x), torch.from_numpy(data.val.y)
    gen = torch.Generator().manual_seed(t.seed)

    def loss_on(x, y):
        out, _, _ = model(x, *model.zero_state(len(x)))
        return task.loss(out, y)

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
    test, val_set = task.eval_set(data, "test"), task.eval_set(data, "val")
    with torch.no_grad():
        pred, _, _ = model(torch.from_numpy(test["x"]), *model.zero_state(len(test["x"])))
    metrics = task.score(pred.numpy(), test)
    tensors = {k: v.numpy() for k, v in model.state_dict().items()}
    meta = {
        "model": spec.name, "spec": spec.to_dict(), "dims": dims, "task": {"name": task_name(spec), **data.extra},
        "features": list(data.features), "targets": list(data.targets),
        "normalization": data.normalization, "data_source": data.source,
        "training": {"epochs": len(history), "best_val_loss": best, "seconds": time.perf_counter() - started,
                     "history": history},
        "test_metrics": metrics,
    } | ({"budget_file": str(budget_file)} if budget_file is not None else {})   # the spec file, as given
    # Calibration windows for quantization: spread evenly over the whole training split.
    pick = np.linspace(0, len(data.train.x) - 1, min(CALIBRATION_WINDOWS, len(data.train.x))).astype(int)
    save_checkpoint(Path(out_dir), tensors, meta, test, {"x": data.train.x[pick]}, val_set)
    return TrainResult(tensors, meta, data)


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
