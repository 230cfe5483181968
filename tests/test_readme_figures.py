"""tools/readme_figures.py: the README's figures come from a run's files, only between markers.

Synthetic inputs in the real schemas (report.json of `pipeline`, bench.json of `bench` with its
targets judged by lstm_edge.bench.report.targets, the console of `make demo`); no training.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path

import pytest

from lstm_edge.bench.report import targets

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("readme_figures", ROOT / "tools" / "readme_figures.py")
rf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rf)

RECIPES = {"onnx-fp16": ("onnx-fp32", 0.51, 0.000044), "onnx-int8-dynamic": ("onnx-fp32", 0.29, -0.0117),
           "onnx-int8-static": ("onnx-fp32", 0.31, 0.0011)}


def report_doc() -> dict:
    def stage(name, parent, value, **extra):
        return {"name": name, "parent": parent, "passed": True, "precision": "fp32", "metrics": {"value": value}} | extra

    stages = [stage("pytorch", None, 0.20682), stage("numpy-reference", "pytorch", 0.20682),
              stage("onnx-fp32", "pytorch", 0.20682)]
    for name, (parent, ratio, inc) in RECIPES.items():
        stages.append(stage(name, parent, 0.20682 * (1 + inc), recipe=name, size_ratio=ratio,
                            metric_check={"budget": 0.02, "increase": inc, "metric": "mae_std_units", "passed": True,
                                          "parent_value": 0.20682, "value": 0.20682 * (1 + inc)},
                            cases=[{"case": "test-windows", "outputs": [{"output": "y", "max_abs": 0.475}]}]))
    drift = lambda v: [{"horizon": n, "y": v, "h": v / 2, "c": v / 3, "budget": 0.1, "passed": True}  # noqa: E731
                       for n in (1, 100, 1000, 10000)]
    return {"model": "sensor", "task": "forecast", "passed": True, "stages": stages,
            "cases": ["test-windows"] + [f"random B={b} T={t}" for b in (1, 2, 7) for t in (1, 2, 50, 1000)],
            "forecast": {"metric": "mae_std_units", "value": 0.20682, "persistence_mae_std_units": 0.2481,
                         "test_windows": 600},
            "refusals": [{"recipe": "tflite-int8", "best_val_metric": 0.216, "val_metric_increase": 0.5093,
                          "budget_metric_increase": 0.02}],
            "streaming": [{"stage": "onnx-fp32", "precision": "fp32", "drift": drift(6e-7), "passed": True,
                           "equivalence_max_abs": {"chunks of 7": 0.0, "whole sequence": 0.0}},
                          {"stage": "onnx-int8-dynamic", "precision": "int8", "drift": drift(0.08), "passed": True,
                           "equivalence_max_abs": {"chunks of 7": 0.042, "whole sequence": 0.044}}]}


SCENARIOS = {"step": {"batch": 1, "time": 100, "mode": "step"}, "sequence": {"batch": 1, "time": 100, "mode": "call"},
             "throughput": {"batch": 64, "time": 100, "mode": "call"}}


def result(name, runtime, precision, size, parent=None, floor=False, **scenarios):
    """scenarios: name=(median ms, GFLOP/s[, onnxruntime profile])."""
    steps = {"step": 1, "sequence": 100, "throughput": 6400}
    return {"name": name, "runtime": runtime, "precision": precision, "parent": parent, "size_bytes": size,
            "floor": floor, "stepped": False,
            "scenarios": {sc: {"median_ms": v[0], "p99_ms": v[0] * 1.2, "mean_ms": v[0], "gflops": v[1],
                               "steps_per_s": steps[sc] / (v[0] / 1e3), "max_abs_error_vs_pytorch": 1e-7,
                               "profile_us_per_call": v[2] if len(v) > 2 else {}} for sc, v in scenarios.items()}}


def bench_doc(hidden: int) -> dict:
    if hidden == 64:
        results = [result("pytorch-eager", "pytorch", "fp32", 206_000, step=(0.1447, 0.2), sequence=(0.394, 7.0)),
                   result("floor:litert", "litert", "—", 900, floor=True, step=(0.0046, 1.0), sequence=(0.02, 1.0)),
                   result("floor:onnxruntime", "onnxruntime", "—", 900, floor=True, step=(0.009, 1.0),
                          sequence=(0.016, 1.0)),
                   result("onnx-fp32", "onnxruntime", "fp32", 208_000, parent="pytorch", step=(0.022, 2.0),
                          sequence=(0.22, 12.0, {"LSTM": 180.0, "Gemm": 20.0})),
                   result("onnx-fp16", "onnxruntime", "fp16", 106_000, parent="onnx-fp32",
                          sequence=(0.215, 13.0, {"LSTM": 170.0, "Cast": 30.0})),
                   result("onnx-int8-dynamic", "onnxruntime", "int8-dynamic", 61_000, parent="onnx-fp32",
                          sequence=(0.25, 11.0, {"DynamicQuantizeLSTM": 200.0})),
                   result("tflite-fp32", "litert", "fp32", 211_000, parent="pytorch", sequence=(0.526, 5.0)),
                   result("tflite-step-fp32", "litert", "fp32", 211_000, parent="pytorch", step=(0.008, 3.0))]
        sgemm = {"n": 1024, "gflops": 161.2, "median_ms": 13.3, "threads": 1,
                 "lstm_shape": {"m": 1, "k": 64, "n": 256, "gflops": 20.0}}
        scenarios = SCENARIOS
    else:
        results = [result("pytorch-eager", "pytorch", "fp32", 3_200_000, throughput=(110.0, 154.0)),
                   result("onnx-fp32", "onnxruntime", "fp32", 3_200_000, parent="pytorch",
                          throughput=(137.0, 124.0, {"LSTM": 98_000.0, "Transpose": 2_000.0})),
                   result("onnx-int8-dynamic", "onnxruntime", "int8-dynamic", 800_000, parent="onnx-fp32",
                          throughput=(58.8, 288.0, {"DynamicQuantizeLSTM": 50_000.0}))]
        sgemm = {"n": 1024, "gflops": 160.0, "median_ms": 13.4, "threads": 1,
                 "lstm_shape": {"m": 64, "k": 256, "n": 1024, "gflops": 136.5}}
        scenarios = {"throughput": SCENARIOS["throughput"]}
    doc = {"schema": "lstm-edge-bench/1", "model": "sensor", "dims": {"hidden_size": hidden, "num_layers": 2},
           "settings": {"threads": 1, "rounds": 5, "scenarios": scenarios}, "sgemm": sgemm,
           "flops_per_step": 2 * 4 * 2 * hidden * (hidden + 4), "results": results, "skipped": []}
    doc["targets"] = targets(doc)
    return doc


def console_text(report: dict) -> str:
    lines = ["pip install noise", ".venv/bin/lstm-edge pipeline --model models/sensor.toml --out artifacts/sensor",
             "· training 'sensor' (forecast) on sensor-generator seed=0 days=180",
             "training ━━━╸                16/80 0:00:16 train 0.0683  val 0.0493  best 0.0346",
             "· exporting ONNX (native LSTM op)", "· onnx-int8-dynamic: attempt 1/2 {'per_channel': False}",
             "· bundling every stage that passed", "          parity against the parent stage: sensor          ",
             "┏━━━━━━━┓", "┃ stage ┃", "┡━━━━━━━┩", "│ onnx  │", "└───────┘",
             "task (forecast): test MAE 0.2068 std units vs seasonal-naive 0.4638 (+55.4 %), persistence 0.2481"]
    lines += [f"  {s['name']:<22} test mae_std_units {s['metrics']['value']:.5f}" for s in report["stages"][1:]]
    lines += ["verdict: PASS", "wrote artifacts/sensor/report.json and artifacts/sensor/report.md",
              "wrote the device bundle artifacts/sensor/bundle; on the device: python -m lstm_edge.runtime verify bundle",
              "· 60 line(s) from the libraries (TensorFlow, onnxruntime, …) went to artifacts/sensor.log", "", "real 4m15s"]
    return "\n".join(lines) + "\n"


def write_inputs(tmp: Path, report=None, sensor=None, throughput=None) -> dict[str, Path]:
    report = report or report_doc()
    files = {"report": tmp / "report.json", "bench": tmp / "bench.json", "throughput-bench": tmp / "tp.json",
             "console": tmp / "sensor.console"}
    files["report"].write_text(json.dumps(report))
    files["bench"].write_text(json.dumps(sensor or bench_doc(64)))
    files["throughput-bench"].write_text(json.dumps(throughput or bench_doc(256)))
    files["console"].write_text(console_text(report))
    return files


def readme_like(names) -> str:
    """Prose around every marker the script fills, each holding stale figures."""
    parts = ["# A README\n\nIntro, untouched: 1.23 µs.\n\n<!-- figures:demo-console -->\n```\nold console\n```\n"
             "<!-- /figures:demo-console -->\n\nBetween, untouched: 45 %.\n\n<!-- figures:quant-column -->\n\n"
             "| recipe | what | on this model |\n|---|---|---|\n"
             + "".join(f"| `{r}` | words {r} | 0.99×, +9.99 % |\n" for r in [*RECIPES, "tflite-int8"])
             + "\n<!-- /figures:quant-column -->\n\n<!-- figures:bench-targets -->\n\n| stale |\n\n"
             "<!-- /figures:bench-targets -->\n"]
    parts += [f"- {n}: before <!-- figures:{n} -->0.00<!-- /figures:{n} --> after 7.7 s.\n"
              for n in sorted(names) if n not in ("demo-console", "quant-column", "bench-targets")]
    return "\n".join(parts) + "\nThe end, untouched: 3.1 µs.\n"


def run(files, readme: Path, *extra) -> int:
    return rf.main(["--readme", str(readme), "--console", str(files["console"]), "--report", str(files["report"]),
                    "--bench", str(files["bench"]), "--throughput-bench", str(files["throughput-bench"]), *extra])


def unmarked(text: str) -> str:
    return re.sub(r"(<!-- figures:([a-z0-9-]+) -->).*?(<!-- /figures:\2 -->)", r"\1\3", text, flags=re.S)


@pytest.fixture
def setup(tmp_path):
    files = write_inputs(tmp_path)
    names = rf.figures(files["console"], files["report"], files["bench"], files["throughput-bench"]).keys()
    readme = tmp_path / "README.md"
    readme.write_text(readme_like(names))
    return files, readme


def test_only_the_marked_regions_change_and_hold_the_inputs_figures(setup):
    files, readme = setup
    before = readme.read_text()
    assert run(files, readme) == 0
    after = readme.read_text()
    assert after != before and unmarked(after) == unmarked(before)
    console = after.split("<!-- figures:demo-console -->\n")[1].split("<!-- /figures:demo-console -->")[0]
    assert "pip install noise" not in console and "real 4m15s" not in console
    assert "· exporting ONNX (native LSTM op) … (2 more progress lines elided)" in console
    assert "training ━━━╸                16/80" in console and "┏━━━━━━━┓" in console
    assert "          parity against the parent stage: sensor\n" in console      # title kept, trailing blanks cut
    assert console.rstrip().endswith("went to artifacts/sensor.log\n```")
    assert "| `onnx-int8-static` | words onnx-int8-static | 0.31×, +0.11 % |" in after
    assert "| `onnx-fp16` | words onnx-fp16 | 0.51× size, MAE +0.00 % |" in after
    assert "| `onnx-int8-dynamic` | words onnx-int8-dynamic | 0.29×, −1.17 % |" in after
    assert "| `tflite-int8` | words tflite-int8 | refused: +50.9 % |" in after
    assert "| sequence (B = 1, T = 100): best artefact vs PyTorch eager | 1.83× (onnx-fp16 215 µs, PyTorch 394 µs) " \
           "| ≥ 4× | **missed** |" in after
    assert "| step: best artefact vs a PyTorch eager step | 18.1× (tflite-step-fp32 8.0 µs, PyTorch 144.7 µs) " \
           "| ≥ 10× | met |" in after
    assert "| throughput (H = 256): best fp32 artefact vs sgemm | 0.78 (onnx-fp32 124 GFLOP/s) | ≥ 0.85 | **missed** |" in after
    assert "-->N = 1024: 160 GFLOP/s<!--" in after and "-->`LSTM` op is 85 %<!-- /figures:seq-share" in after
    assert "-->1.99 µs<!-- /figures:seq-step" in after and "-->6e-07<!--" in after
    assert run(files, readme, "--check") == 0 and readme.read_text() == after     # idempotent


def test_a_changed_input_figure_shows_in_the_output(setup, tmp_path):
    files, readme = setup
    report = report_doc()
    static = next(s for s in report["stages"] if s["name"] == "onnx-int8-static")
    static["metric_check"]["increase"] = 0.0234
    throughput = bench_doc(256)
    throughput["sgemm"]["gflops"] = 173.4
    files = write_inputs(tmp_path, report=report, throughput=throughput)
    assert run(files, readme) == 0
    after = readme.read_text()
    assert "| `onnx-int8-static` | words onnx-int8-static | 0.31×, +2.34 % |" in after
    assert "<!-- figures:static-metric -->+2.34 %<!-- /figures:static-metric -->" in after
    assert "-->N = 1024: 173 GFLOP/s<!--" in after


def test_check_reports_drift_and_writes_nothing(setup, tmp_path, capsys):
    files, readme = setup
    assert run(files, readme) == 0
    filled = readme.read_text()
    sensor = bench_doc(64)
    next(r for r in sensor["results"] if r["name"] == "tflite-step-fp32")["scenarios"]["step"]["median_ms"] = 0.0083
    sensor["targets"] = targets(sensor)
    files = write_inputs(tmp_path, sensor=sensor)
    capsys.readouterr()
    assert run(files, readme, "--check") == 1
    diff = capsys.readouterr().out
    assert "+| step: best artefact vs a PyTorch eager step | 17.4× (tflite-step-fp32 8.3 µs" in diff
    assert readme.read_text() == filled


@pytest.mark.parametrize("damage, named", [
    (lambda t: t.replace("<!-- figures:stepper -->", ""), "/figures:stepper"),
    (lambda t: t.replace("<!-- /figures:stepper -->", ""), "figures:stepper"),
    (lambda t: re.sub(r"<!-- figures:stepper -->.*?<!-- /figures:stepper -->", "", t), "no <!-- figures:stepper -->"),
    (lambda t: t + "<!-- figures:nonsense -->x<!-- /figures:nonsense -->\n", "figures:nonsense"),
    (lambda t: t + "\n<!-- figures:stepper -->x<!-- /figures:stepper -->\n", "a second time"),
    (lambda t: t.replace("- stepper: before <!--", "<!--"), "starts a line"),
])
def test_a_missing_or_unbalanced_marker_is_refused_by_name(setup, capsys, damage, named):
    files, readme = setup
    readme.write_text(damage(readme.read_text()))
    before = readme.read_text()
    assert run(files, readme) == 2
    assert named in capsys.readouterr().err and readme.read_text() == before


@pytest.mark.parametrize("which", ["report", "bench", "throughput-bench", "console"])
def test_a_missing_input_is_refused_by_name(setup, capsys, which):
    files, readme = setup
    files[which].unlink()
    before = readme.read_text()
    assert run(files, readme) == 2
    assert f"{files[which]}: missing" in capsys.readouterr().err and readme.read_text() == before


def test_a_console_from_another_run_is_refused(setup, capsys):
    files, readme = setup
    report = report_doc()
    other = copy.deepcopy(report)
    other["stages"][2]["metrics"]["value"] = 0.31
    files["console"].write_text(console_text(other))
    assert run(files, readme) == 2
    err = capsys.readouterr().err
    assert "from different runs" in err and "onnx-fp32" in err


def test_a_miss_the_prose_does_not_explain_is_refused(setup, tmp_path, capsys):
    """A loaded machine can miss a third target: the README's "Why the two misses" would then be wrong."""
    files, readme = setup
    sensor = bench_doc(64)
    next(r for r in sensor["results"] if r["name"] == "tflite-step-fp32")["scenarios"]["step"]["median_ms"] = 0.0123
    sensor["targets"] = targets(sensor)
    files = write_inputs(tmp_path, sensor=sensor)
    before = readme.read_text()
    assert run(files, readme) == 2
    assert "identity floor" in capsys.readouterr().err and readme.read_text() == before


def test_keep_bench_writes_the_rest_and_leaves_the_bench_regions(setup, tmp_path):
    files, readme = setup
    before = readme.read_text()
    files["bench"].unlink()
    assert run(files, readme, "--keep-bench") == 0
    after = readme.read_text()
    assert "| `onnx-int8-static` | words onnx-int8-static | 0.31×, +0.11 % |" in after
    for name in rf.BENCH:
        old = re.search(rf"<!-- figures:{name} -->(.*?)<!-- /figures:{name} -->", before, re.S)[1]
        assert f"<!-- figures:{name} -->{old}<!-- /figures:{name} -->" in after


def test_the_real_readme_has_every_marker_the_script_fills_balanced(setup):
    files, _ = setup
    names = rf.figures(files["console"], files["report"], files["bench"], files["throughput-bench"]).keys()
    assert set(rf.BENCH) == {"bench-targets"} | rf.bench_figures(bench_doc(64), bench_doc(256)).keys()
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    found = [n for n, _, _ in rf.regions(text, readme)]
    assert sorted(found) == sorted(names)
    rf.fill(text, readme, dict.fromkeys(names, "x"))      # and no inline marker starts a line
