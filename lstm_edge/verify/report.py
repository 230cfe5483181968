"""report.json (stable field names: add, never rename; report.schema.json beside this file, SCHEMA_VERSION)
and report.md."""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from lstm_edge.files import write_bytes_atomic, write_json_atomic
from lstm_edge.runtime.budget import format_increase

SCHEMA_VERSION = 1      # report.schema.json: raise it when a field changes meaning or goes away
SCHEMA = Path(__file__).with_name("report.schema.json")     # shipped with the package
LIBRARIES = ("numpy", "torch", "onnx", "onnxruntime", "tensorflow", "tf-keras", "ai-edge-litert", "safetensors")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "lstm-edge": _version("lstm-edge")}
    return out | {lib: _version(lib) for lib in LIBRARIES}


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


@dataclass
class Report:
    model: str
    stages: list                    # parity.StageResult, root first
    training: dict
    forecast: dict                  # the root's task metrics (field name kept from the forecast-only days)
    cases: list[str]
    refusals: list = field(default_factory=list)   # recipes refused at quantize time, with figures
    streaming: list = field(default_factory=list)  # streaming.StreamResult per artefact that returns (h, c)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    task: str = "forecast"          # lstm_edge.tasks: forecast, adding, gesture, charlm
    provenance: dict = field(default_factory=dict)   # source.provenance(): seeds, golden hash, budget file
    recheck: dict | None = None     # verify --recheck: the stored report and the budgets it was re-judged with
    library_versions: dict = field(default_factory=versions)   # of this run (a rechecked report keeps its own)
    regressions: list = field(default_factory=list)  # verify --baseline: lstm_edge/verify/baseline.py rows
    baseline: str | None = None     # the baseline report.json they were judged against
    warn_only: bool = False         # verify --warn-only: the verdict stands, the exit code is 0

    @property
    def passed(self) -> bool:
        return (all(s.passed for s in self.stages) and all(r.passed for r in self.streaming)
                and all(r["passed"] for r in self.regressions))

    def __bool__(self) -> bool:
        return self.passed

    def failures(self) -> list[str]:
        """One line per failed stage/output: stage, output, worst element, budget."""
        lines = []
        for s in self.stages:
            if s.passed:
                continue
            if not s.parent:
                f = s.metrics
                lines.append(f"{s.name}: does not beat the {f['baseline_name']} baseline: {f['summary']}")
            m = s.metric_check
            if m and not m["passed"]:
                lines.append(f"{s.name} (recipe {s.info.get('recipe', s.name)}): test {m['metric']} {m['value']:.4f} is "
                             f"{format_increase(m['increase'])} worse than {s.parent}'s {m['parent_value']:.4f}; "
                             f"budget {format_increase(m['budget'])}")
            for c in s.comparisons:
                for o in c.outputs:
                    if not o.passed:
                        lines.append(f"{s.name} vs {s.parent}, output '{o.output}', case '{c.case}': "
                                     f"worst element {tuple(o.worst_index)} = {o.worst_value:.8g} vs {o.worst_reference:.8g} "
                                     f"(max abs {o.max_abs:.3g}, budget atol {c.atol:g} rtol {c.rtol:g})")
        for r in self.streaming:
            if r.failed_horizon is not None:
                d = next(d for d in r.drift if not d["passed"])
                lines.append(f"{r.stage} streaming drifts past its {r.precision} budget at horizon {d['horizon']}: "
                             f"max |Δy| {d['y']:.3g}, |Δh| {d['h']:.3g}" + (f", |Δc| {d['c']:.3g}" if "c" in d else "")
                             + f" against PyTorch (budget {d['budget']:g})")
            if r.precision == "fp32" and not r.equivalent:
                lines.append(f"{r.stage}: stepping is not equivalent to the full sequence: {r.equivalence}")
        lines += [f"regression against {self.baseline}: {r['message']}" for r in self.regressions if not r["passed"]]
        return lines

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "verdict": "pass" if self.passed else "fail",
                "model": self.model, "task": self.task, "passed": self.passed, "created": self.created,
                "stages": [s.to_dict() for s in self.stages], "forecast": self.forecast,
                "training": {k: v for k, v in self.training.items() if k != "history"},
                "cases": self.cases, "versions": self.library_versions, "failures": self.failures(),
                "refusals": self.refusals, "streaming": [r.to_dict() for r in self.streaming],
                "seeds": self.provenance.get("seeds", {}), "golden": self.provenance.get("golden"),
                "weights_sha256": self.provenance.get("weights_sha256"),
                "budget_file": self.provenance.get("budget_file"), "warn_only": self.warn_only,
                "baseline": self.baseline, "regressions": self.regressions} | ({"recheck": self.recheck} if self.recheck else {})


