"""The model spec: one TOML file in models/ says what to train and what budgets to hold.

A spec is validated as it is read: unknown keys, wrong types and impossible sizes are
refused (exit 3) naming the key, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from lstm_edge.errors import InvalidInputError

# data.source → the task it trains (lstm_edge/tasks/): the spec refuses any other source
TASK_OF_SOURCE = {"sensor": "forecast", "csv": "forecast", "adding": "adding", "gesture": "gesture", "text": "charlm"}


@dataclass(frozen=True)
class DataSpec:
    source: str = "sensor"          # the task's data (lstm_edge.tasks): sensor | csv (forecast), adding, gesture, text (charlm)
    days: int = 180                 # generator length: 180 days of hourly samples = 4320 steps
    seed: int = 0                   # generator seed: same seed, same bytes
    targets: tuple[str, ...] = ("temperature", "load")   # channels forecast one horizon ahead
    features: tuple[str, ...] = ()  # input channels; empty = every channel of the data
    window: int = 48                # steps per training window (two days of hourly data)
    horizon: int = 1                # forecast y[t] is the target at t + horizon
    split: tuple[float, ...] = (0.7, 0.15, 0.15)  # time-ordered train/val/test fractions
    period: int = 24                # seasonal period for the seasonal-naive baseline
    sequences: int = 4000           # adding, gesture: generated sequences, shared by the split
    corpus: str = "lstm-edge-docs"  # text: the shipped corpus (lstm_edge/data/corpus/NAME.txt) unless --data


@dataclass(frozen=True)
class ModelSpec:
    hidden_size: int = 64           # H: width of every LSTM layer
    num_layers: int = 2             # L: stacked nn.LSTM layers
    embedding_dim: int = 0          # > 0: x holds token ids, looked up in an nn.Embedding (text only)


@dataclass(frozen=True)
class TrainSpec:
    seed: int = 0                   # torch seed: weights and batch order are reproducible
    max_epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 3e-3
    patience: int = 5               # early stopping: epochs without a better validation loss
    warmup_steps: int = 24          # loss ignores the first steps of a window: too little context
    forget_bias: float = 0.0        # ≠ 0: every layer's forget-gate b_ih starts at this value (0: PyTorch's init)
    weight_decay: float = 0.0       # > 0: AdamW's decoupled decay; keeps the weights' gains, and fp32 error growth, small


@dataclass(frozen=True)
class Tolerance:
    """Budget of one stage against its parent.

    Elements: pass iff |a − b| ≤ atol + rtol·|b| everywhere (omit both to record only, as
    for int8 stages). Task: the child's test MAE may exceed its parent's by at most
    `metric_increase` (relative: 0.02 = 2 %). At least one of the two must be set.
    """

    parent: str
    child: str
    atol: float | None = None
    rtol: float | None = None
    metric_increase: float | None = None

    @property
    def elementwise(self) -> bool:
        return self.atol is not None


@dataclass(frozen=True)
class ParityGridSpec:
    """The random-input grid every exported stage is checked on (besides the test windows)."""

    batch_sizes: tuple[int, ...] = (1, 2, 7)
    lengths: tuple[int, ...] = (1, 2, 50, 1000)
    seed: int = 1234


@dataclass(frozen=True)
class StreamingSpec:
    """Streaming checks: one long sequence stepped through every artefact that returns (h, c).

    Drift budgets are per horizon and per precision class: at horizon n, every y[t < n] and
    the state (h_n, c_n) must satisfy |a − b| ≤ atol + rtol·|b| against PyTorch. Equivalence
    (stepping, chunks of `chunk`, the whole sequence: the same numbers) holds fp32 budgets."""

    length: int = 10000                          # steps in the stream (the longest horizon)
    horizons: tuple[int, ...] = (1, 100, 1000, 10000)
    chunk: int = 7
    fp32: tuple[float, ...] = (1e-5, 1e-5, 1e-5, 1e-5)       # atol = rtol at each horizon
    fp16: tuple[float, ...] = (1e-3, 1e-3, 1e-3, 1e-3)       # [] = recorded, judged by the task budget only
    int8: tuple[float, ...] = (0.1, 0.1, 0.1, 0.1)

    def budget(self, precision: str) -> tuple[float, ...]:
        return self.fp32 if precision == "fp32" else self.fp16 if precision.startswith("fp16") else self.int8


@dataclass(frozen=True)
class Spec:
    name: str
    description: str = ""
    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    parity: ParityGridSpec = field(default_factory=ParityGridSpec)
    streaming: StreamingSpec = field(default_factory=StreamingSpec)
    tolerance: tuple[Tolerance, ...] = ()

    def budget(self, parent: str, child: str) -> Tolerance:
        """The tolerance for (parent, child). A missing budget is an error, never a pass."""
        return find_budget(self.tolerance, parent, child, f"model spec '{self.name}'")

    def to_dict(self) -> dict:
        """As TOML would hold it (no nulls), so spec_from_dict(spec.to_dict()) == spec."""
        return drop_none(dataclasses.asdict(self))


def drop_none(v):
    """A dataclass's asdict() as TOML holds it: None values (TOML has no null) left out, tuples as lists."""
    if isinstance(v, dict):
        return {k: drop_none(x) for k, x in v.items() if x is not None}
    return [drop_none(x) for x in v] if isinstance(v, (list, tuple)) else v


