"""JUnit XML (lstm_edge/runtime/junit.py, the format host and device both write), read back with a JUnit
parser library: one testcase per stage × output, the failure message stating measured against budget, a
crash as a failure, an artefact that could not run as skipped, run metadata as suite properties."""
from __future__ import annotations

from junitparser import Failure, JUnitXml, Skipped

from lstm_edge.runtime import junit
from lstm_edge.runtime.harness.verify import ArtifactCheck

ARTIFACTS = [
    {"file": "onnx-fp32.onnx", "stage": "onnx-fp32", "outputs": ["y", "hn", "cn"], "budget": {"atol": 1e-5, "rtol": 1e-5}},
    {"file": "onnx-int8-dynamic.onnx", "stage": "onnx-int8-dynamic", "outputs": ["y"],
     "budget": {"atol": 1e-3, "rtol": 1e-3, "metric_increase": 0.02}},
    {"file": "tflite-fp32.tflite", "stage": "tflite-fp32", "outputs": ["y", "hn"], "budget": {"atol": 1e-5, "rtol": 1e-5}},
    {"file": "tflite-fp16.tflite", "stage": "tflite-fp16", "outputs": ["y"], "budget": {"atol": None, "rtol": None}},
]


def checks() -> list[ArtifactCheck]:
    ok = ArtifactCheck("onnx-fp32.onnx", "onnxruntime", "fp32", "pytorch", status="pass", vs_parent=2e-6, metric=0.9,
                       parent_metric=0.9)
    miss = ArtifactCheck("onnx-int8-dynamic.onnx", "onnxruntime", "int8-weights", "onnx-fp32", status="FAIL",
                         vs_parent=0.2, metric=0.7, parent_metric=0.9,
                         failures=["windows: output 'y' differs from onnx-fp32 by 0.2 at (3, 0, 0), budget 0.001 + 0.001·|ref|",
                                   "accuracy 0.70000 is +22.2 % worse than onnx-fp32's 0.90000; budget +2.0 %"])
    crash = ArtifactCheck("tflite-fp32.tflite", "litert", "fp32", "pytorch", status="CRASH", reason="SIGSEGV")
    absent = ArtifactCheck("tflite-fp16.tflite", "litert", "fp16-weights", "tflite-fp32", reason="ai_edge_litert is not installed here")
    return [ok, miss, crash, absent]


def test_device_results_as_junit(tmp_path):
    path = tmp_path / "device.xml"
    junit.write(path, "lstm-edge device verify: m", "lstm-edge.device.m", junit.device_cases(checks(), ARTIFACTS, "accuracy"),
                {"model": "m", "verdict": "FAIL"})
    (suite,) = list(JUnitXml.fromfile(str(path)))
    cases = {c.name: c for c in suite}
    assert set(cases) == {"onnx-fp32::y", "onnx-fp32::hn", "onnx-fp32::cn", "onnx-fp32::metric", "onnx-int8-dynamic::y",
                          "onnx-int8-dynamic::metric", "tflite-fp32::y", "tflite-fp32::hn", "tflite-fp16::y"}

    def kind(name):
        return [type(r) for r in cases[name].result]

    assert kind("onnx-fp32::y") == [] and kind("onnx-fp32::metric") == []
    fail = cases["onnx-int8-dynamic::y"].result[0]
    assert isinstance(fail, Failure) and "differs from onnx-fp32 by 0.2" in fail.message and "budget 0.001" in fail.message
    assert "budget +2.0 %" in cases["onnx-int8-dynamic::metric"].result[0].message
    assert kind("tflite-fp32::y") == [Failure] and "SIGSEGV" in cases["tflite-fp32::y"].result[0].message
    assert kind("tflite-fp16::y") == [Skipped]
    assert (suite.tests, suite.failures, suite.skipped) == (9, 4, 1)
    assert {p.name: p.value for p in suite.properties()} == {"model": "m", "verdict": "FAIL"}
    assert all(c.classname == "lstm-edge.device.m" for c in suite)


def test_lstm_edge_verify_writes_junit_the_parser_reads(exported, tmp_path):
    """The host: `lstm-edge verify DIR --junit-xml FILE` on an untrained model's ONNX artefact — a test per
    stage × output and streaming horizon, the run's metadata as properties; an unwritable path is named first."""
    import shutil

    from typer.testing import CliRunner

    from lstm_edge.cli import app

    src, _, _ = exported
    run = tmp_path / "run"
    shutil.copytree(src, run)
    r = CliRunner().invoke(app, ["verify", str(run), "--junit-xml", str(tmp_path / "no" / "such" / "r.xml")])
    assert r.exit_code == 2 and "does not exist" in r.output and not (run / "report.json").exists()
    r = CliRunner().invoke(app, ["verify", str(run), "--junit-xml", str(tmp_path / "r.xml")])
    (suite,) = list(JUnitXml.fromfile(str(tmp_path / "r.xml")))
    names = {c.name for c in suite}
    assert {"onnx-fp32::y", "onnx-fp32::hn", "onnx-fp32::cn", "numpy-reference::y", "pytorch::metric"} <= names
    assert any(n.startswith("onnx-fp32::drift@") for n in names)
    props = {p.name: p.value for p in suite.properties()}
    assert props["verdict"] == ("PASS" if r.exit_code == 0 else "FAIL") and "version.onnxruntime" in props
    failed = [c.name for c in suite if any(isinstance(x, Failure) for x in c.result)]
    assert (r.exit_code == 0) == (not failed), (r.output, failed)
