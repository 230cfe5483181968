"""The project file (lstm-edge.toml): one description of a user's own model that the chain accepts.

    name = "my-gru"
    [module]    path = "net.py:Net"   weights = "net.safetensors"   example_shape = [2, 50, 4]   init_args = {…}
    [data]      evaluation = "eval.npz"      (x, y[, lengths])      calibration = "calib.npz"   (x)
    [metric]    name = "mae"                 or   function = "metric.py:score"   lower_is_better = true
    [parity]    batch_sizes, lengths, seed   (the random grid, as in a model spec)
    [streaming] length, horizons, chunk, fp32/fp16/int8 drift budgets (as in a model spec)
    [[tolerance]] parent, child, atol, rtol, metric_increase   (the spec's budget table)

Read like a model spec (lstm_edge/model/spec.py): unknown keys, wrong types and impossible
values are refused naming the key (exit 3); paths are relative to the project file and must
exist; the data files are read here (npz, never a pickle) and checked against each other.
`lstm-edge init` writes a starting file from what it inspects (lstm_edge/project/init.py).
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lstm_edge.errors import InvalidInputError
from lstm_edge.model.spec import (ParityGridSpec, StreamingSpec, Tolerance, check_streaming, check_tolerances, drop_none,
                                  find_budget, from_table)

PROJECT_FILE = "lstm-edge.toml"


@dataclass(frozen=True)
class ModuleSpec:
    path: str                        # "file.py:ClassName", relative to the project file
    weights: str                     # safetensors (a pickle is refused, exit 4)
    example_shape: tuple[int, ...]   # x as forward() takes it: (B, T, F); (B, T) token ids; (T, B, F) time-major
    init_args: dict = field(default_factory=dict)   # the class's constructor keyword arguments
    tflite_time: str = "any"         # the general TFLite path (GRU, proj_size, bidirectional): a WHILE loop taking
                                     # any T ("any"), or unrolled at example_shape's T ("fixed": 5× faster
                                     # on a GRU at T = 30, that T only; lstm_edge/byo/to_tflite.general)


@dataclass(frozen=True)
class DataFiles:
    evaluation: str                  # npz: x (the module's layout), y (what the metric compares with)[, lengths]
    calibration: str = ""            # npz: x, for the quantizers; "" = the evaluation inputs


@dataclass(frozen=True)
class MetricSpec:
    name: str = ""                   # built-in (lstm_edge/runtime/metrics.py): mae, rmse, mse, accuracy, f1, cross_entropy
    function: str = ""               # or your own "file.py:function", called as function(y_pred, y_true) -> float
    lower_is_better: bool | None = None   # required with `function`; with a built-in name it must agree with it


# A project's streaming budgets: fp32 drift held to 1e-5 at every horizon; fp16 and int8 drift recorded and
# judged by the user's metric (lstm-edge's own models hold 1e-3 and 0.1, which their training keeps true).
PROJECT_STREAMING = StreamingSpec(fp16=(), int8=())


@dataclass(frozen=True)
class Project:
    name: str
    module: ModuleSpec
    data: DataFiles
    metric: MetricSpec
    description: str = ""
    parity: ParityGridSpec = field(default_factory=ParityGridSpec)
    streaming: StreamingSpec = field(default_factory=lambda: PROJECT_STREAMING)   # the step artefact's 10 000-step check
    tolerance: tuple[Tolerance, ...] = ()
    root: str = "."                  # the project file's directory (not a key of the file)

    def path(self, relative: str) -> Path:
        return Path(self.root) / relative

    def budget(self, parent: str, child: str) -> Tolerance:
        return find_budget(self.tolerance, parent, child, f"project '{self.name}'")

    def to_dict(self) -> dict:
        """As TOML holds it, without `root` and nulls."""
        return drop_none({k: v for k, v in dataclasses.asdict(self).items() if k != "root"})


def load_project(path: str | Path) -> Project:
    path = Path(path)
    if path.is_dir():
        path = path / PROJECT_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"project file {path} does not exist",
                                hint="write one with lstm-edge init --module net.py:Net --weights net.safetensors "
                                     "--example-shape 2,50,4") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"project file {path} is not valid TOML: {e}") from None
    return project_from_dict(raw, root=path.parent, where=str(path))


def project_from_dict(raw: dict, *, root: Path, where: str = "project") -> Project:
    if isinstance(raw, dict) and "root" in raw:
        raise InvalidInputError(f"{where}: unknown key 'root'", hint="paths are relative to the project file")
    project = dataclasses.replace(from_table(Project, raw, where), root=str(root))
    _check(project, where)
    return project


def _check(p: Project, where: str) -> None:
    problems = []
    mod, _, cls = p.module.path.rpartition(":")
    if not mod or not cls:
        problems.append(f"module.path {p.module.path!r}: expected 'file.py:ClassName'")
    elif not p.path(mod).is_file():
        problems.append(f"module.path: {p.path(mod)} does not exist")
    if not p.path(p.module.weights).is_file():
        problems.append(f"module.weights: {p.path(p.module.weights)} does not exist")
    if p.module.tflite_time not in ("any", "fixed"):
        problems.append(f"module.tflite_time {p.module.tflite_time!r}: expected \"any\" or \"fixed\"")
    if len(p.module.example_shape) < 2 or min(p.module.example_shape) < 1:
        problems.append(f"module.example_shape {list(p.module.example_shape)}: at least (B, T), every size ≥ 1")
    for key in ("evaluation", "calibration"):
        name = getattr(p.data, key)
        if name and not p.path(name).is_file():
            problems.append(f"data.{key}: {p.path(name)} does not exist")
    problems += _metric_problems(p.metric)
    if any(b <= 0 for b in p.parity.batch_sizes) or any(t <= 0 for t in p.parity.lengths):
        problems.append("parity.batch_sizes and parity.lengths must be positive")
    check_tolerances(p.tolerance, problems)
    check_streaming(p.streaming, problems)
    if problems:
        raise InvalidInputError(f"{where}: " + "; ".join(problems))


def _metric_problems(m: MetricSpec) -> list[str]:
    from lstm_edge.runtime.metrics import BUILTIN

    if bool(m.name) == bool(m.function):
        return ["metric: give exactly one of name (a built-in: " + ", ".join(BUILTIN) + ") or function ('file.py:function')"]
    if m.name and m.name not in BUILTIN:
        return [f"metric.name {m.name!r} is not a built-in metric; choose from {', '.join(BUILTIN)}, "
                "or give function = 'file.py:function' with lower_is_better"]
    if m.name and m.lower_is_better is not None and m.lower_is_better != BUILTIN[m.name].lower_is_better:
        return [f"metric.lower_is_better = {str(m.lower_is_better).lower()} contradicts {m.name!r}, for which "
                f"{'lower' if BUILTIN[m.name].lower_is_better else 'higher'} is better"]
    if m.function and m.lower_is_better is None:
        return [f"metric.function {m.function!r} needs lower_is_better = true or false: lstm-edge cannot know "
                "which way your metric improves"]
    if m.function and ":" not in m.function:
        return [f"metric.function {m.function!r}: expected 'file.py:function'"]
    return []


def read_data(p: Project, key: str) -> dict[str, np.ndarray]:
    """data.evaluation (x, y[, lengths]) or data.calibration (x), read without pickles, checked:
    x first, y with as many rows as x (the module's batch axis comes from example_shape)."""
    from lstm_edge.runtime.sniff import read_npz

    name = getattr(p.data, key) or (p.data.evaluation if key == "calibration" else "")
    path = p.path(name)
    arrays = read_npz(path)
    where = f"{path} (data.{key})"
    if "x" not in arrays:
        raise InvalidInputError(f"{where} has no array 'x' (it has {sorted(arrays)})",
                                hint="np.savez(path, x=inputs, y=targets) — x in the layout forward() takes")
    if key == "evaluation" and "y" not in arrays:
        raise InvalidInputError(f"{where} has no array 'y', the targets the metric compares the outputs with",
                                hint="np.savez(path, x=inputs, y=targets)")
    x = arrays["x"]
    if x.ndim != len(p.module.example_shape):
        raise InvalidInputError(f"{where}: x has shape {x.shape}, but module.example_shape "
                                f"{list(p.module.example_shape)} has rank {len(p.module.example_shape)}")
    if x.shape[2:] != tuple(p.module.example_shape[2:]):
        raise InvalidInputError(f"{where}: x has feature shape {x.shape[2:]}, module.example_shape "
                                f"{list(p.module.example_shape)} has {tuple(p.module.example_shape[2:])}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise InvalidInputError(f"{where}: x has non-finite values at {tuple(int(i) for i in np.argwhere(~np.isfinite(x))[0])}")
    return arrays


def toml_value(v) -> str:
    """A TOML value (the project's shapes: scalars, lists, inline tables): one writer for init and prepare."""
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def project_toml(table: dict, prefix: str = "") -> str:
    """A small TOML writer for the project's own shapes (scalars, lists, inline tables, [[tolerance]])."""
    value = toml_value
    lines = [f"{k} = {value(v)}" for k, v in table.items() if not isinstance(v, (dict, list)) or
             (isinstance(v, list) and not (v and isinstance(v[0], dict)))]
    for k, v in table.items():
        if isinstance(v, dict):
            lines += ["", f"[{prefix}{k}]"] + [f"{kk} = {value(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for row in v:
                lines += ["", f"[[{prefix}{k}]]"] + [f"{kk} = {value(vv)}" for kk, vv in row.items()]
    return "\n".join(lines) + "\n"
