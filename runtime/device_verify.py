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

RUNTIME_MODULES = {"onnxruntime": "onnxruntime", "litert": "ai_edge_litert"}

# Task metrics the device can score from the golden windows; lower is better unless stated.
METRICS = {
    # forecast MAE in training-std units, last step of each window (as lstm_edge.metrics scores it)
    "mae_std_units": lambda y, target: float(np.mean(np.abs(y[:, -1].astype(np.float64) - target))),
}


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
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def verify_bundle(bundle, *, threads: int = 1) -> list[ArtifactCheck]:
    """One ArtifactCheck per artefact; raises EnvironmentFault if no runtime for any is installed."""
    from lstm_edge.runtime.stream import open_sequence_runner

    checks = []
    for a in bundle.artifacts:
        check = ArtifactCheck(a["file"], a["runtime"], a["precision"], a["parent"])
        checks.append(check)
        if not runtime_installed(a["runtime"]):
            check.reason = f"{RUNTIME_MODULES[a['runtime']]} is not installed here"
            continue
        runner = open_sequence_runner(bundle.root / a["file"], threads=threads)
        got = {case: runner.run(bundle.inputs(case)) for case in bundle.cases}
        judge(check, a, got, bundle)
    if all(c.status == "skipped" for c in checks):
        raise EnvironmentFault(f"{bundle.root}: no artefact in this bundle can run here "
                               f"({', '.join(sorted({c.reason for c in checks}))})",
                               hint="pip install lstm-edge (brings onnxruntime and ai-edge-litert), or one of them")
    return checks


def judge(check: ArtifactCheck, a: dict, got: dict, bundle) -> None:
    """Fill `check`: the budget against the parent, and the recorded differences."""
    budget, outputs = a["budget"], a["outputs"]
    atol, rtol = budget.get("atol"), budget.get("rtol")
    for case, out in got.items():
        parent = bundle.outputs(a["parent"], case)
        for name in outputs:
            if name not in parent:
                continue   # the parent does not expose it (the fused TFLite kernel has no cn)
            d = np.abs(aligned(out[name], parent[name]) - parent[name])
            check.vs_parent = max(check.vs_parent or 0.0, float(d.max()))
            if atol is not None:
                over = d - (atol + rtol * np.abs(parent[name]))
                if (over > 0).any():
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
    if metric and metric["case"] in got:
        score, target = METRICS[metric["name"]], bundle.golden[f"{metric['case']}.target"]
        check.metric = score(got[metric["case"]]["y"], target)
        check.parent_metric = score(bundle.outputs(a["parent"], metric["case"])["y"], target)
        if increase is not None and check.metric > check.parent_metric * (1 + increase):
            rise = check.metric / check.parent_metric - 1
            check.failures.append(f"{metric['name']} {check.metric:.5f} is {100 * rise:+.2f} % over {a['parent']}'s "
                                  f"{check.parent_metric:.5f}; budget {100 * increase:+.1f} %")
    check.status = "FAIL" if check.failures else "pass"


def aligned(got: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """`got` as float64, cut to the trailing time steps the golden file kept (y of the windows
    case is stored at its last step only)."""
    if got.shape != stored.shape and got.ndim == 3 and got.shape[1] > stored.shape[1]:
        got = got[:, -stored.shape[1]:]
    return got.astype(np.float64)


HEADER = ("artefact", "runtime", "precision", "parent", "max|Δ| vs parent", "metric (Δ vs parent)",
          "max|Δ| vs pytorch", "max|Δ| vs CI host", "verdict")


def table_rows(checks: list[ArtifactCheck]) -> list[tuple[str, ...]]:
    def num(v):
        return "—" if v is None else f"{v:.2e}"

    rows = []
    for c in checks:
        metric = "—" if c.metric is None else f"{c.metric:.5f} ({100 * (c.metric / c.parent_metric - 1):+.2f} %)"
        verdict = c.status if c.status != "skipped" else f"skipped: {c.reason}"
        rows.append((c.file, c.runtime, c.precision, c.parent, num(c.vs_parent), metric,
                     num(c.vs_pytorch), num(c.vs_host), verdict))
    return rows


def format_table(header, rows) -> str:
    """A plain-text table (no rich on the device)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()   # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])