def find_budget(tolerances, parent: str, child: str, owner: str) -> Tolerance:
    """The tolerance for (parent, child) in a spec's or a project's table. A missing budget is an
    error, never a pass."""
    for t in tolerances:
        if (t.parent, t.child) == (parent, child):
            return t
    raise InvalidInputError(
        f"{owner} has no tolerance for stage '{child}' against '{parent}'",
        hint=f'add [[tolerance]] parent = "{parent}" child = "{child}" atol = ... rtol = ... to it',
    )


def check_tolerances(tolerances, problems: list[str]) -> None:
    """Each budget well-formed (appends to `problems`): atol with rtol, at least one budget, none negative,
    one row per (parent, child) — a second row would be ignored without a word (the first one is read)."""
    seen = set()
    for t in tolerances:
        where_t = f"tolerance {t.parent}->{t.child}"
        if (t.parent, t.child) in seen:
            problems.append(f"{where_t}: a duplicate row (one [[tolerance]] per parent and child)")
        seen.add((t.parent, t.child))
        if (t.atol is None) != (t.rtol is None):
            problems.append(f"{where_t}: give atol and rtol together")
        if t.atol is None and t.metric_increase is None:
            problems.append(f"{where_t}: no budget (set atol/rtol, metric_increase, or both)")
        if any(v is not None and v < 0 for v in (t.atol, t.rtol, t.metric_increase)):
            problems.append(f"{where_t}: atol/rtol/metric_increase must be >= 0")


def check_streaming(st: StreamingSpec, problems: list[str]) -> None:
    """The streaming table well-formed (appends to `problems`): one budget per horizon, horizons in range."""
    if len(st.fp32) != len(st.horizons) or any(len(b) not in (0, len(st.horizons)) for b in (st.fp16, st.int8)):
        problems.append(f"streaming: fp32 needs one budget per horizon ({len(st.horizons)}); fp16 and int8 "
                        "one per horizon, or [] to record their drift without judging it")
    if st.length < 1 or st.chunk < 1 or any(h < 1 or h > st.length for h in st.horizons):
        problems.append(f"streaming: horizons must lie in 1..length ({st.length}), chunk ≥ 1")


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"model spec {path} does not exist", hint="see models/ for the shipped specs")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"model spec {path} is not valid TOML: {e}")
    return spec_from_dict(raw, where=str(path))


def spec_from_dict(raw: dict, where: str = "spec") -> Spec:
    spec = from_table(Spec, raw, where)
    _check_sizes(spec, where)
    return spec


