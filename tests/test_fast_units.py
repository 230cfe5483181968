"""Fast unit tests: every package's own code, without training a model or converting with TensorFlow.

The fast loop (`make test-fast`, pytest -m "not slow") runs these beside the other files' fast
tests; tests/test_fast_loop.py checks that every package keeps at least one fast test. What
needs a checkpoint gets an untrained one (seeded random weights, the real data pipeline, the
files training writes), so export, stream and checkpoint code run as they do after training.
"""
from __future__ import annotations

import errno
import json
import pickle
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import tiny_spec_dict
from lstm_edge.errors import (ConversionError, EnvironmentFault, InvalidInputError, LstmEdgeError, ParityError,
                              SecurityRefusal, UsageError)

cli = CliRunner()

# A short grid and stream: the spec stays valid, nothing here runs 10 000 steps.
FAST_SPEC = tiny_spec_dict(parity={"batch_sizes": [1, 3], "lengths": [1, 40]},
                           streaming={"length": 200, "horizons": [1, 50, 200], "chunk": 7, "fp32": [1e-5] * 3,
                                      "fp16": [1e-3] * 3, "int8": [0.1] * 3})


# ---------------------------------------------------------------------------------------------
# An untrained checkpoint: what `lstm-edge train` writes, with seeded random weights instead of
# trained ones (model.json, model.safetensors, test/val/calibration sets, hashes).

@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    import torch

    from lstm_edge.model.network import SequenceLSTM
    from lstm_edge.model.spec import spec_from_dict
    from lstm_edge.tasks import task_for, task_name
    from lstm_edge.train.checkpoint import save_checkpoint
    from lstm_edge.train.fit import model_dims

    spec = spec_from_dict(FAST_SPEC)
    task = task_for(spec)
    data = task.load(None)
    dims = model_dims(spec, data)
    torch.manual_seed(0)
    model = SequenceLSTM(**dims).eval()
    test, val = task.eval_set(data, "test"), task.eval_set(data, "val")
    with torch.no_grad():
        y, _, _ = model(torch.from_numpy(test["x"]), *model.zero_state(len(test["x"])))
    meta = {"model": spec.name, "spec": spec.to_dict(), "dims": dims, "task": {"name": task_name(spec), **data.extra},
            "features": list(data.features), "targets": list(data.targets), "normalization": data.normalization,
            "data_source": data.source, "training": {"epochs": 0, "best_val_loss": None, "seconds": 0.0, "history": []},
            "test_metrics": task.score(y.numpy(), test)}
    out = tmp_path_factory.mktemp("untrained") / "run"
    out.mkdir()
    tensors = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    save_checkpoint(out, tensors, meta, test, {"x": data.train.x[:16]}, val)
    return out, tensors, json.loads((out / "model.json").read_text())     # with the hashes save_checkpoint adds


@pytest.fixture(scope="module")
def exported(untrained, tmp_path_factory):
    """The untrained checkpoint with its ONNX artefact (torch.onnx export + self-check: about a second)."""
    from lstm_edge.exporting.artifacts import export

    src, _, _ = untrained
    out = tmp_path_factory.mktemp("exported") / "run"
    shutil.copytree(src, out)
    written, refused = export(out, ["onnx"])
    return out, written, refused


# ---------------------------------------------------------------------------------------------
# lstm_edge (top level): errors, files, pipeline

def test_every_error_kind_has_its_exit_code_and_next_step():
    assert [c.exit_code for c in (ParityError, UsageError, InvalidInputError, SecurityRefusal, EnvironmentFault)] \
        == [1, 2, 3, 4, 5]
    e = InvalidInputError("model.onnx is corrupt", hint="re-export it")
    assert str(e) == "model.onnx is corrupt\n  next step: re-export it" and isinstance(e, LstmEdgeError)
    c = ConversionError("a.onnx", ["shape wrong", "dtype wrong"])
    assert c.exit_code == 3 and "2 check(s) failed" in str(c) and "[x] dtype wrong" in str(c)
    from lstm_edge.errors import from_os_error

    full = from_os_error(OSError(errno.ENOSPC, "No space left on device", "/out/x"))
    assert isinstance(full, EnvironmentFault) and full.exit_code == 5 and "/out/x" in str(full) and "ENOSPC" in str(full)
    gone = from_os_error(OSError(errno.ENOENT, "No such file or directory", "/in/y"))
    assert isinstance(gone, InvalidInputError) and gone.exit_code == 3 and "ENOENT" in str(gone)


