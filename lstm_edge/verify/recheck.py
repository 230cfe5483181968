"""`lstm-edge verify --recheck report.json --budgets new.toml`: stored figures re-judged against new budgets,
without running anything.

report.json holds, per stage × output, the few points that decide any element budget (runtime/budget.py,
`envelope`: exact, not an estimate), each stage's task metric beside its parent's, and each streaming
horizon's points; so a new atol/rtol, metric_increase or drift budget gives the verdict verify would have
given with it. The report is rebuilt as a Report (lstm_edge/verify/report.py) and re-judged, so the table,
JUnit, the step summary and the annotations come out exactly as from a live verify.

The budgets file: a model spec, a project file, or a file of [[tolerance]] rows alone (and optionally a
[streaming] table of fp32 / fp16 / int8 drift budgets). Every stage of the report needs its row: a missing
budget is an error, never a pass.
"""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from lstm_edge.errors import InvalidInputError
from lstm_edge.files import read_json
from lstm_edge.model.spec import StreamingSpec, Tolerance, check_streaming, check_tolerances, find_budget, from_table
from lstm_edge.runtime.budget import envelope_within, metric_verdict
from lstm_edge.verify.budget_lines import locate
from lstm_edge.verify.compare import Comparison, OutputDiff
from lstm_edge.verify.parity import StageResult
from lstm_edge.verify.report import SCHEMA_VERSION, Report
from lstm_edge.verify.streaming import StreamResult


def load_report(path: Path) -> dict:
    """A report.json this version can re-judge (hashes of the model are not needed: nothing is run)."""
    d = read_json(Path(path))
    version = d.get("schema_version") if isinstance(d, dict) else None
    if version is None:
        raise InvalidInputError(f"{path}: no schema_version: written by an lstm-edge older than --recheck "
                                "(it lacks the figures that decide new budgets)", hint="run lstm-edge verify DIR once more")
    if version != SCHEMA_VERSION:
        raise InvalidInputError(f"{path}: schema_version {version}; this lstm-edge reads {SCHEMA_VERSION}")
    return d


def report_from_dict(d: dict) -> Report:
    """A stored report as the objects verify built (what render, JUnit and the CI outputs take)."""
    try:
        stages = [_stage(s) for s in d["stages"]]
        streams = [StreamResult(r["stage"], r["precision"], equivalence=r["equivalence_max_abs"], drift=r["drift"],
                                equivalence_budget=r["equivalence_budget"]) for r in d["streaming"]]
        return Report(model=d["model"], stages=stages, training=d["training"], forecast=d["forecast"], cases=d["cases"],
                      refusals=d["refusals"], streaming=streams, created=d["created"], task=d["task"],
                      provenance={k: d.get(k) for k in ("seeds", "golden", "weights_sha256", "budget_file")},
                      library_versions=d["versions"])
    except (KeyError, TypeError) as e:
        raise InvalidInputError(f"report.json is incomplete: {type(e).__name__} {e}",
                                hint="re-judge a report.json that lstm-edge verify wrote, unedited")


def _stage(s: dict) -> StageResult:
    b = s["budget"]
    stage = StageResult(s["name"], s["parent"], s["format"], s["precision"], s["artifact"], s["size_bytes"],
                        Tolerance(s["parent"], s["name"], b["atol"], b["rtol"], b["metric_increase"]),
                        tuple(s["outputs"]), s["missing_outputs"], metrics=s["metrics"], info=dict(s.get("info", {})),
                        metric_check=s["metric_check"])
    stage.comparisons = [_comparison(c) for c in s["cases"]]
    stage.vs_pytorch = [_comparison(c) for c in s["vs_pytorch_cases"]]
    return stage


def _comparison(c: dict) -> Comparison:
    fields = {f.name for f in dataclasses.fields(OutputDiff)}
    return Comparison(c["stage"], c["parent"], c["case"], c["atol"], c["rtol"],
                      [OutputDiff(**{k: v for k, v in o.items() if k in fields}) for o in c["outputs"]])


def load_budgets(path: Path) -> tuple[tuple[Tolerance, ...], StreamingSpec | None]:
    """([[tolerance]] rows, [streaming] budgets or None) of a spec, a project file or a budgets file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"budgets file {path} does not exist")
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"budgets file {path} is not valid TOML: {e}")
    where = str(path)
    rows = raw.get("tolerance")
    if not isinstance(rows, list) or not rows:
        raise InvalidInputError(f"{where}: no [[tolerance]] rows", hint="write parent, child, atol, rtol, metric_increase rows "
                                "as in a model spec")
    tolerances = tuple(from_table(Tolerance, t, f"{where}: tolerance") for t in rows)
    problems: list[str] = []
    check_tolerances(tolerances, problems)
    streaming = None
    if "streaming" in raw:
        streaming = from_table(StreamingSpec, raw["streaming"], f"{where}: streaming")
        check_streaming(streaming, problems)
    if problems:
        raise InvalidInputError(f"{where}: " + "; ".join(problems))
    return tolerances, streaming


def recheck(report_path: Path, budgets_path: Path) -> Report:
    """The stored report re-judged with the budgets of `budgets_path`."""
    stored = load_report(report_path)
    report = report_from_dict(stored)
    tolerances, streaming = load_budgets(budgets_path)
    by_name = {s.name: s for s in report.stages}
    for s in report.stages:
        if not s.parent:
            continue                       # the root is judged on its task (beat the baseline): no budget
        t = find_budget(tolerances, s.parent, s.name, f"budgets file {budgets_path}")
        s.budget = t
        for c in s.comparisons:
            c.atol, c.rtol = t.atol, t.rtol
            for o in c.outputs:
                o.passed = envelope_within(o.envelope, t.atol, t.rtol)
        s.metric_check = None
        if t.metric_increase is not None:
            if not s.metrics:
                raise InvalidInputError(f"{budgets_path}: {s.name} gets a metric_increase budget, but the report holds "
                                        "no metric for it")
            s.metric_check = {"metric": s.metrics["metric"]} | metric_verdict(
                s.metrics["value"], by_name[s.parent].metrics["value"], s.metrics["lower_is_better"], t.metric_increase)
    if streaming is not None:
        for r in report.streaming:
            budgets, horizons = streaming.budget(r.precision), [d["horizon"] for d in r.drift]
            if list(streaming.horizons) != horizons:
                raise InvalidInputError(f"{budgets_path}: [streaming] horizons {list(streaming.horizons)}; the report "
                                        f"judged the stream at {horizons}", hint="re-judge with the horizons that ran")
            r.equivalence_budget = streaming.fp32[0]
            for d, tol in zip(r.drift, budgets or [None] * len(r.drift)):
                d["budget"] = tol
                d["passed"] = tol is None or envelope_within(d.get("envelope"), tol, tol)
    report.recheck = {"report": str(report_path), "report_verdict": stored["verdict"], "budgets": str(budgets_path)}
    # the budgets judged now are the new file's: annotations point at its lines
    report.provenance["budget_file"] = locate(str(budgets_path), tolerances, streaming)
    return report