def from_table(cls, table, where: str):
    """Build dataclass `cls` from a TOML table, refusing unknown keys and wrong types."""
    if not isinstance(table, dict):
        raise InvalidInputError(f"{where}: expected a table, got {type(table).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise InvalidInputError(
            f"{where}: unknown key(s) {', '.join(repr(k) for k in unknown)}",
            hint=f"known keys here: {', '.join(sorted(names))}",
        )
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [k for k in required if k not in table]
    if missing:
        raise InvalidInputError(f"{where}: missing key(s) {', '.join(repr(k) for k in missing)}",
                                hint="add " + ", ".join(f"{k} = …" for k in missing) + f" ({where})")
    kwargs = {}
    for key, value in table.items():
        kwargs[key] = _convert(hints[key], value, f"{where}: {key}")
    return cls(**kwargs)


def _convert(hint, value, where: str):
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_table(hint, value, where)
    if origin in (typing.Union, types.UnionType):      # "float | None": TOML has no null, so a value is a float
        return _convert(next(a for a in typing.get_args(hint) if a is not type(None)), value, where)
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise InvalidInputError(f"{where}: expected a list, got {value!r}")
        return tuple(_convert(item_type, v, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise InvalidInputError(f"{where}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def _check_sizes(spec: Spec, where: str) -> None:
    problems = []
    positive = {
        "data.days": spec.data.days, "data.window": spec.data.window, "data.horizon": spec.data.horizon,
        "data.period": spec.data.period, "model.hidden_size": spec.model.hidden_size,
        "model.num_layers": spec.model.num_layers, "train.max_epochs": spec.train.max_epochs,
        "train.batch_size": spec.train.batch_size,
    }
    problems += [f"{k} must be > 0, got {v}" for k, v in positive.items() if v <= 0]
    if spec.model.hidden_size > 4096 or spec.model.num_layers > 16:
        problems.append("model sizes beyond hidden_size 4096 / num_layers 16 are not supported")
    if not spec.train.learning_rate > 0:
        problems.append(f"train.learning_rate must be > 0, got {spec.train.learning_rate}")
    if len(spec.data.split) != 3 or any(s <= 0 for s in spec.data.split) or abs(sum(spec.data.split) - 1) > 1e-6:
        problems.append(f"data.split must be three positive fractions summing to 1, got {list(spec.data.split)}")
    if spec.data.source not in TASK_OF_SOURCE:
        problems.append(f"data.source must be one of {', '.join(TASK_OF_SOURCE)}, got {spec.data.source!r}")
    if (spec.data.source == "text") != (spec.model.embedding_dim > 0):
        problems.append("model.embedding_dim > 0 goes with data.source = 'text' (token ids in, an embedding), and only with it")
    if spec.data.sequences < 10 or spec.model.embedding_dim < 0:
        problems.append("data.sequences must be ≥ 10 and model.embedding_dim ≥ 0")
    if not spec.data.targets:
        problems.append("data.targets must name at least one column")
    if spec.train.warmup_steps >= spec.data.window:
        problems.append(f"train.warmup_steps ({spec.train.warmup_steps}) must be < data.window ({spec.data.window})")
    check_streaming(spec.streaming, problems)
    if any(b <= 0 for b in spec.parity.batch_sizes) or any(t <= 0 for t in spec.parity.lengths):
        problems.append("parity.batch_sizes and parity.lengths must be positive")
    check_tolerances(spec.tolerance, problems)
    if problems:
        raise InvalidInputError(f"{where}: " + "; ".join(problems))


def with_data_overrides(spec: Spec, *, data=None, targets=None, features=None, period=None) -> Spec:
    """The spec with command-line data choices applied (a CSV, its target/feature columns)."""
    from lstm_edge.errors import UsageError

    changes = {}
    if data is not None and spec.data.source in ("adding", "gesture"):
        raise UsageError(f"model spec '{spec.name}' generates its data ({spec.data.source}); --data does not apply")
    if data is not None and spec.data.source != "text":   # text: --data is the corpus file
        changes["source"] = "csv"
    if targets:
        changes["targets"] = tuple(targets)
    if features:
        changes["features"] = tuple(features)
    if period is not None:
        changes["period"] = period
    if data is not None and not targets and spec.data.source not in ("csv", "text"):
        raise UsageError("--data needs at least one --target COLUMN to forecast")
    new = dataclasses.replace(spec, data=dataclasses.replace(spec.data, **changes))
    _check_sizes(new, "command line")
    return new
