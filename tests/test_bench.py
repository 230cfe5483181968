"""lstm-edge bench on the tiny model: the schema, and every figure present and finite — never timings."""
from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from lstm_edge.bench.run import lstm_flops
from lstm_edge.bench.report import check_bench
from lstm_edge.cli import app


def test_bench_writes_every_figure(tiny_run, tmp_path):
    out, _ = tiny_run
    run = tmp_path / "run"
    shutil.copytree(out, run, ignore=shutil.ignore_patterns("bundle"))
    r = CliRunner().invoke(app, ["bench", str(run), "--rounds", "1", "--peers", "none"])
    assert r.exit_code == 0, r.output
    doc = json.loads((run / "bench.json").read_text())
    assert check_bench(doc) == []
    names = {x["name"] for x in doc["results"]}
    assert {"pytorch-eager", "floor:onnxruntime", "floor:litert", "onnx-fp32", "tflite-fp32", "tflite-step-fp32",
            "tflite-seq-fp32"} <= names
    assert not names & {"torch-jit", "torch-compile", "openvino", "executorch"}      # --peers none
    # it ends with which artefact to ship, in bench.md, in report.md and in the CLI's summary
    assert "## Which artefact to ship" in (run / "bench.md").read_text()
    assert (run / "report.md").read_text().count("## Which artefact to ship") == 1
    assert "LiteRT (Android, embedded Linux): ship " in r.output
    by = {x["name"]: x for x in doc["results"]}
    assert set(by["onnx-fp32"]["scenarios"]) == {"step", "sequence", "throughput"}
    assert "step" not in by["tflite-fp32"]["scenarios"]                      # no cell state: skipped, and said so
    assert any(s["name"] == "tflite-fp32" for s in doc["skipped"])
    assert by["onnx-fp32"]["scenarios"]["sequence"]["max_abs_error_vs_pytorch"] < 1e-5
    assert by["onnx-fp32"]["scenarios"]["sequence"]["profile_us_per_call"].get("LSTM", 0) > 0
    assert {t["target"].split(":")[0] for t in doc["targets"]} == {"step", "sequence", "size"}   # H = 8: throughput not judged
    assert "judged on the H = 256 model" in r.output
    assert (run / "bench.md").read_text().count("| pytorch-eager |") == 3
    assert (run / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "## Targets" in r.output


def test_the_peers_run_beside_the_artefacts_on_the_same_weights(tiny_run, tmp_path):
    """torch.jit, torch.compile, OpenVINO on our ONNX and ExecuTorch + XNNPACK, at one step per call (ExecuTorch
    exports a program per shape: T = 1 takes seconds; the sequence scenario's T = 100 takes minutes)."""
    out, _ = tiny_run
    run = tmp_path / "run"      # the model and onnx-fp32 (OpenVINO reads it); the other artefacts are benched above
    shutil.copytree(out, run, ignore=shutil.ignore_patterns("bundle", "*.tflite*", "onnx-int8-*", "onnx-fp16*"))
    peers = ["torch-jit", "torch-compile", "openvino", "executorch"]
    r = CliRunner().invoke(app, ["bench", str(run), "--rounds", "1", "--scenario", "step"]
                           + [a for p in peers for a in ("--peers", p)])
    assert r.exit_code == 0, r.output
    doc = json.loads((run / "bench.json").read_text())
    assert check_bench(doc) == []
    by = {x["name"]: x for x in doc["results"]}
    for p in peers:
        assert by[p]["scenarios"]["step"]["max_abs_error_vs_pytorch"] < 1e-5, p      # the same weights, the same answer
    assert len(list((run / "peers").glob("executorch-xnnpack-B1-T1-*.pte"))) == 1     # cached for the next run
    assert by["executorch"]["size_bytes"] == next((run / "peers").glob("*.pte")).stat().st_size
    assert "| torch-jit |" in (run / "bench.md").read_text()


def test_an_unknown_or_absent_peer_is_named(tiny_run, tmp_path, monkeypatch):
    import importlib.util

    from lstm_edge.bench import peers
    from lstm_edge.source import open_source

    out, _ = tiny_run
    r = CliRunner().invoke(app, ["bench", str(out), "--peers", "tvm"])
    assert r.exit_code == 2 and "unknown peer(s) ['tvm']" in r.output
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "openvino" else real(n, *a))
    planned, skipped = peers.plan(out, open_source(out), ["sequence"], ["openvino", "torch-jit"])
    assert [p["name"] for p in planned] == ["torch-jit"]
    assert skipped == [{"name": "openvino", "reason": "openvino is not installed (pip install 'lstm-edge[peers]')"}]