def test_sidecars_catch_a_replaced_artefact_and_json_errors_are_named(tmp_path):
    from lstm_edge.files import list_artifacts, read_json, read_sidecar, write_bytes_atomic, write_sidecar

    art = tmp_path / "a.onnx"
    write_bytes_atomic(art, b"model bytes")
    info = write_sidecar(art, {"kind": "artifact", "parent": "pytorch"})
    assert info["size_bytes"] == 11 and read_sidecar(art)["parent"] == "pytorch"
    write_bytes_atomic(tmp_path / "b.onnx", b"no sidecar")
    (tmp_path / "model.json").write_text("{}")
    assert list_artifacts(tmp_path) == [art]
    art.write_bytes(b"model bytez")
    with pytest.raises(InvalidInputError, match="does not match its sidecar"):
        read_sidecar(art)
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        read_json(tmp_path / "bad.json")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]    # atomic writes leave no temporaries


def test_a_failed_stage_leaves_the_previous_output_and_a_good_one_replaces_it(tmp_path):
    from lstm_edge.files import staged_output

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("previous")
    with pytest.raises(RuntimeError):
        with staged_output(out) as staging:
            (staging / "new.txt").write_text("half")
            raise RuntimeError("a stage failed")
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]       # no staging directory or lock left
    with staged_output(out) as staging:
        (staging / "new.txt").write_text("done")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_pipeline_refuses_a_missing_csv_before_it_trains_or_writes(tmp_path):
    from lstm_edge.model.spec import spec_from_dict
    from lstm_edge.pipeline import pipeline

    spec = spec_from_dict(tiny_spec_dict())
    with pytest.raises(InvalidInputError, match="no-such.csv"):
        pipeline(spec, tmp_path / "out", data=tmp_path / "no-such.csv", bar=False)
    csv_spec = spec_from_dict(tiny_spec_dict(data=FAST_SPEC["data"] | {"source": "csv"}))
    with pytest.raises(UsageError, match="--data FILE"):
        pipeline(csv_spec, tmp_path / "out", bar=False)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# lstm_edge.cli

COMMANDS = {"train", "export", "verify", "pipeline", "stream", "sample", "bundle", "bench", "probe-gates"}


def test_every_command_answers_help():
    from lstm_edge.cli import app

    names = {c.name for c in app.registered_commands}
    assert COMMANDS <= names, COMMANDS - names
    for name in sorted(names):
        r = cli.invoke(app, [name, "--help"])
        assert r.exit_code == 0, (name, r.output)
        assert "Usage:" in r.output and f" {name} " in r.output, (name, r.output)


def test_usage_errors_exit_2_and_say_what_goes_together(tmp_path):
    from lstm_edge.cli import app

    r = cli.invoke(app, ["export", str(tmp_path / "out"), "--module", "net.py:Net"])
    assert r.exit_code == 2 and "go together" in r.output, r.output
    r = cli.invoke(app, ["export", str(tmp_path / "out"), "--module", "net.py:Net", "--weights", "w.safetensors",
                         "--example-shape", "2,x,4"])
    assert r.exit_code == 2 and "expected integers" in r.output, r.output
    r = cli.invoke(app, ["verify", str(tmp_path), "--no-such-flag"])
    assert r.exit_code == 2
    r = cli.invoke(app, ["export", str(tmp_path), "--format", "keras"])
    assert r.exit_code == 2 and "keras" in r.output
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# lstm_edge.train: the checkpoint on disk (training itself is slow: tiny_run, test_zoo)

