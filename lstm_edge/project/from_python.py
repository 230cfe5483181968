"""The Python API of the whole chain: `lstm_edge.export(model, example, out, evaluation=…, metric=…)`
runs what `lstm-edge pipeline --project` runs, from objects in memory instead of files.

The chain's output is self-contained and re-checkable later (`lstm-edge verify OUT`, the bundle), so
the module must be importable again from its file: its class is taken from the file that defines it
(inspect.getsourcefile) and rebuilt with `init_args`; a class defined in a script run as __main__ or in
a notebook cell has no such file and is refused by name. The metric is a built-in name or a function
defined in a file (a lambda is refused: it has no file to travel with). A project file is written
from these (lstm_edge/project/file.py) into a work directory beside OUT and read back exactly as the
CLI reads one; OUT is published atomically by the pipeline.
"""
from __future__ import annotations

import inspect
import shutil
import tempfile
from pathlib import Path

import numpy as np

from lstm_edge.errors import UsageError


def _source_of(obj, what: str) -> tuple[Path, str]:
    """(the file that defines obj, its name), or a UsageError saying why it cannot travel."""
    name = getattr(obj, "__name__", type(obj).__name__)
    module = getattr(obj, "__module__", None)
    try:
        file = inspect.getsourcefile(obj)
    except TypeError:
        file = None
    if module == "__main__" or file is None or name == "<lambda>" or not Path(file).is_file():
        where = "a lambda" if name == "<lambda>" else f"in {module}"
        raise UsageError(f"{what} {name!r} is not defined in a module file (it is {where})",
                         hint="define it in a file such as net.py (or metric.py) and import it from there: lstm-edge "
                              "loads it again from that file to verify and bundle")
    return Path(file), name


def export_project(model, example, out_dir, *, evaluation, calibration=None, metric=None, lower_is_better=None,
                   init_args=None, budgets=None, name: str | None = None, progress=None) -> dict:
    """→ report.json's content. `evaluation`: an npz path or (x, y); `calibration`: an npz path or x;
    `metric`: a built-in name or a function(y_pred, y_true) -> float from a file (with lower_is_better);
    `budgets`: [{parent, child, atol, rtol, metric_increase}] (default: lstm-edge init's)."""
    import torch
    from safetensors.torch import save_file

    from lstm_edge.pipeline import project_pipeline
    from lstm_edge.project.file import PROJECT_FILE, load_project, project_toml
    from lstm_edge.byo.recognise import recognise
    from lstm_edge.project.init import budget_rows

    if metric is None:
        raise UsageError("metric= is needed with evaluation=: a built-in name (mae, rmse, mse, accuracy, f1, "
                         "cross_entropy) or your function(y_pred, y_true) -> float")
    module_file, cls = _source_of(type(model), "the module's class")
    out_dir = Path(out_dir)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.project.", dir=out_dir.parent if out_dir.parent.exists() else None))
    try:
        shutil.copy2(module_file, work / module_file.name)
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(work / "weights.safetensors"))
        data = {"evaluation": _npz(work, "evaluation", evaluation, ("x", "y")),
                "calibration": _npz(work, "calibration", calibration, ("x",)) if calibration is not None else ""}
        table = {"name": name or cls, "module": {"path": f"{module_file.name}:{cls}", "weights": "weights.safetensors",
                                                 "example_shape": list(torch.as_tensor(np.asarray(example)).shape),
                                                 "init_args": dict(init_args or {})},
                 "data": data}
        if isinstance(metric, str):
            table["metric"] = {"name": metric} | ({} if lower_is_better is None else {"lower_is_better": lower_is_better})
        else:
            metric_file, func = _source_of(metric, "the metric function")
            if metric_file.resolve() != module_file.resolve():
                shutil.copy2(metric_file, work / metric_file.name)
            if lower_is_better is None:
                raise UsageError("lower_is_better= is needed with a metric function: lstm-edge cannot know which way "
                                 "your metric improves")
            table["metric"] = {"function": f"{metric_file.name}:{func}", "lower_is_better": bool(lower_is_better)}
        arch = recognise(model.eval(), torch.as_tensor(np.asarray(example)))     # init's budgets for this architecture
        table["tolerance"] = budgets if budgets is not None else [
            {k: v for k, v in zip(("parent", "child", "atol", "rtol", "metric_increase"), row) if v is not None}
            for row in budget_rows(arch)]
        (work / PROJECT_FILE).write_text(project_toml(table))
        report = project_pipeline(load_project(work / PROJECT_FILE), out_dir, progress=progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report.to_dict()


def _npz(work: Path, name: str, given, keys: tuple[str, ...]) -> str:
    """A path is used as it is (copied); arrays are saved as the npz a user would write."""
    if isinstance(given, (str, Path)):
        shutil.copy2(given, work / f"{name}.npz")
        return f"{name}.npz"
    if isinstance(given, dict):
        arrays = given
    elif len(keys) == 1:
        arrays = {"x": given}
    elif isinstance(given, (tuple, list)) and len(given) in (2, 3):
        arrays = dict(zip(("x", "y", "lengths"), given))
    else:
        raise UsageError(f"{name}=: an npz path, a dict of arrays, or ({', '.join(keys)}) arrays")
    np.savez(work / f"{name}.npz", **{k: np.asarray(v) for k, v in arrays.items()})
    return f"{name}.npz"
