"""Which artefact to ship (lstm_edge/bench/ship.py), from a synthetic bench document: marks per target,
recipes slower than their parent flagged with their size, the LiteRT note follows the figures, and the
section written into report.md replaces its previous self."""
from __future__ import annotations

from lstm_edge.bench import ship


def result(name, fmt, runtime, precision, size, seq=None, step=None, tp=None, parent=None, recipe=None, stepped=False):
    scenarios = {k: {"median_ms": v, "steps_per_s": 6400 / v} for k, v in
                 (("sequence", seq), ("step", step), ("throughput", tp)) if v is not None}
    return {"name": name, "format": fmt, "runtime": runtime, "precision": precision, "size_bytes": size,
            "parent": parent, "recipe": recipe, "floor": False, "stepped": stepped, "scenarios": scenarios}


def doc(seq_ms=0.6, seq_tp=13.0) -> dict:
    scenarios = {"step": {"batch": 1, "mode": "step", "time": 100}, "sequence": {"batch": 1, "mode": "call", "time": 100},
                 "throughput": {"batch": 64, "mode": "call", "time": 100}}
    return {"settings": {"threads": 1, "scenarios": scenarios}, "results": [
        result("pytorch-eager", None, "pytorch", "fp32", 200_000, seq=0.8, step=0.12),
        result("onnx-fp32", "onnx", "onnxruntime", "fp32", 204_000, seq=0.38, step=0.02, tp=12.7),
        result("onnx-int8-static", "onnx", "onnxruntime", "int8", 63_000, seq=0.47, step=0.03, tp=13.0,
               parent="onnx-fp32", recipe="onnx-int8-static"),
        result("onnx-int8-dynamic", "onnx", "onnxruntime", "int8-weights", 60_000, seq=0.28, step=0.025, tp=17.0,
               parent="onnx-fp32", recipe="onnx-int8-dynamic"),
        result("onnx-fp32.ort", "ort", "onnxruntime", "fp32", 213_000, seq=0.40, parent="pytorch"),
        result("onnx-fp16.ort", "ort", "onnxruntime", "fp16-weights", 215_000, seq=0.45, parent="onnx-fp32",
               recipe="onnx-fp16"),
        result("tflite-fp32", "tflite", "litert", "fp32", 206_000, seq=0.80, tp=48.0),
        result("tflite-seq-fp32", "tflite", "litert", "fp32", 283_000, seq=seq_ms, step=0.02, tp=seq_tp),
        result("tflite-step-fp32", "tflite", "litert", "fp32", 206_000, seq=5.7, step=0.008, tp=63.0, stepped=True),
        {"name": "floor:litert", "format": None, "runtime": "litert", "floor": True, "size_bytes": 2, "scenarios": {}},
    ]}


def test_each_target_marks_what_to_ship_from_the_figures():
    d = doc()
    tables = {t["target"]: {r["name"]: r["marks"] for r in t["rows"]} for t in ship.shipping(d)}
    assert tables["ONNX Runtime (desktop, server)"]["onnx-int8-static"] == \
        ["slower than onnx-fp32 (1.50× on step, 1.24× on sequence) at 0.31× its size"]
    d["results"][2]["scenarios"]["sequence"]["profile_us_per_call"] = {"LSTM": 300.0, "QuantizeLinear": 60.0,
                                                                       "DequantizeLinear": 40.0}
    static = next(r for t in ship.shipping(d) for r in t["rows"] if r["name"] == "onnx-int8-static")
    assert static["marks"][-1].endswith("QuantizeLinear/DequantizeLinear take 100 µs (25 %) of its op time")
    tables = {t["target"]: {r["name"]: r["marks"] for r in t["rows"]} for t in ship.shipping(doc())}
    assert set(tables) == {"ONNX Runtime (desktop, server)", "ONNX Runtime Mobile (ORT format)",
                           "LiteRT (Android, embedded Linux)"}
    onnx = tables["ONNX Runtime (desktop, server)"]
    assert onnx["onnx-int8-dynamic"] == ["ship for sequences", "ship for size",       # fastest at B = 1, not at B = 64
                                         "slower than onnx-fp32 (1.25× on step, 1.34× on throughput) at 0.29× its size"]
    assert onnx["onnx-fp32"] == ["ship for streaming"]
    assert onnx["onnx-int8-static"] == ["slower than onnx-fp32 (1.50× on step, 1.24× on sequence) at 0.31× its size"]
    # an .ort recipe is judged against its own format's fp32, and one that is no smaller says so
    assert tables["ONNX Runtime Mobile (ORT format)"]["onnx-fp16.ort"][-1] == \
        "slower than onnx-fp32.ort (1.12× on sequence) at 1.01× its size, no smaller in a way that matters"
    litert = tables["LiteRT (Android, embedded Linux)"]
    assert litert["tflite-seq-fp32"] == ["ship for sequences"]
    assert litert["tflite-step-fp32 (stepped)"] == ["ship for streaming"]
    assert "ship for size" in litert["tflite-fp32"]


def test_the_summary_and_the_markdown_name_every_flag():
    lines = ship.summary_lines(doc())
    assert "LiteRT (Android, embedded Linux): ship tflite-seq-fp32 for sequences, tflite-step-fp32 (stepped) for " \
           "streaming, tflite-fp32 for size" in lines
    assert any(line.startswith("onnx-int8-static is slower than its parent onnx-fp32 (1.50× on step, 1.24× on sequence)") for line in lines)
    md = ship.markdown(doc())
    assert md.startswith("## Which artefact to ship") and "### TensorFlow Lite Micro" in md
    assert "| tflite-fp32 | fp32 | 201 | — | 800.0 | 133 |" in md


def test_the_litert_note_follows_the_figures():
    assert "it is the LiteRT artefact lstm-edge recommends on CPU" in ship.litert_note(doc())
    assert "1.33× at B = 1, 3.69× at B = 64" in ship.litert_note(doc())
    slower = ship.litert_note(doc(seq_ms=0.9))
    assert "not faster everywhere" in slower and "0.89× at B = 1" in slower


def test_the_section_in_report_md_replaces_its_previous_self(tmp_path):
    assert ship.write_into_report(tmp_path, doc()) is None          # no report.md: nothing written
    (tmp_path / "report.md").write_text("# Report\n\nbody\n")
    ship.write_into_report(tmp_path, doc())
    once = (tmp_path / "report.md").read_text()
    ship.write_into_report(tmp_path, doc(seq_ms=0.9))
    twice = (tmp_path / "report.md").read_text()
    assert once.startswith("# Report\n\nbody\n") and twice.count("## Which artefact to ship") == 1
    assert "not faster everywhere" in twice and "not faster everywhere" not in once