def test_checkpoint_round_trip_and_what_it_refuses(untrained, tmp_path):
    from lstm_edge.train.checkpoint import expected_shapes, load_checkpoint, load_test_set

    src, tensors, meta = untrained
    got, got_meta = load_checkpoint(src)
    assert set(got) == set(tensors) == set(expected_shapes(meta["dims"]))
    assert all(np.array_equal(got[k], tensors[k]) for k in tensors)
    assert got_meta["dims"] == meta["dims"] and got_meta["weights_sha256"]
    assert load_test_set(src, got_meta)["x"].shape[1:] == (FAST_SPEC["data"]["window"], len(meta["features"]))

    work = tmp_path / "run"
    shutil.copytree(src, work)
    blob = bytearray((work / "model.safetensors").read_bytes())
    blob[-1] ^= 0xFF
    (work / "model.safetensors").write_bytes(bytes(blob))
    with pytest.raises(InvalidInputError, match="sha256"):
        load_checkpoint(work)
    (work / "test_set.npz").write_bytes(b"PK\x05\x06" + bytes(18))
    with pytest.raises(InvalidInputError, match="test_set.npz: sha256"):
        load_test_set(work, got_meta)
    (work / "model.safetensors").unlink()
    (work / "model.pt").write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(SecurityRefusal, match="never unpickles"):
        load_checkpoint(work)
    with pytest.raises(InvalidInputError, match="holds no checkpoint"):
        load_checkpoint(tmp_path)


# ---------------------------------------------------------------------------------------------
# lstm_edge.exporting and lstm_edge.converters (ONNX only: TFLite converts with TensorFlow, slow)

def test_export_writes_a_checked_onnx_artefact_that_matches_pytorch(untrained, exported):
    from lstm_edge.converters.validate import example_feeds
    from lstm_edge.files import read_sidecar
    from lstm_edge.model.network import TorchRunner, load_model
    from lstm_edge.runtime import open_runner

    out, written, refused = exported
    _, tensors, meta = untrained
    assert refused == [] and [w["artifact"] for w in written] == ["onnx-fp32.onnx"]
    info = read_sidecar(out / "onnx-fp32.onnx")                      # hash matches the bytes on disk
    assert (info["format"], info["precision"], info["parent"]) == ("onnx", "fp32", "pytorch")
    feeds = example_feeds(meta["dims"], batch=3, length=11)
    got = open_runner(out / "onnx-fp32.onnx").run(feeds)
    want = TorchRunner(load_model(tensors, meta["dims"])).run(feeds)
    for k in ("y", "hn", "cn"):
        np.testing.assert_allclose(got[k], want[k], atol=1e-5, rtol=1e-5)


def test_export_refuses_unknown_formats_and_recipes(exported):
    from lstm_edge.exporting.artifacts import export

    out, _, _ = exported
    with pytest.raises(UsageError, match="keras"):
        export(out, ["keras"])
    with pytest.raises(UsageError, match="unknown quantization recipe 'int3'"):
        export(out, [], recipes=["int3"])


def test_recipes_are_data_judged_against_the_fp32_stage_of_their_format():
    from lstm_edge.converters.recipes import RECIPES, recipe

    assert len(RECIPES) >= 9
    for name, r in RECIPES.items():
        family = "tflite-step" if name.startswith("tflite-step-") else r.format
        assert r.name == name and r.parent == f"{family}-fp32"          # judged against its own format's fp32
        assert r.parent.startswith(r.format) and r.suffix == (".onnx" if r.format == "onnx" else ".tflite")
        assert r.attempts and all(isinstance(a, dict) for a in r.attempts)
    assert recipe("tflite-step-fp16").parent == "tflite-step-fp32"
    with pytest.raises(UsageError, match="choose from") as e:
        recipe("onnx-int3")
    assert e.value.exit_code == 2