def test_the_schema_check_can_fail(tiny_run):
    broken = {"schema": "lstm-edge-bench/1", "sgemm": {"gflops": float("nan"), "median_ms": 1.0},
              "results": [{"name": "x", "size_bytes": 1, "load_ms": 1, "peak_rss_mb": 1, "floor": False,
                           "scenarios": {"step": {"median_ms": 0.0}}}], "targets": []}
    problems = check_bench(broken)
    assert "sgemm.gflops" in problems and any("x/step: median_ms" in p for p in problems)


def test_flop_count_of_one_step():
    dims = {"input_size": 4, "hidden_size": 64, "num_layers": 2, "output_size": 2}
    # layer 1: 2·4H·(F + H); layer 2: 2·4H·(H + H); head: 2·H·O
    assert lstm_flops(dims, 1) == 2 * 256 * 68 + 2 * 256 * 128 + 2 * 64 * 2
    assert lstm_flops(dims, 10) == 10 * lstm_flops(dims, 1)


def test_bench_compare_of_device_results(tmp_path):
    from lstm_edge.runtime.harness.bench import SCHEMA

    doc = {"schema": SCHEMA, "device": {"machine": "aarch64", "cpu_count": 4}, "bundle": {}, "settings": {"threads": 1},
           "results": [{"artifact": "onnx-fp32.onnx", "size_bytes": 10, "load_ms": 1.0, "peak_rss_mb": 50.0,
                        "sequence": {"mean_ms": 1.0, "p50_ms": 1.0, "p90_ms": 1.0, "p99_ms": 2.0}, "step": None}]}
    (tmp_path / "pi.json").write_text(json.dumps(doc))
    doc["results"][0]["sequence"]["p50_ms"] = 0.5
    (tmp_path / "laptop.json").write_text(json.dumps(doc))
    r = CliRunner().invoke(app, ["bench", "--compare", str(tmp_path / "pi.json"), "--compare", str(tmp_path / "laptop.json")])
    assert r.exit_code == 0, r.output
    assert "0.50×" in r.output
    (tmp_path / "bad.json").write_text("{}")
    r = CliRunner().invoke(app, ["bench", "--compare", str(tmp_path / "bad.json")])
    assert r.exit_code == 3 and "not a bench result" in r.output


def test_targets_are_ratios_of_one_run():
    from lstm_edge.bench.report import targets

    def peer(name, precision, size, parent=None, runtime="onnxruntime", floor=False, **scenarios):
        return {"name": name, "runtime": runtime, "precision": precision, "size_bytes": size, "parent": parent,
                "floor": floor, "scenarios": {k: {"median_ms": v[0], "gflops": v[1], "steps_per_s": 6400 / v[0]}
                                              for k, v in scenarios.items()}}

    scenarios = {"step": {"mode": "step", "time": 100}, "sequence": {"mode": "call", "time": 100},
                 "throughput": {"mode": "call", "time": 100}}
    doc = {"dims": {"hidden_size": 256}, "flops_per_step": 1e6, "settings": {"scenarios": scenarios}, "sgemm": {"gflops": 100.0, "n": 1024,
           "lstm_shape": {"m": 64, "k": 256, "n": 1024, "gflops": 90.0}},
           "results": [peer("pytorch-eager", "fp32", 100, runtime="pytorch", step=(0.2, 1), sequence=(1.0, 1), throughput=(100, 50)),
                       peer("floor:onnxruntime", "—", 1, floor=True, step=(0.01, 0), sequence=(0.02, 0), throughput=(0.05, 0)),
                       peer("onnx-fp32", "fp32", 100, step=(0.025, 1), sequence=(0.2, 1), throughput=(50, 90)),
                       peer("onnx-int8-dynamic", "int8-weights", 25, parent="onnx-fp32", step=(0.03, 1),
                            sequence=(0.3, 1), throughput=(25, 180))]}
    got = {t["target"]: (round(t["value"], 3), t["met"]) for t in targets(doc)}
    assert got == {"step: best artefact vs PyTorch eager": (8.0, False),
                   "step: best artefact vs its runtime's identity floor": (2.5, False),
                   "sequence: best artefact vs PyTorch eager": (5.0, True),
                   "throughput: best fp32 artefact vs sgemm": (0.9, True),
                   "throughput: best int8 artefact vs best fp32": (2.0, True),
                   "size: smallest int8 artefact vs its fp32 parent": (0.25, True)}


