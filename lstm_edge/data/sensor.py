"""A seeded generator of hourly building-sensor data: the default task's world.

Four channels, one row per hour:
    temperature (°C)   daily cycle (peak mid-afternoon), weekly HVAC setback, seasonal drift
    humidity (%RH)     anti-correlated with temperature, its own slow weather
    load (kW)          office-hours double peak on weekdays, low weekends, regime shifts
    vibration (mm/s)   grows with load; amplitude regimes (a machine wears, is serviced)
Every channel carries AR(1) noise: the recent past says more than one season ago, which is
what a recurrent model can use and a seasonal-naive forecast cannot. Anomalies (spikes,
short level shifts, stuck sensors) are injected with per-step labels.
"""
from __future__ import annotations

import numpy as np

from lstm_edge.data.series import Series

COLUMNS = ("temperature", "humidity", "load", "vibration")
DAY, WEEK = 24, 168


def ar1(rng, n: int, phi: float, sigma: float) -> np.ndarray:
    """x[t] = phi·x[t−1] + N(0, sigma²): weather fronts and sensor wander that persist for hours."""
    eps = rng.normal(0.0, sigma, n)
    out = np.empty(n)
    acc = 0.0
    for t in range(n):
        acc = phi * acc + eps[t]
        out[t] = acc
    return out


def regimes(rng, n: int, count: int, scale: float) -> np.ndarray:
    """A piecewise-constant level: `count` random change points, each a new persistent offset
    (after the first week, or the first quarter of a shorter series)."""
    level = np.zeros(n)
    first = min(DAY * 7, n // 4)
    if n - first < 1:
        return level
    for start in np.sort(rng.integers(first, n, count)):
        level[start:] += rng.normal(0.0, scale)
    return level


def generate_sensor_series(*, days: int = 180, seed: int = 0, anomaly_rate: float = 0.004) -> Series:
    rng = np.random.default_rng(seed)
    n = days * DAY
    t = np.arange(n)
    hour, weekday = t % DAY, (t // DAY) % 7
    workday = (weekday < 5).astype(float)
    daily = np.sin(2 * np.pi * (hour - 9) / DAY)                      # peak at 15:00
    season = np.sin(2 * np.pi * t / (DAY * 365) + rng.uniform(0, 2 * np.pi))

    temperature = (21 + 6 * season + 3.0 * daily + 1.2 * workday * (hour >= 7) * (hour <= 19)
                   + ar1(rng, n, 0.95, 0.35))
    humidity = 55 - 1.8 * (temperature - 21) + ar1(rng, n, 0.98, 0.6) + 4 * np.sin(2 * np.pi * t / (DAY * 9))
    office = np.exp(-0.5 * ((hour - 10) / 2.0) ** 2) + 0.8 * np.exp(-0.5 * ((hour - 15) / 2.5) ** 2)
    load = (40 + 35 * workday * office + 8 * (1 - workday) + 4 * np.maximum(temperature - 24, 0)
            + regimes(rng, n, 4, 6.0) + 0.002 * t + ar1(rng, n, 0.9, 1.5))
    wear = 1 + np.abs(regimes(rng, n, 3, 0.4))
    vibration = wear * (0.8 + 0.03 * load) + ar1(rng, n, 0.7, 0.15)

    values = np.stack([temperature, humidity, load, vibration], axis=1)
    anomaly = np.zeros(n, bool)
    _inject_anomalies(rng, values, anomaly, anomaly_rate)
    return Series(values.astype(np.float32), COLUMNS, anomaly, DAY, f"sensor-generator seed={seed} days={days}")


def _inject_anomalies(rng, values: np.ndarray, anomaly: np.ndarray, rate: float) -> None:
    """Spikes (1 step), level shifts (3–12 steps) and stuck sensors (6–24 flat steps), in place."""
    n, c = values.shape
    std = values.std(axis=0)
    for start in np.flatnonzero(rng.random(n) < rate):
        ch = rng.integers(c)
        kind = rng.choice(["spike", "shift", "stuck"])
        if kind == "spike":
            end = start + 1
            values[start, ch] += rng.choice([-1, 1]) * rng.uniform(4, 7) * std[ch]
        elif kind == "shift":
            end = min(n, start + rng.integers(3, 13))
            values[start:end, ch] += rng.choice([-1, 1]) * rng.uniform(2, 4) * std[ch]
        else:
            end = min(n, start + rng.integers(6, 25))
            values[start:end, ch] = values[start, ch]
        anomaly[start:end] = True
