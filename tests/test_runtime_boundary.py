"""runtime/ ships to devices: numpy plus one runtime, never torch/tensorflow/onnx/typer/rich."""
import pathlib
import subprocess
import sys
import textwrap

FORBIDDEN = ("torch", "tensorflow", "tf_keras", "onnx", "onnxscript", "typer", "rich", "safetensors", "matplotlib")

BLOCKER = textwrap.dedent(f"""
    import sys, importlib.abc
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {FORBIDDEN!r}:
                raise ImportError("forbidden on the device: " + name)
    sys.meta_path.insert(0, Block())
""")


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)], capture_output=True, text=True)


def test_runtime_imports_without_heavy_libraries():
    """Every module in runtime/, found by walking the folder, so a new one cannot slip past."""
    runtime = pathlib.Path(__file__).resolve().parents[1] / "runtime"
    modules = sorted(".".join(("lstm_edge", "runtime", *p.relative_to(runtime).with_suffix("").parts)).removesuffix(".__init__")
                     for p in runtime.rglob("*.py"))
    assert len(modules) > 20
    r = run_blocked("import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + "print('ok')")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_runners_run_artefacts_without_heavy_libraries(tiny_run):
    out, _ = tiny_run
    r = run_blocked(f"""
        import numpy as np
        from lstm_edge.runtime import open_runner
        for name in ("onnx-fp32.onnx", "tflite-fp32.tflite"):
            runner = open_runner({str(out)!r} + "/" + name)
            feeds = {{"x": np.zeros((2, 3, 4), np.float32), "h0": np.zeros((2, 2, 8), np.float32),
                     "c0": np.zeros((2, 2, 8), np.float32)}}
            print(name, runner.run(feeds)["y"].shape)
        from lstm_edge.runtime import Stream
        s = Stream(open_runner({str(out)!r} + "/tflite-step-fp32.tflite"))
        print("stream", s.step(np.zeros((1, 5, 4), np.float32)).shape)
    """)
    assert r.returncode == 0, r.stderr
    assert "onnx-fp32.onnx (2, 3, 2)" in r.stdout and "tflite-fp32.tflite (2, 3, 2)" in r.stdout
    assert "stream (1, 5, 2)" in r.stdout


def test_the_blocker_blocks():
    """The boundary test is only worth something if a forbidden import really fails."""
    r = run_blocked("import torch")
    assert r.returncode != 0 and "forbidden on the device" in r.stderr
