"""A verify Report as JUnit XML (lstm_edge/runtime/junit.py writes the format the device writes too):
one testcase per stage × output (its worst case against the budget), one per stage for the metric budget
(the root: PyTorch must beat its shuffled predictions), one per streaming horizon. Run metadata (model,
task, library versions, verdict) as suite properties."""
from __future__ import annotations

from pathlib import Path

from lstm_edge.runtime import junit


def report_cases(report) -> list[junit.Case]:
    cases = []
    for s in report.stages:
        d = s.to_dict()
        if not s.parent:                                      # the root: judged on its task
            m = s.metrics
            cases.append(junit.Case(f"{s.name}::metric", failure=None if s.passed else
                                    f"{m.get('metric')} {m.get('value')} does not beat {m.get('baseline')} "
                                    f"({m.get('baseline_name', 'the baseline')})", detail=str(m.get("summary", ""))))
            continue
        budget = junit.budget_text(d["budget"])
        for out, w in d["outputs"].items():
            figures = (f"max abs {w['max_abs']:.3g} (max rel {w['max_rel']:.3g}) at {w['worst_index']} of case "
                       f"'{w['case']}' vs {s.parent}; {budget}")
            cases.append(junit.Case(f"{s.name}::{out}", failure=None if w["passed"] else figures, detail=figures,
                                    budget_key=f"{s.parent}->{s.name}.atol"))
        for out, why in s.missing_outputs.items():
            cases.append(junit.Case(f"{s.name}::{out}", skipped=f"not exposed by this format: {why}"))
        if not s.comparisons:
            cases.append(junit.Case(f"{s.name}::parity", failure="no parity case ran on this artefact"))
        if s.metric_check is not None:
            mc = s.metric_check
            text = (f"{mc['metric']} worse by {100 * mc['increase']:+.2f} % than {s.parent}; budget "
                    f"{100 * s.budget.metric_increase:+.2f} %")
            cases.append(junit.Case(f"{s.name}::metric", failure=None if mc["passed"] else text, detail=text,
                                    budget_key=f"{s.parent}->{s.name}.metric_increase"))
    for r in report.streaming:
        for d in r.drift:
            text = (f"drift at step {d['horizon']}: y {d['y']:.3g}, h {d['h']:.3g}" + (f", c {d['c']:.3g}" if
                    d.get("c") is not None else "") + f"; budget {d['budget']}")
            cases.append(junit.Case(f"{r.stage}::drift@{d['horizon']}", failure=None if d["passed"] else text,
                                    detail=text, budget_key=f"streaming.{r.precision}"))
        if r.precision == "fp32" and r.equivalence:
            text = f"stepped vs whole sequence: {r.equivalence}; budget {r.equivalence_budget:g}"
            cases.append(junit.Case(f"{r.stage}::stream-equivalence", failure=None if r.equivalent else text, detail=text,
                                    budget_key="streaming.fp32"))
    for r in report.regressions:                                  # verify --baseline
        name = f"{r['stage']}::{r['output']}" if r["output"] else r["stage"]
        cases.append(junit.Case(f"{name}::regression.{r['figure']}", failure=None if r["passed"] else r["message"],
                                detail=r["message"]))
    return cases


def write_report_junit(path: Path, report, cases: list | None = None) -> None:
    props = {"model": report.model, "task": report.task, "created": report.created,
             "verdict": "PASS" if report.passed else "FAIL", "warn_only": str(report.warn_only).lower()}
    props |= {f"version.{k}": v for k, v in report.library_versions.items()}
    junit.write(path, f"lstm-edge verify: {report.model}", f"lstm-edge.{report.model}",
                report_cases(report) if cases is None else cases, props)