QUANT_HEADER = ["recipe", "size", "× fp32", "max abs", "mean abs", "SNR dB", "max abs vs torch",
                "test metric", "worse by", "budget", "verdict"]


def quant_rows(report: Report) -> list[list[str]]:
    """One row per derived (quantized) stage on the test windows, then one per refused recipe."""
    rows = []
    for s in report.stages:
        if not s.info.get("recipe"):
            continue
        y = next(o for o in s.comparisons[0].outputs if o.output == "y")
        vp = next(o for o in s.vs_pytorch[0].outputs if o.output == "y")
        m = s.metric_check or {}
        rows.append([s.name, f"{s.size_bytes / 1024:.1f} KiB", f"{s.info.get('size_ratio', 0):.2f}",
                     f"{y.max_abs:.2e}", f"{y.mean_abs:.2e}", f"{y.snr_db:.1f}" if y.snr_db is not None else "∞",
                     f"{vp.max_abs:.2e}", f"{s.metrics['value']:.4f}",
                     format_increase(m['increase']) if m else "—", format_increase(m['budget'], 1) if m else "—",
                     "pass" if s.passed else "FAIL"])
    for r in report.refusals:
        ran = r["best_val_metric"] is not None
        rows.append([r["recipe"], "—", "—", "—", "—", "—", "—",
                     f"val {r['best_val_metric']:.4f}" if ran else "no usable attempt",
                     f"val {format_increase(r['val_metric_increase'])}" if ran else "—",
                     format_increase(r['budget_metric_increase'], 1), "refused"])
    return rows


def parity_rows(report: Report) -> list[list[str]]:
    """One row per (stage, output): the table both report.md and the CLI show."""
    rows = []
    for s in report.stages:
        if not s.parent:
            continue
        for out, w in s.worst().items():
            rows.append([s.name, s.parent, out, f"{w['max_abs']:.2e}", f"{w['max_rel']:.2e}", w["case"],
                         ",".join(map(str, w["worst_index"])),
                         f"{s.budget.atol:g}/{s.budget.rtol:g}" if s.budget.elementwise else "recorded",
                         "pass" if w["passed"] else "FAIL"])
        for out in s.missing_outputs:
            rows.append([s.name, s.parent, out, "—", "—", "—", "—", "—", "not exposed*"])
    return rows


def missing_notes(report: Report) -> list[str]:
    return [f"* {s.name} '{out}': {why}" for s in report.stages for out, why in s.missing_outputs.items()]


PARITY_HEADER = ["stage", "parent", "output", "max abs", "max rel", "worst case", "worst index", "atol/rtol", "verdict"]