# ---------------------------------------------------------------------------------------------
# lstm_edge.bench: the report of a synthetic bench.json

def synthetic_bench() -> dict:
    def result(name, runtime, precision, size, ms, err, floor=False, parent=None):
        return {"name": name, "runtime": runtime, "precision": precision, "size_bytes": size, "parent": parent,
                "floor": floor, "stepped": False, "load_ms": 3.0, "peak_rss_mb": 80.0,
                "scenarios": {"sequence": {"median_ms": ms, "p99_ms": 1.5 * ms, "mean_ms": 1.1 * ms,
                                           "steps_per_s": 100 / ms * 1e3, "gflops": 0.05 / ms,
                                           "max_abs_error_vs_pytorch": err}}}

    return {"schema": "lstm-edge-bench/1", "model": "tiny", "dims": {"hidden_size": 8, "num_layers": 2},
            "flops_per_step": 2000, "settings": {"threads": 1, "rounds": 3,
                                                 "scenarios": {"sequence": {"batch": 1, "mode": "call", "time": 100}}},
            "sgemm": {"n": 512, "gflops": 40.0, "median_ms": 6.7, "lstm_shape": {"m": 1, "k": 8, "n": 32, "gflops": 1.0}},
            "results": [result("pytorch-eager", "pytorch", "fp32", 9000, 2.0, 0.0),
                        result("floor:onnxruntime", "onnxruntime", "—", 300, 0.01, None, floor=True),
                        result("onnx-fp32", "onnxruntime", "fp32", 9000, 0.4, 1e-7),
                        result("onnx-int8-dynamic", "onnxruntime", "int8-weights", 2500, 0.5, 3e-3, parent="onnx-fp32")],
            "skipped": [{"name": "tflite-fp32", "reason": "ai-edge-litert not installed"}]}


def test_bench_report_of_a_synthetic_run():
    from lstm_edge.bench.report import check_bench, markdown, targets

    doc = synthetic_bench()
    doc["targets"] = targets(doc)
    got = {t["target"]: (round(t["value"], 3), t["met"]) for t in doc["targets"]}
    assert got == {"sequence: best artefact vs PyTorch eager": (5.0, True),
                   "size: smallest int8 artefact vs its fp32 parent": (round(2500 / 9000, 3), True)}
    assert check_bench(doc) == []
    md = markdown(doc)
    assert md.startswith("# Benchmark: tiny (H = 8, L = 2)")
    assert "| onnx-fp32 | onnxruntime | fp32 | 9 | 400.0 µs | 600.0 µs |" in md and "| 5.0× |" in md
    assert "skipped tflite-fp32: ai-edge-litert not installed" in md
    doc["results"][2]["scenarios"]["sequence"]["median_ms"] = float("inf")
    doc["results"][3]["peak_rss_mb"] = 0
    assert check_bench(doc) == ["onnx-fp32/sequence: median_ms = inf", "onnx-int8-dynamic: peak_rss_mb = 0"]
