"""Parity in CI (issue 16): report.json against its schema, --recheck, --baseline, --warn-only and the GitHub
Actions outputs, on the untrained checkpoint with its ONNX artefact (fast: no TensorFlow, no training).

Checks are read one by one from the JUnit file (junitparser), beside the exit code.
"""
from __future__ import annotations

import json
import shutil

import pytest
from junitparser import Failure, JUnitXml, Skipped
from typer.testing import CliRunner

from conftest import FAST_SPEC, validate_report
from lstm_edge.cli import app


def verify(*args, env=None):
    return CliRunner().invoke(app, ["verify", *map(str, args)], env=env)


def verdicts(xml) -> dict[str, str]:
    (suite,) = list(JUnitXml.fromfile(str(xml)))
    return {c.name: "fail" if any(isinstance(r, Failure) for r in c.result) else
            "skip" if any(isinstance(r, Skipped) for r in c.result) else "pass" for c in suite}


def budgets_toml(rows: list[dict], streaming: dict | None = None) -> str:
    """A budgets file as a user writes one: [[tolerance]] rows (and a [streaming] table)."""
    out = []
    for r in rows:
        out += ["[[tolerance]]"] + [f"{k} = {json.dumps(v)}" for k, v in r.items()] + [""]
    if streaming:
        out += ["[streaming]"] + [f"{k} = {json.dumps(v)}" for k, v in streaming.items()]
    return "\n".join(out) + "\n"


@pytest.fixture
def run(exported, tmp_path):
    src, _, _ = exported
    dst = tmp_path / "run"
    shutil.copytree(src, dst)
    return dst


def tight_rows(report: dict) -> list[dict]:
    """The spec's rows with onnx-fp32 held to half its measured y error (rtol 0): y must fail, hn/cn may."""
    y = next(s for s in report["stages"] if s["name"] == "onnx-fp32")["outputs"]["y"]["max_abs"]
    rows = [dict(r) for r in FAST_SPEC["tolerance"]]
    for r in rows:
        if r["child"] == "onnx-fp32":
            r.update(atol=y / 2, rtol=0.0)
    return rows


def test_recheck_gives_the_verdicts_a_live_verify_gives(run, tmp_path):
    r = verify(run, "--junit-xml", tmp_path / "live.xml")
    assert r.exit_code == 0, r.output
    report = json.loads((run / "report.json").read_text())        # schema-checked by conftest already; once more here
    validate_report(report)
    assert report["schema_version"] == 1 and report["verdict"] == "pass" and report["seeds"]["parity"] == 1234
    assert report["golden"]["file"] == "test_set.npz" and len(report["golden"]["sha256"]) == 64

    same = tmp_path / "same.toml"
    same.write_text(budgets_toml(FAST_SPEC["tolerance"], FAST_SPEC["streaming"]))
    r = verify("--recheck", run / "report.json", "--budgets", same, "--junit-xml", tmp_path / "same.xml")
    assert r.exit_code == 0 and "re-judged" in r.output, r.output
    assert verdicts(tmp_path / "same.xml") == verdicts(tmp_path / "live.xml")

    tight_streaming = dict(FAST_SPEC["streaming"], fp32=[1e-12] * 3)
    tight = tmp_path / "tight.toml"
    tight.write_text(budgets_toml(tight_rows(report), tight_streaming))
    r = verify("--recheck", run / "report.json", "--budgets", tight, "--junit-xml", tmp_path / "re.xml",
               "--report-json", tmp_path / "re.json")
    assert r.exit_code == 1, r.output
    rejudged = json.loads((tmp_path / "re.json").read_text())
    validate_report(rejudged)
    assert rejudged["recheck"]["budgets"] == str(tight) and rejudged["versions"] == report["versions"]

    # the same budgets written into the model's spec, and verify run for real
    meta = json.loads((run / "model.json").read_text())
    meta["spec"]["tolerance"], meta["spec"]["streaming"] = tight_rows(report), tight_streaming
    (run / "model.json").write_text(json.dumps(meta))
    assert verify(run, "--junit-xml", tmp_path / "live-tight.xml").exit_code == 1
    want = verdicts(tmp_path / "live-tight.xml")
    assert verdicts(tmp_path / "re.xml") == want
    flipped = {k for k, v in want.items() if v == "fail" and verdicts(tmp_path / "live.xml")[k] == "pass"}
    assert "onnx-fp32::y" in flipped and any(k.startswith("onnx-fp32::drift@") for k in flipped), flipped


@pytest.mark.parametrize("edit,args,code,message", [
    (lambda rep, b: rep.pop("schema_version"), [], 3, "no schema_version"),
    (lambda rep, b: None, ["drop-onnx-row"], 3, "no tolerance for stage 'onnx-fp32'"),
    (lambda rep, b: None, ["other-horizons"], 3, "horizons"),
])
def test_recheck_refuses_what_it_cannot_judge(run, tmp_path, edit, args, code, message):
    assert verify(run).exit_code == 0
    report = json.loads((run / "report.json").read_text())
    edit(report, None)
    (tmp_path / "r.json").write_text(json.dumps(report))
    rows = [r for r in FAST_SPEC["tolerance"] if not ("drop-onnx-row" in args and r["child"] == "onnx-fp32")]
    streaming = dict(FAST_SPEC["streaming"], horizons=[1, 20, 200]) if "other-horizons" in args else None
    (tmp_path / "b.toml").write_text(budgets_toml(rows, streaming))
    r = verify("--recheck", tmp_path / "r.json", "--budgets", tmp_path / "b.toml")
    assert r.exit_code == code and message in r.output, r.output