def render_markdown(report: Report, plots: list[str] | None = None) -> str:
    f = report.forecast
    lines = [f"# lstm-edge report: {report.model}", "",
             f"Verdict: **{'PASS' if report.passed else 'FAIL'}** · {report.created}", "",
             "## Stages", "", f"| stage | format | precision | artifact | size | test {f['metric']} | verdict |",
             "|---|---|---|---|---|---|---|"]
    for s in report.stages:
        size = f"{s.size_bytes / 1024:.1f} KiB" if s.size_bytes else "—"
        lines.append(f"| {s.name} | {s.format} | {s.precision} | {s.artifact or '—'} | {size} | "
                     f"{s.metrics.get('value', float('nan')):.5f} | {'pass' if s.passed else 'FAIL'} |")
    lines += ["", "## Parity (worst case per output)", "",
              f"Cases: {', '.join(report.cases)}. Pass iff |child − parent| ≤ atol + rtol·|parent| everywhere.", "",
              "| " + " | ".join(PARITY_HEADER) + " |", "|" + "---|" * len(PARITY_HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in parity_rows(report)]
    lines += [""] + missing_notes(report)
    if quant_rows(report):
        lines += ["", "## Quantization (y on the test windows, against the fp32 artefact of the same format)", "",
                  f"Element errors are recorded; the verdict is the task budget (test {f['metric']} may get worse by at "
                  "most the budget, relative to the parent's), plus atol/rtol where the spec sets them (fp16).", "",
                  "| " + " | ".join(QUANT_HEADER) + " |", "|" + "---|" * len(QUANT_HEADER)]
        lines += ["| " + " | ".join(r) + " |" for r in quant_rows(report)]
        for r in report.refusals:
            lines += ["", f"**{r['recipe']} refused** (judged on the validation windows; not published). Attempts:", ""]
            for a in r["attempts"]:
                figures = (f"val {f['metric']} {a['val_metric']:.4f} ({format_increase(a['val_metric_increase'])} worse), "
                           f"mean |y − parent| {a['val_mean_abs_error_vs_parent']:.3g}" if a["result"] == "ok" else a["result"])
                lines.append(f"- `{a['options']}`: {figures}; probe {a.get('probe', {})}")
        for s in report.stages:
            if s.info.get("recipe"):
                lines.append(f"- **{s.name}**: {s.info['recipe_summary']}. Ops: {', '.join(s.info['ops'])}."
                             + (f" {s.info['note']}." if s.info.get("note") else "")
                             + (f" int8 in: {s.info['int8_ops']}." if s.info.get("int8_ops") else "")
                             + ("" if s.info.get("batch_resizable", True) else
                                " Batch not resizable (probe: " + str(s.info.get("attempts", [{}])[-1].get("probe"))
                                + "): run one sequence per call."))
    if report.streaming:
        hz = [d["horizon"] for d in report.streaming[0].drift]
        lines += ["", "## Streaming (one step per call, state carried; B = 1)", "",
                  "Equivalence: stepping vs chunks vs the whole sequence (max |Δy|; judged for fp32 at 1e-5). "
                  "Drift: max |Δ| against PyTorch of y[t < n] / h_n / c_n at each horizon n.", "",
                  "| stage | precision | equivalence | " + " | ".join(f"n = {n}: y / h / c" for n in hz) + " | verdict |",
                  "|---|---|---|" + "---|" * len(hz) + "---|"]
        for r in report.streaming:
            eq = ", ".join(f"{k} {v:.1e}" for k, v in r.equivalence.items())
            cells = [f"{d['y']:.1e} / {d['h']:.1e} / " + (f"{d['c']:.1e}" if "c" in d else "—") + ("" if d["passed"] else " ✗")
                     for d in r.drift]
            verdict = "pass" if r.passed else (f"FAIL at n = {r.failed_horizon}" if r.failed_horizon else "FAIL (equivalence)")
            lines.append(f"| {r.stage} | {r.precision} | {eq} | " + " | ".join(cells) + f" | {verdict} |")
    for plot in plots or []:
        lines += ["", f"![{plot}]({plot})"]
    lines += ["", f"## Task: {report.task} (PyTorch, test split)", "", f["summary"] + "."]
    if "per_target" in f:
        lines += forecast_lines(f)
    if report.regressions:
        lines += ["", f"## Against the baseline ({report.baseline})", "", "| stage | output | figure | baseline | now | "
                  "growth | limit | verdict |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['stage']} | {r['output'] or '—'} | {r['figure']} | {_num(r['baseline'])} | {_num(r['value'])} | "
                  f"{format_increase(r['growth']) if r['growth'] is not None else '—'} | "
                  f"{format_increase(r['limit'], 1) if r['limit'] is not None else '—'} | {'pass' if r['passed'] else 'FAIL'} |"
                  for r in report.regressions]
    if report.failures():
        lines += ["", "## Failures", ""] + [f"- {x}" for x in report.failures()]
    return "\n".join(lines) + "\n"


def _num(v) -> str:
    return "—" if v is None else f"{v:.3g}"


def forecast_lines(f: dict) -> list[str]:
    lines = ["", f"MAE {f['mae_std_units']:.4f} std units vs seasonal-naive {f['seasonal_naive_mae_std_units']:.4f} "
              f"({f['improvement_vs_seasonal_naive_pct']:+.1f} % better) and persistence "
              f"{f['persistence_mae_std_units']:.4f}, over {f['test_windows']} test windows.", "",
              "| target | MAE | seasonal-naive MAE | persistence MAE | better than seasonal-naive |", "|---|---|---|---|---|"]
    for name, t in f["per_target"].items():
        lines.append(f"| {name} | {t['mae']:.4f} | {t['seasonal_naive_mae']:.4f} | {t['persistence_mae']:.4f} | "
                     f"{t['improvement_vs_seasonal_naive_pct']:+.1f} % |")
    return lines


def write_report(directory: Path, report: Report, plots: list[str] | None = None) -> None:
    write_json_atomic(Path(directory) / "report.json", report.to_dict())
    from lstm_edge.emulate.check import sections       # device-check's cross-architecture results, if any

    extra = sections(directory)
    write_bytes_atomic(Path(directory) / "report.md", (render_markdown(report, plots) + ("\n" + extra if extra else "")).encode())