def test_converter_self_check_names_every_failure_at_once():
    from lstm_edge.converters.validate import check_outputs

    want = {"y": np.zeros((2, 3, 1)), "hn": np.zeros((1, 2, 4)), "cn": np.zeros((1, 2, 4))}
    assert check_outputs({k: v.astype(np.float32) for k, v in want.items()}, want, ("y", "hn", "cn"), 1e-5, 1e-5) == []
    y = np.zeros((2, 3, 1), np.float32)
    y[1, 2, 0] = 0.5
    got = {"y": y, "hn": np.full((1, 2, 4), np.nan, np.float32), "cn": np.zeros((1, 2, 5), np.float32)}
    failures = check_outputs(got, want, ("y", "hn", "cn"), 1e-5, 1e-5)
    assert len(failures) == 3
    assert "output 'y' differs from PyTorch at (1, 2, 0)" in failures[0]
    assert "'hn' has non-finite values" in failures[1] and "'cn' shape (1, 2, 5)" in failures[2]
    failures = check_outputs({"y": y.astype(np.float64)}, want, ("y", "cn"), 1.0, 0.0)
    assert failures == ["output 'y' dtype float64, expected float32", "output 'cn' missing (got ['y'])"]


# ---------------------------------------------------------------------------------------------
# lstm_edge.verify: compare, parity cases, the report (on synthetic stages)

def test_parity_cases_are_the_test_windows_then_the_seeded_grid():
    from lstm_edge.model.spec import spec_from_dict
    from lstm_edge.verify.parity import parity_cases

    spec = spec_from_dict(FAST_SPEC)
    dims = {"input_size": 3, "hidden_size": 5, "num_layers": 2, "output_size": 1}
    test_x = np.ones((4, 30, 3), np.float32)
    cases = parity_cases(spec, dims, test_x)
    assert [c.name for c in cases] == ["test-windows", "random B=1 T=1", "random B=1 T=40",
                                       "random B=3 T=1", "random B=3 T=40"]
    assert np.array_equal(cases[0].feeds["x"], test_x) and not cases[0].feeds["h0"].any()
    last = cases[-1].feeds
    assert last["x"].shape == (3, 40, 3) and last["h0"].shape == last["c0"].shape == (2, 3, 5)
    assert all(v.dtype == np.float32 for v in last.values())
    assert np.abs(last["h0"]).max() < 1 and last["c0"].std() > 0.3    # h in (−1, 1) as a real h is; c unbounded
    again = parity_cases(spec, dims, test_x)
    assert all(np.array_equal(a.feeds[k], b.feeds[k]) for a, b in zip(cases, again, strict=True) for k in a.feeds)


def synthetic_report(child_y_error: float, child_metric: float):
    from lstm_edge.model.spec import Tolerance
    from lstm_edge.verify.compare import compare
    from lstm_edge.verify.parity import StageResult
    from lstm_edge.verify.report import Report

    ref = {"y": np.linspace(-1, 1, 24).reshape(2, 4, 3), "hn": np.ones((1, 2, 5)), "cn": np.ones((1, 2, 5))}
    got = {k: v.copy() for k, v in ref.items()}
    got["y"][1, 2, 0] += child_y_error
    metrics = {"metric": "mae_std_units", "value": 1.0, "lower_is_better": True, "baseline_name": "seasonal-naive",
               "baseline": 2.0, "beats_baseline": True, "summary": "test MAE 1.0 std units"}
    root = StageResult(name="pytorch", parent="", format="pytorch", precision="fp32", artifact="model.safetensors",
                       size_bytes=100, budget=Tolerance("", "pytorch", 0.0, 0.0), outputs=(), missing_outputs={},
                       metrics=metrics)
    child = StageResult(name="onnx-fp32", parent="pytorch", format="onnx", precision="fp32", artifact="onnx-fp32.onnx",
                        size_bytes=2048, budget=Tolerance("pytorch", "onnx-fp32", 1e-5, 1e-5, 0.02),
                        outputs=("y", "hn", "cn"), missing_outputs={})
    child.comparisons.append(compare(got, ref, stage="onnx-fp32", parent="pytorch", case="random B=2 T=4",
                                     atol=1e-5, rtol=1e-5, outputs=("y", "hn", "cn")))
    child.metrics = metrics | {"value": child_metric}
    child.judge_metric(root.metrics)
    return Report(model="tiny", stages=[root, child], training={"epochs": 0, "history": []}, forecast=metrics,
                  cases=["random B=2 T=4"])


