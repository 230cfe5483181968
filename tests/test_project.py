"""A user's own model through the whole chain: the project file (lstm_edge/project/file.py), `lstm-edge
init`, the built-in metrics (lstm_edge/runtime/metrics.py), the metric-direction check, and — slow — `lstm-edge
pipeline --project` for users' models written in tests/project_user_nets.py, each to a bundle that
`python -m lstm_edge.runtime verify` passes in a fresh venv with only the base install.
"""
from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lstm_edge.cli import app
from lstm_edge.errors import InvalidInputError, code
from lstm_edge.project.file import load_project, toml_value
from lstm_edge.runtime import metrics

TINY_NET = '''
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden=3):
        super().__init__()
        self.rnn = nn.GRU(2, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, 1)

    def forward(self, x):
        return self.fc(self.rnn(x)[0])
'''


@pytest.fixture
def tiny_project(tmp_path) -> Path:
    """A valid project of an untrained tiny GRU (nothing is exported: the file is only read)."""
    import torch
    from safetensors.torch import save_file

    (tmp_path / "net.py").write_text(TINY_NET)
    torch.manual_seed(0)
    from torch import nn

    save_file({"rnn.weight_ih_l0": torch.zeros(9, 2), "rnn.weight_hh_l0": torch.zeros(9, 3),
               "rnn.bias_ih_l0": torch.zeros(9), "rnn.bias_hh_l0": torch.zeros(9),
               "fc.weight": nn.Linear(3, 1).weight.detach(), "fc.bias": torch.zeros(1)}, tmp_path / "w.safetensors")
    np.savez(tmp_path / "eval.npz", x=np.zeros((4, 5, 2), np.float32), y=np.zeros((4, 5, 1), np.float32))
    (tmp_path / "lstm-edge.toml").write_text(
        'name = "tiny"\n[module]\npath = "net.py:Net"\nweights = "w.safetensors"\nexample_shape = [2, 5, 2]\n'
        '[data]\nevaluation = "eval.npz"\n[metric]\nname = "mae"\n'
        '[[tolerance]]\nparent = "pytorch"\nchild = "onnx-fp32"\natol = 1e-5\nrtol = 1e-5\n')
    return tmp_path / "lstm-edge.toml"


def test_the_readme_has_one_your_model_region():
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert text.count("<!-- your-model -->") == 1 and text.count("<!-- /your-model -->") == 1


def test_a_valid_project_loads(tiny_project):
    p = load_project(tiny_project)
    assert (p.name, p.module.example_shape, p.metric.name) == ("tiny", (2, 5, 2), "mae")
    assert p.budget("pytorch", "onnx-fp32").atol == 1e-5
    assert p.path(p.module.weights).is_file()
    assert tomllib.loads(f"v = {toml_value(p.to_dict())}")["v"]["module"]["path"] == "net.py:Net"   # the writer round-trips


# mistake → text the refusal must contain (every one is exit 3 naming the key)
MISTAKES = {
    "unknown key": (("module", "hiden", 3), "unknown key(s) 'hiden'"),
    "missing module file": (("module", "path", "nope.py:Net"), "module.path"),
    "no class": (("module", "path", "net.py"), "expected 'file.py:ClassName'"),
    "missing weights": (("module", "weights", "w2.safetensors"), "module.weights"),
    "wrong type": (("module", "example_shape", "2,5,2"), "expected a list"),
    "short shape": (("module", "example_shape", [2]), "at least (B, T)"),
    "missing evaluation": (("data", "evaluation", "e2.npz"), "data.evaluation"),
    "unknown metric": (("metric", "name", "auc"), "not a built-in metric"),
    "direction contradicts": (("metric", "lower_is_better", False), "contradicts 'mae'"),
    "function without direction": (("metric", "function", "m.py:f"), "give exactly one of name"),
    "root is not a key": ((None, "root", "/"), "unknown key 'root'"),
    "half a budget": (("tolerance", "atol", None), "give atol and rtol together"),
}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_project_file_mistakes_are_named(tiny_project, case):
    (table, key, value), expected = MISTAKES[case]
    raw = tomllib.loads(tiny_project.read_text())
    if table == "tolerance":
        del raw["tolerance"][0]["rtol"]
    elif table is None:
        raw[key] = value
    else:
        raw[table][key] = value
    from lstm_edge.project.file import project_from_dict

    with pytest.raises(InvalidInputError) as e:
        project_from_dict(raw, root=tiny_project.parent, where=str(tiny_project))
    assert expected in str(e.value) and e.value.exit_code == code("invalid input")


