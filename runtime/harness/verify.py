"""`python -m lstm_edge.runtime verify BUNDLE`: prove on the device that the bundle is the one CI
passed and still computes the same numbers.

After the file checks (bundle_files), every artefact the installed runtime can run is fed the
golden inputs and judged exactly as `lstm-edge verify` judged it on the host: against its
parent stage's outputs (recorded by the host in golden.npz) with the budget from the model
spec — atol/rtol element-wise, and for quantized stages the task metric, which may rise at
most `metric_increase` over the parent's. Beside the verdict: the largest difference from
PyTorch and from the host's own run of the same artefact ("vs CI host").
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import numpy as np

from lstm_edge.errors import EnvironmentFault
from lstm_edge.runtime.budget import element_excess, elements_within, format_increase, metric_verdict

RUNTIME_MODULES = {"onnxruntime": "onnxruntime", "litert": "ai_edge_litert"}


def _bits_per_char(y: np.ndarray, target: np.ndarray) -> float:
    """y (N, T, V) logits, target (N, T) ids: mean −log2 p(target), as lstm_edge.tasks.charlm scores it."""
    z = y.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return float(-np.take_along_axis(logp, target.astype(np.int64)[..., None], axis=-1).mean() / np.log(2))


# Task metrics the device can score from the golden windows, as lstm_edge.tasks scores them on the
# host; the manifest says which one and whether lower is better.
METRICS = {
    # forecast MAE in training-std units, last step of each window
    "mae_std_units": lambda y, target: float(np.mean(np.abs(y[:, -1].astype(np.float64) - target))),
    # the adding problem: squared error of the sum, read at the last step
    "mse": lambda y, target: float(np.mean((y[:, -1].astype(np.float64) - target) ** 2)),
    # gestures: the class with the largest logit at the last step
    "accuracy": lambda y, target: float(np.mean(np.argmax(y[:, -1], axis=-1) == target)),
    # characters: every step of every window
    "bits_per_char": _bits_per_char,
}


def metric_function(metric: dict, bundle):
    """The manifest's metric: a task's (METRICS above), a project's built-in (runtime/metrics.py), or the
    user's own function shipped as a file of the bundle (hash-checked with the rest; it imports only
    numpy and the standard library). None when the bundle says the device cannot score it."""
    table = metric.get("table", "task")
    if table == "builtin":
        from lstm_edge.runtime.metrics import BUILTIN

        return BUILTIN[metric["name"]].fn
    if table == "user":
        if not metric.get("file"):
            return None
        import importlib.util

        spec = importlib.util.spec_from_file_location("lstm_edge_bundle_metric", bundle.root / metric["file"])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, metric["function"])
    return METRICS[metric["name"]]


def runtime_installed(runtime: str) -> bool:
    """Whether the runtime imports here (absent, or present but broken, both count as no)."""
    try:
        importlib.import_module(RUNTIME_MODULES[runtime])
        return True
    except ImportError:
        return False


@dataclass
class ArtifactCheck:
    file: str
    runtime: str
    precision: str
    parent: str
    status: str = "skipped"             # pass | FAIL | skipped
    reason: str = ""
    vs_parent: float | None = None       # max |Δ| over judged outputs and cases
    vs_pytorch: float | None = None
    vs_host: float | None = None
    metric: float | None = None
    parent_metric: float | None = None
    metric_increase: float | None = None  # relative, for the worse (lstm_edge/runtime/budget.py)
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def verify_bundle(bundle, *, threads: int = 1) -> list[ArtifactCheck]:
    """One ArtifactCheck per artefact; raises EnvironmentFault if no runtime for any is installed.

    Each artefact runs in its own child process: a bundle's bytes come from elsewhere, and a
    native runtime that crashes on one (a signal) must become a named verdict ("CRASH", exit 3
    from the harness), not take the harness down."""
    checks = []
    for a in bundle.artifacts:
        check = ArtifactCheck(a["file"], a["runtime"], a["precision"], a["parent"])
        checks.append(check)
        if not runtime_installed(a["runtime"]):
            check.reason = f"{RUNTIME_MODULES[a['runtime']]} is not installed here"
            continue
        try:
            got = run_isolated(bundle, a["file"], threads)
        except Crashed as e:
            check.status, check.reason = "CRASH", str(e)
            continue
        judge(check, a, got, bundle)
    if all(c.status == "skipped" for c in checks):
        raise EnvironmentFault(f"{bundle.root}: no artefact in this bundle can run here "
                               f"({', '.join(sorted({c.reason for c in checks}))})",
                               hint="pip install lstm-edge (brings onnxruntime and ai-edge-litert), or one of them")
    return checks


class Crashed(Exception):
    pass


def run_isolated(bundle, file: str, threads: int, inputs: str | None = None) -> dict:
    """{case: outputs} of one artefact on the golden inputs (or on those of the npz `inputs`, in the golden
    file's layout: the pytest plugin's committed golden vectors), computed in a child process."""
    import tempfile
    from pathlib import Path

    from lstm_edge.errors import InvalidInputError
    from lstm_edge.runtime.child import run_child
    from lstm_edge.runtime.sniff import read_npz

    with tempfile.TemporaryDirectory() as tmp:
        r = run_child("lstm_edge.runtime.harness.verify", [bundle.root, file, threads, tmp] + ([inputs] if inputs else []),
                      timeout=900)
        if r.crash:
            raise Crashed(r.crash)
        if r.failed:
            raise InvalidInputError(f"{bundle.root / file}: {r.last_error[:400]}")
        outputs = read_npz(Path(tmp) / "outputs.npz")
    return {case: {k.split(".", 1)[1]: v for k, v in outputs.items() if k.startswith(case + ".")} for case in bundle.cases}


def _child(root: str, file: str, threads: str, out_dir: str, inputs: str | None = None) -> None:
    import os
    import sys

    import numpy as np

    from lstm_edge.errors import LstmEdgeError
    from lstm_edge.runtime.harness.bundle_files import open_bundle
    from lstm_edge.runtime.runner import open_sequence_runner

    if os.environ.get("LSTM_EDGE_INJECT_CRASH") == file:   # fault injection for the tests: a native crash
        os.abort()
    try:
        bundle = open_bundle(root)                           # the child trusts nothing either
        if inputs is not None:                               # golden vectors kept elsewhere (lstm_edge/pytest_plugin.py)
            from lstm_edge.runtime.harness.bundle_files import Bundle
            from lstm_edge.runtime.sniff import read_npz

            bundle = Bundle(bundle.root, bundle.manifest, read_npz(inputs))
        runner = open_sequence_runner(bundle.root / file, threads=int(threads), in_process=True)
        outs = {f"{case}.{k}": v for case in bundle.cases for k, v in runner.run(bundle.inputs(case)).items()}
    except LstmEdgeError as e:
        print(f"lstm-edge: {e.kind}: {e.message}", file=sys.stderr)
        sys.exit(e.exit_code)
    np.savez(os.path.join(out_dir, "outputs.npz"), **outs)


def judge(check: ArtifactCheck, a: dict, got: dict, bundle) -> None:
    """Fill `check`: the budget against the parent, and the recorded differences."""
    budget, outputs = a["budget"], a["outputs"]
    atol, rtol = budget.get("atol"), budget.get("rtol")
    for case, out in got.items():
        parent = bundle.outputs(a["parent"], case)
        for name in outputs:
            if name not in parent:
                continue   # the parent does not expose it (the fused TFLite kernel has no cn)
            mine = aligned(out[name], parent[name])
            d = np.abs(mine - parent[name])
            check.vs_parent = max(check.vs_parent or 0.0, float(d.max()))
            if atol is not None and not elements_within(mine, parent[name], atol, rtol):
                over = np.nan_to_num(element_excess(mine, parent[name], atol, rtol), nan=np.inf)   # NaN is worst
                idx = tuple(int(i) for i in np.unravel_index(np.argmax(over), over.shape))
                check.failures.append(f"{case}: output '{name}' differs from {a['parent']} by {d[idx]:.3g} at "
                                      f"{idx}, budget {atol:g} + {rtol:g}·|ref|")
        for ref, attr in (("pytorch", "vs_pytorch"), (a["stage"], "vs_host")):
            expected = bundle.outputs(ref, case)
            for name in outputs:
                if name in expected:
                    d = float(np.abs(aligned(out[name], expected[name]) - expected[name]).max())
                    setattr(check, attr, max(getattr(check, attr) or 0.0, d))
    increase = budget.get("metric_increase")
    metric = bundle.manifest.get("metric")
    score = metric_function(metric, bundle) if metric else None
    if metric and score is None:
        check.reason = f"metric {metric['name']} not available on the device: {metric.get('why', '')}"
    if score is not None and metric["case"] in got:
        target = bundle.golden[f"{metric['case']}.target"]
        check.metric = score(got[metric["case"]]["y"], target)
        check.parent_metric = score(bundle.outputs(a["parent"], metric["case"])["y"], target)
        verdict = metric_verdict(check.metric, check.parent_metric, metric.get("lower_is_better", True), increase)
        check.metric_increase = verdict["increase"]
        if not verdict["passed"]:
            check.failures.append(f"{metric['name']} {check.metric:.5f} is {format_increase(verdict['increase'])} worse "
                                  f"than {a['parent']}'s {check.parent_metric:.5f}; budget {format_increase(increase, 1)}")
    check.status = "FAIL" if check.failures else "pass"


def aligned(got: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """`got` as float64, cut to the trailing time steps the golden file kept (y of the windows
    case is stored at its last step only)."""
    if got.shape != stored.shape and got.ndim == 3 and got.shape[1] > stored.shape[1]:
        got = got[:, -stored.shape[1]:]
    return got.astype(np.float64)


HEADER = ("artefact", "runtime", "precision", "parent", "max|Δ| vs parent", "metric (vs parent)",
          "max|Δ| vs pytorch", "max|Δ| vs CI host", "verdict")


def table_rows(checks: list[ArtifactCheck]) -> list[tuple[str, ...]]:
    def num(v):
        return "—" if v is None else f"{v:.2e}"

    rows = []
    for c in checks:
        metric = "—" if c.metric is None else f"{c.metric:.5f} ({format_increase(c.metric_increase)} worse)"
        verdict = {"skipped": f"skipped: {c.reason}", "CRASH": f"CRASH: {c.reason}"}.get(c.status, c.status)
        rows.append((c.file, c.runtime, c.precision, c.parent, num(c.vs_parent), metric,
                     num(c.vs_pytorch), num(c.vs_host), verdict))
    return rows


def format_table(header, rows) -> str:
    """A plain-text table (no rich on the device)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()   # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


if __name__ == "__main__":
    import sys

    _child(*sys.argv[1:6])
