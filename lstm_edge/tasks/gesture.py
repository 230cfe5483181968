"""Gesture classification from generated 6-channel motion sequences (accelerometer xyz, gyroscope xyz).

A wrist sensor at 50 Hz records one of six gestures, T steps long; the model reads the
whole sequence and classifies it at the last step (y[:, -1] holds one logit per class, so
the same artefact also gives a running guess on every step when streamed). Every sample
varies in onset, duration, amplitude, speed, a rotation about the vertical axis of up to
±30° (how the watch sits), gravity tilt and sensor noise; each split is generated with its
own seed. Metric: test accuracy; baseline: the majority class.
"""
from __future__ import annotations

import numpy as np

from lstm_edge.tasks.base import SequenceTask, Examples, TaskData, generated_splits, generic

CLASSES = ("idle", "shake", "circle", "swipe_left", "swipe_right", "double_tap")
CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


def gesture_sequences(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """→ x (n, T, 6) float32 raw units (g, rad/s), labels (n,) int64 uniform over CLASSES."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    t = np.linspace(0.0, 1.0, length)[None, :]                       # (1, T)
    onset = rng.uniform(0.0, 0.35, (n, 1))
    duration = rng.uniform(0.4, 0.65, (n, 1))
    u = np.clip((t - onset) / duration, 0.0, 1.0)                    # (n, T): 0 → 1 over the gesture
    inside = (t >= onset) & (t <= onset + duration)
    envelope = np.sin(np.pi * u) ** 2 * inside                       # smooth start and stop
    amp = rng.uniform(0.6, 1.4, (n, 1))
    speed = rng.uniform(0.8, 1.25, (n, 1))
    acc, gyro = np.zeros((n, length, 3)), np.zeros((n, length, 3))
    for k, name in enumerate(CLASSES):
        m = labels == k
        e, a, s, uu = envelope[m], amp[m], speed[m], u[m]
        if name == "shake":                                          # fast back-and-forth along x
            acc[m, :, 0] = a * 1.5 * np.sin(2 * np.pi * 7 * s * uu) * e
            gyro[m, :, 2] = a * 0.8 * np.cos(2 * np.pi * 7 * s * uu) * e
        elif name == "circle":                                       # the hand draws a circle
            acc[m, :, 0] = a * np.cos(2 * np.pi * 2 * s * uu) * e
            acc[m, :, 1] = a * np.sin(2 * np.pi * 2 * s * uu) * e
            gyro[m, :, 2] = a * 1.2 * e
        elif name in ("swipe_left", "swipe_right"):                  # accelerate, then brake, along x
            sign = -1.0 if name == "swipe_left" else 1.0
            acc[m, :, 0] = sign * a * 1.2 * np.sin(2 * np.pi * uu) * (uu > 0) * (uu < 1)
            gyro[m, :, 1] = sign * a * 0.5 * e
        elif name == "double_tap":                                   # two sharp knocks along z
            for centre in (0.3, 0.7):
                acc[m, :, 2] += a * 2.0 * np.exp(-0.5 * ((uu - centre) / 0.03) ** 2) * (uu > 0) * (uu < 1)
    # the watch sits rotated about the vertical axis; gravity (1 g) is tilted a little
    angle = rng.uniform(-np.pi / 6, np.pi / 6, n)
    c, s_ = np.cos(angle)[:, None], np.sin(angle)[:, None]
    for v in (acc, gyro):
        x0, y0 = v[:, :, 0].copy(), v[:, :, 1].copy()
        v[:, :, 0], v[:, :, 1] = c * x0 - s_ * y0, s_ * x0 + c * y0
    tilt = rng.normal(0.0, 0.1, (n, 1, 2))
    acc[:, :, :2] += tilt
    acc[:, :, 2] += 1.0
    acc += rng.normal(0.0, 0.15, acc.shape)
    gyro += rng.normal(0.0, 0.1, gyro.shape)
    return np.concatenate([acc, gyro], axis=-1).astype(np.float32), labels.astype(np.int64)


class GestureTask(SequenceTask):
    name = "gesture"
    metric = "accuracy"
    lower_is_better = False
    scored_steps = "last"

    def load(self, csv=None, **_) -> TaskData:
        from lstm_edge.data.windows import Normalization

        d = self.spec.data
        raw, sizes = generated_splits(self.spec, gesture_sequences)
        train_x = raw[0][0].reshape(-1, len(CHANNELS))
        norm = Normalization(CHANNELS, train_x.mean(axis=0).astype(np.float32), train_x.std(axis=0).astype(np.float32))
        parts = [Examples(norm.apply(x), y) for x, y in raw]
        return TaskData(*parts, CHANNELS, CLASSES, norm.to_dict(),
                        f"gesture-generator T={d.window} seed={d.seed}", {"classes": list(CLASSES), "sequences": sizes})

    def loss(self, out, y):
        import torch

        return torch.nn.functional.cross_entropy(out[:, -1], y)

    def score(self, y: np.ndarray, ev: dict) -> dict:
        pred = np.argmax(y[:, -1], axis=-1)
        truth = ev["truth"].astype(np.int64)
        acc = float(np.mean(pred == truth))
        majority = float(np.bincount(truth, minlength=len(CLASSES)).max() / len(truth))
        confusion = np.zeros((len(CLASSES), len(CLASSES)), np.int64)
        np.add.at(confusion, (truth, pred), 1)
        per_class = {c: float(confusion[k, k] / max(1, confusion[k].sum())) for k, c in enumerate(CLASSES)}
        return generic(self.metric, acc, False, "majority class", majority, acc > majority,
                       f"test accuracy {acc:.4f} over {len(truth)} sequences vs {majority:.4f} for the majority class",
                       sequences=int(len(truth)), per_class_recall=per_class, confusion=confusion.tolist())