def test_function_metric_needs_a_direction(tiny_project):
    (tiny_project.parent / "m.py").write_text("def f(a, b):\n    return 0.0\n")
    text = tiny_project.read_text().replace('name = "mae"', 'function = "m.py:f"')
    tiny_project.write_text(text)
    with pytest.raises(InvalidInputError, match="needs lower_is_better"):
        load_project(tiny_project)
    tiny_project.write_text(text.replace('function = "m.py:f"', 'function = "m.py:f"\nlower_is_better = true'))
    assert load_project(tiny_project).metric.lower_is_better is True


def test_a_budget_given_twice_is_named(tiny_project):
    """A second [[tolerance]] row for the same stages would be ignored silently (the first one is read)."""
    tiny_project.write_text(tiny_project.read_text() + '[[tolerance]]\nparent = "pytorch"\nchild = "onnx-fp32"\n'
                            'atol = 1e-3\nrtol = 1e-3\n')
    with pytest.raises(InvalidInputError, match="tolerance pytorch->onnx-fp32: a duplicate row"):
        load_project(tiny_project)


def test_pipeline_project_refuses_bad_files_before_work(tiny_project, tmp_path):
    r = CliRunner().invoke(app, ["pipeline", "--project", str(tmp_path / "none.toml"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 3 and "does not exist" in r.output
    tiny_project.write_text(tiny_project.read_text() + "bogus = 1\n")
    r = CliRunner().invoke(app, ["pipeline", "--project", str(tiny_project), "--out", str(tmp_path / "o")])
    assert r.exit_code == 3 and "'bogus'" in r.output and not (tmp_path / "o").exists()
    r = CliRunner().invoke(app, ["pipeline", "--project", str(tiny_project), "--model", "models/sensor.toml"])
    assert r.exit_code == 2 and "do not go together" in r.output


# ---- the built-in metrics (numpy only: the device scores with the same functions) -------------------


def test_builtin_metrics_values():
    y, t = np.array([[1.0], [3.0]]), np.array([[2.0], [1.0]])
    assert metrics.mae(y, t) == 1.5 and metrics.mse(y, t) == 2.5 and metrics.rmse(y, t) == pytest.approx(2.5 ** 0.5)
    logits, ids = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]), np.array([0, 0, 0])
    assert metrics.accuracy(logits, ids) == pytest.approx(2 / 3)
    assert metrics.f1(logits, ids) == pytest.approx(np.mean([0.8, 0.0]))          # class 0: 2/(2+0+1)·…; class 1: 0
    assert metrics.accuracy(np.array([0.9, 0.2, 0.6]), np.array([1, 0, 0])) == pytest.approx(2 / 3)   # binary probabilities
    assert metrics.cross_entropy(np.zeros((2, 4)), np.array([1, 3])) == pytest.approx(np.log(4))
    assert {m: v.lower_is_better for m, v in metrics.BUILTIN.items()} == {
        "mae": True, "rmse": True, "mse": True, "accuracy": False, "f1": False, "cross_entropy": True}


@pytest.mark.parametrize("name, y, t, says", [
    ("mae", np.zeros((2, 3)), np.zeros((2, 4)), "y_pred is (2, 3), y_true (2, 4)"),
    ("accuracy", np.zeros((2, 3)), np.zeros((3,)), "y_pred (…, C) with y_true (…)"),
    ("accuracy", np.zeros((2,)), np.array([0, 2]), "ids beyond {0, 1}"),
    ("cross_entropy", np.zeros((2, 3)), np.array([0, 3]), "outside 0..2"),
    ("f1", np.zeros((2, 3)), np.array([0.5, 1.0]), "class ids"),
])
def test_builtin_metrics_name_shapes_they_cannot_compare(name, y, t, says):
    with pytest.raises(metrics.MetricInputError, match=r".*".join(map(__import__("re").escape, says.split("…")))):
        metrics.BUILTIN[name].fn(y, t)


def test_an_inverted_metric_direction_fails_the_root(tiny_project):
    """The root must beat its own shuffled predictions: a direction given backwards cannot."""
    from lstm_edge.project.task import ProjectTask

    tiny_project.parent.joinpath("m.py").write_text(
        "import numpy as np\n\ndef err(a, b):\n    return float(np.mean(np.abs(a - b)))\n")
    text = tiny_project.read_text().replace('name = "mae"', 'function = "m.py:err"\nlower_is_better = {}')
    truth = np.linspace(0, 1, 40).reshape(8, 5, 1)
    good = truth + 0.01
    for lower, beats in ((True, True), (False, False)):
        tiny_project.write_text(text.format(str(lower).lower()))
        m = ProjectTask(load_project(tiny_project), 0).score(good, {"y": truth})
        assert m["beats_baseline"] is beats and (beats or "is lower_is_better right" in m["summary"])


def test_the_python_api_refuses_what_cannot_travel_before_work(tiny_project, tmp_path):
    import lstm_edge
    from lstm_edge.errors import UsageError

    net = _user_module(tiny_project.parent / "net.py").Net()
    x, y = np.zeros((4, 5, 2), np.float32), np.zeros((4, 5, 1), np.float32)
    cases = [(dict(evaluation=(x, y)), "metric= is needed"),
             (dict(evaluation=(x, y), metric=lambda a, b: 0.0, lower_is_better=True), "(it is a lambda)"),
             (dict(metric="mae"), "go with evaluation="),
             (dict(evaluation=(x, y), metric="mae", formats=("onnx",)), "formats= does not apply")]
    for kwargs, says in cases:
        with pytest.raises(UsageError, match=__import__("re").escape(says)):
            lstm_edge.export(net, x[:2], tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists() and not [p for p in tmp_path.iterdir() if ".project." in p.name]


def test_a_metric_file_travels_only_with_numpy_and_the_standard_library(tmp_path):
    from lstm_edge.source.project import metric_not_portable

    ok, heavy, rel = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    ok.write_text("import math\nimport numpy as np\nfrom collections import Counter\n")
    heavy.write_text("import numpy as np\ndef f(a, b):\n    import torch\n    return 0.0\n")
    rel.write_text("from .helpers import g\n")
    assert metric_not_portable(ok) == ""
    assert "imports torch" in metric_not_portable(heavy) and "imports ." in metric_not_portable(rel)


# ---- lstm-edge init -----------------------------------------------------------------------------


def test_init_writes_a_project_the_pipeline_reads(tiny_project, tmp_path, monkeypatch):
    d = tiny_project.parent
    monkeypatch.chdir(d)
    r = CliRunner().invoke(app, ["init", "--module", "net.py:Net", "--weights", "w.safetensors", "--example-shape", "2,5,2",
                                 "--evaluation", "eval.npz", "--out", "sub/p.toml"])
    assert r.exit_code == 0, r.output
    assert "1-layer GRU H=3" in r.output
    p = load_project(d / "sub" / "p.toml")                   # paths rewritten relative to the file
    assert p.module.path == "../net.py:Net" and p.data.evaluation == "../eval.npz" and p.metric.name == "mae"
    assert {(t.parent, t.child) for t in p.tolerance} >= {("pytorch", "onnx-fp32"), ("onnx-fp32", "onnx-int8-dynamic"),
                                                          ("pytorch", "tflite-step-fp32")}     # a GRU can stream
    assert p.streaming.length == 10000 and p.streaming.fp16 == ()
    again = CliRunner().invoke(app, ["init", "--module", "net.py:Net", "--weights", "w.safetensors", "--example-shape",
                                     "2,5,2", "--out", "sub/p.toml"])
    assert again.exit_code == 2 and "never overwrites" in again.output


def test_what_cannot_stream_is_named():
    from lstm_edge.byo.inspect import Architecture
    from lstm_edge.byo.step import why_not_streamable

    base = dict(rnn_path="rnn", kind="GRU", num_layers=1, hidden_size=3, proj_size=0, bidirectional=False,
                batch_first=True, head="fc", head_kind="last")
    assert why_not_streamable(Architecture(**base)) is None
    assert "backward direction" in why_not_streamable(Architecture(**base | {"bidirectional": True}))
    assert "mean over every step" in why_not_streamable(Architecture(**base | {"head_kind": "mean"}))
    assert "time-major" in why_not_streamable(Architecture(**base | {"batch_first": False}))


@pytest.mark.parametrize("args, says, exit_code", [
    (["--metric-function", "m.py:f"], "needs --lower-is-better or --higher-is-better", 2),
    (["--metric", "auc"], "not a built-in metric", 2),
    (["--metric", "mae", "--metric-function", "m.py:f", "--lower-is-better"], "do not go together", 2),
    (["--higher-is-better"], "go with --metric-function", 2),
    (["--example-shape", "2,5,3"], "", 3),         # the module's first layer takes 2 features
])
def test_init_refuses_by_name(tiny_project, monkeypatch, args, says, exit_code):
    monkeypatch.chdir(tiny_project.parent)
    base = ["init", "--module", "net.py:Net", "--weights", "w.safetensors", "--out", "x.toml"]
    if "--example-shape" not in args:
        base += ["--example-shape", "2,5,2"]
    r = CliRunner().invoke(app, base + args)
    assert r.exit_code == exit_code and says in r.output and not (tiny_project.parent / "x.toml").exists(), r.output


# ---- users' models, the whole way (slow: training, TFLite, a fresh base venv) ------------------------


def _pipeline(made: dict, tmp: Path, name: str, extra: list[str] = ()) -> tuple[object, Path]:
    args = ["init", "--module", made["module"], "--weights", str(made["weights"]), "--example-shape", made["shape"],
            "--evaluation", str(made["evaluation"]), "--out", str(tmp / f"{name}.toml"), *extra]
    if made.get("calibration"):
        args += ["--calibration", str(made["calibration"])]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    out = tmp / f"{name}-out"
    return CliRunner().invoke(app, ["pipeline", "--project", str(tmp / f"{name}.toml"), "--out", str(out)]), out


@pytest.mark.slow
def test_a_users_gru_keyword_spotter_the_whole_way(tmp_path, base_venv):
    from project_user_nets import make_kws

    r, out = _pipeline(make_kws(tmp_path), tmp_path, "kws")
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    stages = {s["name"]: s for s in report["stages"]}
    assert stages["pytorch"]["metrics"]["metric"] == "accuracy" and stages["pytorch"]["metrics"]["value"] > 0.6
    assert stages["onnx-fp32"]["passed"] and stages["tflite-fp32"]["passed"]
    assert stages["tflite-fp32"]["outputs"]["y"]["max_abs"] < 1e-5
    for s in stages.values():                # every stage scored by the user's metric on the evaluation set
        assert s["metrics"]["metric"] == "accuracy"
    refused = {x["recipe"]: x for x in report["refusals"]}
    # ORT's quantizers have no GRU: the int8 ONNX recipes quantize the head alone, which is refused with figures
    assert set(refused) >= {"onnx-int8-dynamic", "onnx-int8-static"}
    assert all(a.get("size_bytes") for a in refused["onnx-int8-dynamic"]["attempts"])
    # the GRU's TFLite sequence artefact takes any T (a builtin WHILE loop), checked on the whole grid
    tfl = json.loads((out / "tflite-fp32.tflite.json").read_text())
    assert tfl["fixed_time_steps"] is None and "WHILE" in tfl["ops"] and "random B=7 T=1000" in [
        c["case"] for c in stages["tflite-fp32"]["cases"]]
    # the GRU streams: a builtin-ops step artefact (state in and out), 10 000 steps against PyTorch
    assert stages["tflite-step-fp32"]["passed"] and stages["tflite-step-fp32"]["outputs"]["hn"]["max_abs"] < 1e-5
    streams = {r["stage"]: r for r in report["streaming"]}
    assert streams["tflite-step-fp32"]["passed"] and streams["onnx-fp32"]["passed"]
    assert streams["tflite-step-fp32"]["drift"][-1]["horizon"] == 10000 and "c" not in streams["tflite-step-fp32"]["drift"][-1]
    # the step recipes are built as named: fp16 weights for tflite-step-fp16 (it was built as dynamic range, its
    # int8 weights then refused as "0 % stored as float16")
    from lstm_edge.exporting.quantize import quantized_share

    assert stages["tflite-step-fp16"]["passed"] and quantized_share(out / "tflite-step-fp16.tflite", "fp16-weights") > 0.9
    manifest = json.loads((out / "bundle" / "manifest.json").read_text())
    assert manifest["metric"] == {"name": "accuracy", "table": "builtin", "case": "windows", "lower_is_better": False}
    device = base_venv.python("-m", "lstm_edge.runtime", "verify", out / "bundle", "--json", tmp_path / "device.json",
                              ok=False)
    assert device.returncode == 0, device.stdout + device.stderr
    checks = json.loads((tmp_path / "device.json").read_text())["artifacts"]
    assert checks and all(c["status"] == "pass" and c["metric"] is not None for c in checks), checks

    # every later command takes the project's directory: verify again, quantize one recipe; its fp32 artefacts
    # are the pipeline's (export refuses to rewrite them from a checkpoint it does not have)
    again = CliRunner().invoke(app, ["verify", str(out)])
    assert again.exit_code == 0 and json.loads((out / "report.json").read_text())["passed"], again.output
    assert CliRunner().invoke(app, ["export", str(out), "--format", "onnx"]).exit_code == 2
    r = CliRunner().invoke(app, ["export", str(out), "--only-quantize", "--quantize", "tflite-int8"])
    assert r.exit_code == 3 and "does not apply to" in r.output

    # the README's table of this run is written from these files (tools/your_model_figures.py)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from your_model_figures import column

    col = column(out)
    assert col["pytorch"].startswith("accuracy") and "onnx-int8-dynamic" in col["refused"] and "pass" in col["device"]

    # the Python API runs the same chain from objects in memory, and returns the same figures
    import lstm_edge

    net = _user_module(tmp_path / "kws.py").KeywordSpotter()
    from safetensors.torch import load_file

    net.load_state_dict(load_file(tmp_path / "kws.safetensors"))
    ev, calib = np.load(tmp_path / "kws_eval.npz"), np.load(tmp_path / "kws_calib.npz")["x"]
    api = lstm_edge.export(net.eval(), ev["x"][:2], tmp_path / "api", evaluation=(ev["x"], ev["y"]), calibration=calib,
                           metric="accuracy")
    assert {s["name"]: s["metrics"]["value"] for s in api["stages"]} == \
        {s["name"]: s["metrics"]["value"] for s in report["stages"]}
    assert (tmp_path / "api" / "bundle" / "manifest.json").is_file()
    assert not [p for p in tmp_path.iterdir() if ".project." in p.name]        # its work directory is gone


@pytest.mark.slow
def test_a_users_conv_lstm_attention_classifier_the_whole_way(tmp_path, base_venv):
    """Issue 15's first test model: a Conv1d front end, two LSTMs with a residual add and LayerNorm, attention
    pooling — the traced-graph form: every recipe judged by accuracy, no streaming (named), a bundle the base
    install verifies, bench on the result; then one recipe budgeted element-wise, which it misses: named with
    its figures, and exit 1 (element budgets of a quantized stage are judged by verify, not by quantize)."""
    from project_user_nets import make_conv_attention

    made = make_conv_attention(tmp_path)
    r = CliRunner().invoke(app, ["init", "--module", made["module"], "--weights", str(made["weights"]), "--example-shape",
                                 made["shape"], "--evaluation", str(made["evaluation"]), "--calibration",
                                 str(made["calibration"]), "--out", str(tmp_path / "ca.toml")])
    assert r.exit_code == 0 and "a traced graph" in r.output, r.output
    text = (tmp_path / "ca.toml").read_text()
    assert 'name = "accuracy"' in text and "tflite-step" not in text and "[streaming]" not in text
    out = tmp_path / "ca-out"
    r = CliRunner().invoke(app, ["pipeline", "--project", str(tmp_path / "ca.toml"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    stages = {s["name"]: s for s in report["stages"]}
    assert stages["pytorch"]["metrics"]["value"] > 0.8 and stages["pytorch"]["metrics"]["beats_baseline"]
    assert stages["onnx-fp32"]["outputs"]["y"]["max_abs"] < 1e-5 and stages["tflite-fp32"]["outputs"]["y"]["max_abs"] < 1e-5
    assert {"onnx-fp16", "tflite-fp16", "onnx-int8-dynamic"} <= set(stages) and not report["streaming"]
    assert all(s["metrics"]["metric"] == "accuracy" for s in stages.values())
    tfl = json.loads((out / "tflite-fp32.tflite.json").read_text())
    assert tfl["path_taken"] == "graph" and tfl["ops"]["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 2 and tfl["inputs"] == ["x"]
    assert "random B=7 T=1000" in [c["case"] for c in stages["tflite-fp32"]["cases"]]
    model = json.loads((out / "model.json").read_text())
    assert model["streaming"]["step_artifact"] is None
    device = base_venv.python("-m", "lstm_edge.runtime", "verify", out / "bundle", "--json", tmp_path / "device.json",
                              ok=False)
    assert device.returncode == 0, device.stdout + device.stderr
    checks = json.loads((tmp_path / "device.json").read_text())["artifacts"]
    assert checks and all(c["status"] == "pass" and c["metric"] is not None for c in checks), checks
    r = CliRunner().invoke(app, ["bench", str(out), "--rounds", "1"])
    assert r.exit_code == 0 and (out / "bench.json").is_file(), r.output

    (tmp_path / "tight.toml").write_text(text.replace('child = "onnx-int8-dynamic"\n',
                                                      'child = "onnx-int8-dynamic"\natol = 1e-3\nrtol = 1e-3\n'))
    r = CliRunner().invoke(app, ["pipeline", "--project", str(tmp_path / "tight.toml"), "--out", str(tmp_path / "t")])
    said = " ".join(r.output.split())
    assert r.exit_code == 1 and "FAIL onnx-int8-dynamic vs onnx-fp32, output 'y'" in said and "budget atol 0.001" in said

    # in CI: JUnit from the host (the miss named with its figures against the budget) and from the device
    from junitparser import Failure, JUnitXml

    # … under GitHub Actions, with a step summary and an annotation on the budget's line in the project file
    summary, lines = tmp_path / "summary.md", (tmp_path / "tight.toml").read_text().splitlines()
    budget_line = lines.index('child = "onnx-int8-dynamic"') + 2                    # its atol, 1-based
    r = CliRunner().invoke(app, ["verify", str(tmp_path / "t"), "--junit-xml", str(tmp_path / "host.xml")],
                           env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert r.exit_code == 1, r.output
    (error,) = [x for x in r.output.splitlines() if x.startswith("::error ")]
    assert f"tight.toml,line={budget_line}," in error and "onnx-int8-dynamic%3A%3Ay" in error, error
    assert f"tight.toml:{budget_line}" in summary.read_text().split("<details>")[0]
    host = {c.name: c for suite in JUnitXml.fromfile(str(tmp_path / "host.xml")) for c in suite}
    failed = {n: c for n, c in host.items() if any(isinstance(x, Failure) for x in c.result)}
    assert set(failed) == {"onnx-int8-dynamic::y"} and "budget atol 0.001" in failed["onnx-int8-dynamic::y"].result[0].message
    assert {"pytorch::metric", "onnx-fp32::y", "tflite-fp32::y", "onnx-int8-dynamic::metric"} <= set(host)
    device = base_venv.python("-m", "lstm_edge.runtime", "verify", out / "bundle", "--junit-xml", tmp_path / "device.xml",
                              ok=False)
    assert device.returncode == 0, device.stdout + device.stderr
    (suite,) = list(JUnitXml.fromfile(str(tmp_path / "device.xml")))
    assert suite.tests >= 2 * len(checks) and suite.failures == 0 and {"onnx-fp32::y", "tflite-fp32::y"} <= {c.name for c in suite}
    merged = JUnitXml.fromfile(str(tmp_path / "host.xml")) + JUnitXml.fromfile(str(tmp_path / "device.xml"))
    merged.write(str(tmp_path / "ci.xml"))                                        # one CI view of host and device
    suites = list(JUnitXml.fromfile(str(tmp_path / "ci.xml")))
    assert len(suites) == 2 and sum(s.failures for s in suites) == 1


@pytest.mark.slow
def test_a_users_residual_stack_streams_the_whole_way(tmp_path, base_venv):
    """A module of several layers that streams (Linear, a 2-layer LSTM with a residual LayerNorm, a GRU, a head
    per step; examples/your_model/residual.py): its step artefact carries every layer's state packed, is judged
    on every parity case from the zero state as its parent is, streams 10 000 steps against PyTorch stepped the
    same way, its step recipes are judged by the metric, and the bundle verifies in the base install."""
    from project_user_nets import make_residual

    r, out = _pipeline(make_residual(tmp_path), tmp_path, "res")
    assert r.exit_code == 0, r.output
    text = (tmp_path / "res.toml").read_text()
    assert "[streaming]" in text and 'child = "tflite-step-fp32"' in text
    report = json.loads((out / "report.json").read_text())
    stages = {s["name"]: s for s in report["stages"]}
    step = stages["tflite-step-fp32"]
    assert step["passed"] and step["outputs"]["y"]["max_abs"] < 1e-5 and set(step["outputs"]) == {"y"}
    assert "random B=7 T=1000" in [c["case"] for c in step["cases"]]
    info = json.loads((out / "tflite-step-fp32.tflite.json").read_text())
    assert info["inputs"] == ["x", "h0", "c0"] and info["sequence_inputs"] == ["x"] and "'lstm' 2×24" in info["layout"]
    assert not {"WHILE", "UNIDIRECTIONAL_SEQUENCE_LSTM"} & set(info.get("ops") or {}), info.get("ops")
    streams = {r["stage"]: r for r in report["streaming"]}
    assert set(streams) == {"tflite-step-fp32", "tflite-step-dynamic-range", "tflite-step-fp16"}, set(streams)
    last = streams["tflite-step-fp32"]["drift"][-1]
    assert streams["tflite-step-fp32"]["passed"] and last["horizon"] == 10000 and max(last["y"], last["h"], last["c"]) < 1e-5
    assert streams["tflite-step-fp32"]["equivalence_max_abs"]["whole sequence"] < 1e-5
    assert stages["tflite-step-fp16"]["passed"] and stages["tflite-step-dynamic-range"]["passed"]
    model = json.loads((out / "model.json").read_text())
    assert model["streaming"]["step_artifact"] == "tflite-step-fp32.tflite"
    device = base_venv.python("-m", "lstm_edge.runtime", "verify", out / "bundle", "--json", tmp_path / "device.json",
                              ok=False)
    assert device.returncode == 0, device.stdout + device.stderr
    checks = {c["file"]: c for c in json.loads((tmp_path / "device.json").read_text())["artifacts"]}
    assert checks["tflite-step-fp32.tflite"]["status"] == "pass" and all(c["status"] == "pass" for c in checks.values())


def _user_module(path: Path):
    import importlib.util

    import sys

    spec = importlib.util.spec_from_file_location(f"users_{path.stem}_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module              # as `import net` registers it
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_users_lstm_forecaster_with_their_own_metric(tmp_path, base_venv):
    from project_user_nets import make_forecaster

    made = make_forecaster(tmp_path)
    r, out = _pipeline(made, tmp_path, "fc", ["--metric-function", made["metric_function"], "--lower-is-better"])
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    stages = {s["name"]: s for s in report["stages"]}
    assert stages["pytorch"]["metrics"]["metric"] == "smape" and stages["pytorch"]["metrics"]["beats_baseline"]
    assert stages["tflite-fp32"]["passed"] and "cn" in stages["tflite-fp32"]["missing_outputs"]    # the fused kernel
    assert (out / "bundle" / "metric.py").read_text() == (tmp_path / "smape.py").read_text()   # it travels
    streams = {r["stage"]: r for r in report["streaming"]}
    assert streams["tflite-step-fp32"]["passed"] and streams["tflite-step-fp32"]["drift"][-1]["c"] < 1e-5
    device = base_venv.python("-m", "lstm_edge.runtime", "verify", out / "bundle", ok=False)
    assert device.returncode == 0 and "skipped" not in device.stdout, device.stdout + device.stderr

    # the same project with the metric's direction the wrong way round: refused by name before any quantization
    text = (tmp_path / "fc.toml").read_text().replace("lower_is_better = true", "lower_is_better = false")
    (tmp_path / "fc-inverted.toml").write_text(text)
    r = CliRunner().invoke(app, ["pipeline", "--project", str(tmp_path / "fc-inverted.toml"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 3 and "lower_is_better" in r.output and not (tmp_path / "x").exists(), r.output


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")   # torch: oneDNN has no proj_size
def test_the_any_t_general_path_takes_every_length(tmp_path):
    """A 2-layer bidirectional GRU and a projected LSTM: the general TFLite path as a WHILE loop is checked
    at B ∈ {1, 2, 7} × T ∈ {1, 2, 50, 1000} and the example's T, and declares no fixed T."""
    import torch
    from torch import nn

    from lstm_edge.byo.export import export_module

    class BiGRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.fc = nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True), nn.Linear(10, 2)

        def forward(self, x):
            return self.fc(self.rnn(x)[0])

    class Projected(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.fc = nn.LSTM(3, 6, proj_size=2, num_layers=2, batch_first=True), nn.Linear(2, 1)

        def forward(self, x):
            return self.fc(self.rnn(x)[0][:, -1])

    for cls in (BiGRU, Projected):
        torch.manual_seed(0)
        x = np.random.default_rng(0).standard_normal((2, 9, 3)).astype(np.float32)
        report = export_module(cls().eval(), x, tmp_path / cls.__name__, formats=("tflite",), tflite_time="any")
        (a,) = report["artifacts"]
        assert a["fixed_time_steps"] is None and a["ops"]["WHILE"] >= 2 and len(a["parity_cases"]) == 15
        assert max(a["max_abs_vs_pytorch"].values()) < 1e-5