def test_report_of_passing_stages():
    from lstm_edge.verify.report import parity_rows, render_markdown

    report = synthetic_report(child_y_error=1e-7, child_metric=1.01)
    assert report.passed and report.failures() == []
    rows = parity_rows(report)
    assert [r[:3] for r in rows] == [["onnx-fp32", "pytorch", o] for o in ("y", "hn", "cn")]
    assert all(r[-1] == "pass" for r in rows) and rows[0][7] == "1e-05/1e-05"
    md = render_markdown(report)
    assert "Verdict: **PASS**" in md and "| onnx-fp32 | onnx | fp32 | onnx-fp32.onnx | 2.0 KiB | 1.01000 | pass |" in md
    d = report.to_dict()
    assert d["passed"] is True and [s["name"] for s in d["stages"]] == ["pytorch", "onnx-fp32"]
    assert d["stages"][1]["metric_check"]["increase"] == pytest.approx(0.01)


def test_report_names_the_worst_element_and_the_metric_that_failed():
    from lstm_edge.verify.report import render_markdown

    report = synthetic_report(child_y_error=0.25, child_metric=1.05)
    assert not report.passed
    lines = report.failures()
    assert any("test mae_std_units 1.0500 is +5.00% worse than pytorch's 1.0000; budget +2.00%" in x for x in lines), lines
    assert any("onnx-fp32 vs pytorch, output 'y', case 'random B=2 T=4': worst element (1, 2, 0)" in x for x in lines), lines
    md = render_markdown(report)
    assert "Verdict: **FAIL**" in md and "## Failures" in md
    assert "| onnx-fp32 | pytorch | y | 2.50e-01 |" in md and "| onnx-fp32 | pytorch | hn | 0.00e+00 |" in md


# ---------------------------------------------------------------------------------------------
# lstm_edge.stream: a live session over the exported ONNX artefact