@pytest.mark.parametrize("args,message", [
    (["--budgets", "x.toml"], "go together"),
    (["--recheck", "report.json"], "go together"),
    (["RUN", "--recheck", "report.json", "--budgets", "b.toml"], "takes no DIRECTORY"),
    (["RUN", "--max-regression", "max_abs:20%"], "needs --baseline"),
    (["RUN", "--baseline", "BASE", "--max-regression", "speed:20%"], "FIGURE:PERCENT"),
    (["RUN", "--report-json", "x.json"], "for --recheck"),
])
def test_ci_options_are_checked_before_any_work(run, tmp_path, args, message):
    (tmp_path / "base.json").write_text("{}")
    args = [str(run) if a == "RUN" else str(tmp_path / "base.json") if a == "BASE" else a for a in args]
    r = verify(*args)
    assert r.exit_code == 2 and message in r.output, r.output
    assert not (run / "report.json").exists()


def test_baseline_fails_a_figure_that_grew_inside_its_budget(run, tmp_path):
    assert verify(run).exit_code == 0
    base = json.loads((run / "report.json").read_text())
    onnx = next(s for s in base["stages"] if s["name"] == "onnx-fp32")
    onnx["outputs"]["y"]["max_abs"] /= 2                           # last week's export was twice as close
    base["stages"].append(dict(onnx, name="tflite-fp32"))         # and had a stage this run lacks
    (tmp_path / "base.json").write_text(json.dumps(base))
    r = verify(run, "--baseline", tmp_path / "base.json", "--junit-xml", tmp_path / "b.xml")
    assert r.exit_code == 1, r.output
    v = verdicts(tmp_path / "b.xml")
    assert v["onnx-fp32::y::regression.max_abs"] == "fail" and v["onnx-fp32::hn::regression.max_abs"] == "pass"
    assert v["tflite-fp32::regression.present"] == "fail"
    report = json.loads((run / "report.json").read_text())
    grown = [g for g in report["regressions"] if not g["passed"]]
    assert {(g["stage"], g["output"]) for g in grown} == {("onnx-fp32", "y"), ("tflite-fp32", None)}
    assert grown[0]["growth"] == pytest.approx(1.0) or grown[1]["growth"] == pytest.approx(1.0)
    assert "Against the baseline" in (run / "report.md").read_text()
    # a looser limit lets the same growth through
    verify(run, "--baseline", tmp_path / "base.json", "--max-regression", "max_abs:150%", "--junit-xml", tmp_path / "c.xml")
    assert verdicts(tmp_path / "c.xml")["onnx-fp32::y::regression.max_abs"] == "pass"


def test_warn_only_says_so_and_exits_0(run):
    assert verify(run).exit_code == 0
    meta = json.loads((run / "model.json").read_text())
    meta["spec"]["tolerance"] = tight_rows(json.loads((run / "report.json").read_text()))
    (run / "model.json").write_text(json.dumps(meta))
    assert verify(run).exit_code == 1
    r = verify(run, "--warn-only")
    assert r.exit_code == 0 and r.output.count("WARN-ONLY") >= 2, r.output
    report = json.loads((run / "report.json").read_text())
    assert report["verdict"] == "fail" and report["warn_only"] is True


def test_github_step_summary_and_annotations_point_at_the_budget_line(run, tmp_path):
    assert verify(run).exit_code == 0
    report = json.loads((run / "report.json").read_text())
    tight = tmp_path / "tight.toml"
    tight.write_text(budgets_toml(tight_rows(report)))
    lines = tight.read_text().splitlines()
    row = lines.index('child = "onnx-fp32"')
    atol_line = next(k for k in range(row, len(lines)) if lines[k].startswith("atol")) + 1     # 1-based

    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    r = verify("--recheck", run / "report.json", "--budgets", tight, env=env)
    assert r.exit_code == 1
    errors = [x for x in r.output.splitlines() if x.startswith("::error ")]
    y = next(x for x in errors if "onnx-fp32%3A%3Ay" in x)
    assert f"file={str(tight).replace(':', '%3A')},line={atol_line}," in y and "max abs" in y, y
    text = summary.read_text()
    assert text.index("### Failures") < text.index("<details>") and f"tight.toml:{atol_line}" in text
    assert len(text.encode()) < 1024 * 1024

    # live verify points at the spec file recorded at training, while it still holds those budgets
    meta = json.loads((run / "model.json").read_text())
    meta["spec"]["tolerance"], meta["budget_file"] = tight_rows(report), str(tight)
    (run / "model.json").write_text(json.dumps(meta))
    r = verify(run, env=env)
    assert any(f"line={atol_line}," in x and "onnx-fp32%3A%3Ay" in x for x in r.output.splitlines()), r.output
    assert json.loads((run / "report.json").read_text())["budget_file"]["lines"]["pytorch->onnx-fp32"]["atol"] == atol_line
    # edited since: no line is claimed, and the annotation says why
    tight.write_text(tight.read_text().replace(f"atol = {json.dumps(tight_rows(report)[1]['atol'])}", "atol = 1.0", 1))
    r = verify(run, env=env)
    y = next(x for x in r.output.splitlines() if x.startswith("::error ") and "onnx-fp32%3A%3Ay" in x)
    assert "file=" not in y and "edited since training" in y

    before = summary.read_text()
    r = verify(run, "--no-ci-annotations", env=env)
    assert "::error" not in r.output and summary.read_text() == before