def test_stream_session_forecasts_each_row_of_a_csv(untrained, exported, tmp_path):
    from lstm_edge.data.sensor import generate_sensor_series
    from lstm_edge.stream.session import stream_session

    out, _, _ = exported
    _, _, meta = untrained
    series = generate_sensor_series(days=2, seed=5)
    cols = [series.columns.index(c) for c in meta["features"]]
    rows = series.values[:30, cols]
    csv = tmp_path / "live.csv"
    csv.write_text(",".join(meta["features"]) + "\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in rows) + "\n")
    steps = list(stream_session(out, csv))
    assert [s.t for s in steps] == list(range(30))
    assert all(set(s.forecast) == set(meta["targets"]) and np.isfinite(list(s.forecast.values())).all() for s in steps)
    spike = rows.copy()
    spike[20, meta["features"].index(meta["targets"][0])] += 1e4          # far outside any forecast
    csv.write_text(",".join(meta["features"]) + "\n" + "\n".join(",".join(f"{v:.4f}" for v in r) for r in spike) + "\n")
    flagged = [s.t for s in stream_session(out, csv) if s.anomalies]
    assert 20 in flagged
    with pytest.raises(UsageError, match="does not exist"):
        list(stream_session(out, csv, artifact="tflite-step-fp32.tflite"))
    with pytest.raises(InvalidInputError, match="no model.json"):
        list(stream_session(tmp_path, csv))


# ---------------------------------------------------------------------------------------------
# lstm_edge.bundle: choosing stages, golden vectors (building a whole bundle is in test_bundle, slow)

def test_bundle_takes_what_passed_and_never_a_failed_stage():
    from lstm_edge.bundle.build import choose_stages

    report = {"stages": [
        {"name": "pytorch", "artifact": "model.safetensors", "format": "pytorch", "passed": True},
        {"name": "numpy-reference", "artifact": None, "format": "numpy", "passed": True},
        {"name": "onnx-fp32", "artifact": "onnx-fp32.onnx", "format": "onnx", "passed": True},
        {"name": "tflite-fp32", "artifact": "tflite-fp32.tflite", "format": "tflite", "passed": True},
        {"name": "tflite-int8", "artifact": "tflite-int8.tflite", "format": "tflite", "passed": False}]}
    assert [s["name"] for s in choose_stages(report, None)] == ["onnx-fp32", "tflite-fp32"]
    assert [s["name"] for s in choose_stages(report, ["tflite-fp32.tflite"])] == ["tflite-fp32"]
    with pytest.raises(ParityError, match="never bundled"):
        choose_stages(report, ["tflite-int8"])
    with pytest.raises(UsageError, match="no artefact 'pytorch'"):
        choose_stages(report, ["pytorch"])
    for s in report["stages"]:
        s["passed"] = False
    with pytest.raises(ParityError, match="nothing to bundle"):
        choose_stages(report, None)


def test_golden_vectors_hold_both_cases_and_every_stage(untrained, tmp_path):
    from lstm_edge.bundle.golden import describe, golden_cases, host_outputs, write_golden
    from lstm_edge.model.network import TorchRunner, load_model
    from lstm_edge.model.spec import spec_from_dict
    from lstm_edge.runtime.sniff import read_npz
    from lstm_edge.tasks import task_for
    from lstm_edge.train.checkpoint import load_test_set

    src, tensors, meta = untrained
    spec = spec_from_dict(meta["spec"])
    test = load_test_set(src, meta)
    cases = golden_cases(spec, meta["dims"], test, task_for(spec, meta))
    n, T, F = test["x"].shape
    assert describe(cases)["windows"]["x"] == [n, T, F] and describe(cases)["windows"]["target"] == [n, 2]
    assert describe(cases)["state"]["x"] == [3, 40, F]            # the largest random case of at most 100 steps
    outputs = host_outputs(TorchRunner(load_model(tensors, meta["dims"])), cases)
    assert outputs["windows"]["y"].shape == (n, 1, 2) and outputs["state"]["cn"].shape == (2, 3, 8)
    write_golden(tmp_path / "golden.npz", meta["weights_sha256"], cases, {"pytorch": outputs})
    stored = read_npz(tmp_path / "golden.npz")
    assert str(stored["model_sha256"]) == meta["weights_sha256"]
    assert np.array_equal(stored["pytorch.state.hn"], outputs["state"]["hn"])
    assert np.array_equal(stored["windows.x"], test["x"])


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


# ---------------------------------------------------------------------------------------------
# lstm_edge.byo: which architecture a user's module is, read without converting it

@pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")   # torch: oneDNN has no proj_size
def test_inspect_reads_a_users_architecture_without_converting():
    import torch
    from torch import nn

    from lstm_edge.byo.inspect import inspect

    class TimeMajor(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(11, 5)
            self.act = nn.Tanh()
            self.rnn = nn.LSTM(5, 6, num_layers=2, proj_size=4)          # time-major, projected
            self.head = nn.Linear(4, 3)

        def forward(self, x):
            return self.head(self.rnn(self.act(self.emb(x)))[0].mean(dim=0))

    class LastStepGRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 7, batch_first=True, bidirectional=True)
            self.out = nn.Linear(14, 1)

        def forward(self, x):
            return self.out(self.gru(x)[0][:, -1])

    torch.manual_seed(0)
    a = inspect(TimeMajor().eval(), torch.randint(0, 11, (9, 2)))
    assert (a.kind, a.num_layers, a.hidden_size, a.proj_size, a.batch_first) == ("LSTM", 2, 6, 4, False)
    assert (a.input_kind, a.activations, a.head, a.head_kind) == ("embedding", ["Tanh"], "head", "mean")
    assert a.state_layout == "h0, hn (2, B, 4); c0, cn (2, B, 6) = (L·D, B, H)"
    g = inspect(LastStepGRU().eval(), torch.randn(2, 5, 3))
    assert (g.kind, g.directions, g.head_kind, g.input_kind) == ("GRU", 2, "last", None)
    assert g.describe() == "raw input, 1-layer bidirectional GRU H=7 batch_first=True, last head"

    class Cell(nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = nn.LSTMCell(3, 4)

        def forward(self, x):
            return self.cell(x[:, 0])[0]

    with pytest.raises(InvalidInputError, match="layer 'cell' \\(LSTMCell\\) is not supported"):
        inspect(Cell(), torch.randn(2, 5, 3))


# ---------------------------------------------------------------------------------------------
# lstm_edge.runtime: sniff, budget, runner input checks, Stream, the harness

def tiny_onnx(path, *, F=3, L=2, H=4, out=2, with_cn=True):
    """A counter, not an LSTM: y = x[:, :, :out], hn = h0 + 1, cn = c0 + 2 — so after k calls a carried state is k."""
    import onnx
    from onnx import TensorProto, helper

    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
          for n, s in (("x", ["B", "T", F]), ("h0", [L, "B", H]), ("c0", [L, "B", H]))]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
            for n, s in (("y", ["B", "T", out]), ("hn", [L, "B", H]), ("cn", [L, "B", H]))][:3 if with_cn else 2]
    consts = [helper.make_tensor("zero", TensorProto.INT64, [1], [0]), helper.make_tensor("o", TensorProto.INT64, [1], [out]),
              helper.make_tensor("axis", TensorProto.INT64, [1], [2]), helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
              helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])]
    nodes = [helper.make_node("Slice", ["x", "zero", "o", "axis"], ["y"]), helper.make_node("Add", ["h0", "one"], ["hn"])]
    if with_cn:
        nodes.append(helper.make_node("Add", ["c0", "two"], ["cn"]))
    else:
        io = io[:2]
    model = helper.make_model(helper.make_graph(nodes, "counter", io, outs, initializer=consts),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def feeds(B=2, T=5, F=3, L=2, H=4, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((B, T, F)).astype(np.float32), "h0": np.zeros((L, B, H), np.float32),
            "c0": np.zeros((L, B, H), np.float32)}


def test_runner_checks_its_inputs_before_the_runtime_sees_them(tmp_path):
    from lstm_edge.runtime import open_runner

    runner = open_runner(tiny_onnx(tmp_path / "counter.onnx"))
    assert runner.input_names == ("x", "h0", "c0") and runner.output_names == ("y", "hn", "cn")
    assert runner.expected == {"x": (None, None, 3), "h0": (2, None, 4), "c0": (2, None, 4)}
    f = feeds()
    out = runner.run(f)
    assert np.array_equal(out["y"], f["x"][:, :, :2]) and (out["hn"] == 1).all() and (out["cn"] == 2).all()
    bad = {
        "float32": f | {"x": f["x"].astype(np.float64)},
        "rank 2": f | {"x": f["x"][:, 0]},
        "dimension 2 is 5, expected 3": f | {"x": np.zeros((2, 5, 5), np.float32)},
        "is empty": f | {"x": np.zeros((2, 0, 3), np.float32)},
        "non-finite value nan at index (1, 4, 2)":
            f | {"x": np.where(np.arange(30).reshape(2, 5, 3) == 29, np.nan, f["x"]).astype(np.float32)},
        "state 'h0' has batch 3": f | {"h0": np.zeros((2, 3, 4), np.float32)},
        "missing ['c0']": {k: v for k, v in f.items() if k != "c0"},
    }
    for message, wrong in bad.items():
        with pytest.raises(InvalidInputError, match=None) as e:
            runner.run(wrong)
        assert message in str(e.value) and e.value.exit_code == 3, (message, str(e.value))
    with pytest.raises(InvalidInputError, match="no runner for '.bin'"):
        open_runner(tmp_path / "model.bin")


def test_stream_carries_the_state_across_calls_and_chunks(tmp_path):
    from lstm_edge.runtime import Stream, open_runner

    s = Stream(open_runner(tiny_onnx(tmp_path / "counter.onnx")), batch=2)
    x = feeds()["x"]
    assert np.array_equal(s.step(x), x[:, :, :2])                     # whole chunk: one call
    assert np.array_equal(s.step(x[:, 0]), x[:, 0, :2])               # (B, F): one step, (B, O) back
    h, c = s.state
    assert s.steps == 6 and (h == 2).all() and (c == 4).all()         # two calls, the state carried through both
    h[:] = 99
    assert (s.h == 2).all()                                           # `state` is a copy
    s.reset()
    assert s.steps == 0 and not s.h.any() and not s.c.any()
    with pytest.raises(InvalidInputError, match="does not return the cell state 'cn'"):
        Stream(open_runner(tiny_onnx(tmp_path / "no-cn.onnx", with_cn=False)))


def test_files_are_named_by_their_bytes_and_a_pickle_is_never_opened(tmp_path):
    from lstm_edge.runtime.sniff import expect, sniff

    files = {"empty.onnx": b"", "doc.json": b'{"a": [1, 2]}', "notes.txt": "température\n".encode(),
             "model.pt": pickle.dumps({"w": [1.0]}, protocol=4), "page.png": b"\x89PNG\r\n\x1a\n" + bytes(20)}
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    np.savez(tmp_path / "arrays.npz", x=np.zeros(3))
    tiny_onnx(tmp_path / "counter.onnx")
    assert {p.name: sniff(p) for p in sorted(tmp_path.iterdir())} == {
        "arrays.npz": "zip", "counter.onnx": "onnx", "doc.json": "json", "empty.onnx": "empty", "model.pt": "pickle",
        "notes.txt": "text", "page.png": "png"}
    with pytest.raises(SecurityRefusal) as e:
        expect(tmp_path / "model.pt", "onnx")
    assert e.value.exit_code == 4
    with pytest.raises(InvalidInputError, match="empty"):
        expect(tmp_path / "empty.onnx", "onnx")
    expect(tmp_path / "counter.onnx", "onnx")                          # no error: it is what its name says


@pytest.mark.parametrize("value,parent,lower,budget,increase,passed", [
    (1.01, 1.0, True, 0.02, 0.01, True),            # MAE rose 1 %: within 2 %
    (1.03, 1.0, True, 0.02, 0.03, False),           # MAE rose 3 %
    (0.97, 1.0, False, 0.02, 0.03, False),          # accuracy fell 3 %
    (1.10, 1.0, False, 0.02, -0.10, True),          # accuracy rose: better is never refused
    (0.0, 0.0, True, 0.02, 0.0, True),              # a perfect parent, an equally perfect child
    (1e-9, 0.0, True, 0.02, float("inf"), False),   # any worsening of a perfect score
    (-0.9, -1.0, True, 0.2, 0.1, True),             # a negative parent: divided by |parent|
    (float("nan"), 1.0, True, 0.02, float("inf"), False),
    (5.0, 1.0, True, None, 4.0, True),              # no budget: recorded, not judged
])
def test_one_budget_rule_for_the_task_metric(value, parent, lower, budget, increase, passed):
    from lstm_edge.runtime.budget import metric_verdict

    v = metric_verdict(value, parent, lower, budget)
    assert v["increase"] == pytest.approx(increase) and v["passed"] is passed


def test_one_budget_rule_for_elements():
    from lstm_edge.runtime.budget import elements_within, format_increase

    ref = np.array([1.0, -2.0, 100.0])
    assert elements_within(ref + 1e-6, ref, 1e-5, 0.0)
    assert not elements_within(ref + [0, 0, 1e-3], ref, 1e-5, 0.0)
    assert elements_within(ref + [0, 0, 1e-3], ref, 1e-5, 1e-5)        # rtol·|ref| = 1e-3 at 100
    assert elements_within(ref + 7.0, ref, None, None)                 # no budget: recorded only
    assert not elements_within(np.array([1.0, np.nan, 100.0]), ref, None, None)   # but never a NaN
    assert [format_increase(x) for x in (0.0125, -0.003, float("inf"))] == ["+1.25%", "-0.30%", "+inf%"]


def test_device_harness_parses_its_commands_and_names_a_missing_bundle(tmp_path, capsys):
    from lstm_edge.runtime.__main__ import main, parser

    args = parser().parse_args(["bench", str(tmp_path), "--iterations", "7", "--artifact", "a.onnx", "--artifact", "b.ort"])
    assert (args.command, args.iterations, args.warmup, args.artifact) == ("bench", 7, 20, ["a.onnx", "b.ort"])
    assert main(["verify", str(tmp_path / "nowhere")]) == 3
    assert "nowhere: no such bundle" in capsys.readouterr().err
    assert main(["verify", str(tmp_path)]) == 3
    assert "not an lstm-edge bundle" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["flash"])
    assert e.value.code == 2
