"""The console speaks for lstm-edge: the libraries' own output goes to OUT.log, shown with --verbose.

Subprocesses throughout: only a real process shows what reaches fd 2 (C++ logs bypass sys.stderr).
"""
import subprocess
import sys
import textwrap

import pytest

CLI = [sys.executable, "-c", "import sys; from lstm_edge.cli import main; sys.argv[0] = 'lstm-edge'; main()"]

# Every road a library takes to the console: onnxruntime's C++ logger, Python logging, warnings,
# a plain print to sys.stderr, and a child process that inherits fd 2.
CHATTY = textwrap.dedent("""
    import logging, os, subprocess, sys, warnings
    from pathlib import Path

    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from lstm_edge.console_log import CommandLog, note

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    with CommandLog(Path(sys.argv[1]), "lstm-edge test", verbose=sys.argv[2] == "1"):
        note("· ours: before")
        so = ort.SessionOptions()
        so.log_severity_level = 0          # onnxruntime's C++ logger, straight to fd 2
        ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        logging.warning("Please consider to run pre-processing before quantization.")
        warnings.warn("a python warning from a library")
        print("a library's print to sys.stderr", file=sys.stderr)
        subprocess.run([sys.executable, "-c", "import os; os.write(2, b'a child process on fd 2' + bytes([10]))"])
        note("· ours: after")
    print("our table on stdout")
""")
THEIRS = ["[I:onnxruntime:", "WARNING root: Please consider to run pre-processing", "a python warning from a library",
          "a library's print to sys.stderr", "a child process on fd 2"]


@pytest.mark.parametrize("verbose", [False, True])
def test_the_libraries_go_to_the_log_and_ours_to_the_console(tmp_path, verbose):
    log = tmp_path / "out.log"
    r = subprocess.run([sys.executable, "-c", CHATTY, str(log), "1" if verbose else "0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout == "our table on stdout\n"
    text = log.read_text()
    for line in THEIRS:
        assert line in text, (line, text[-2000:])
        assert (line in r.stderr) == verbose, (line, r.stderr[-2000:])
    for line in ("· ours: before", "· ours: after"):
        assert line in r.stderr and line in text
    assert text.index("· ours: before") < text.index("a child process on fd 2") < text.index("· ours: after")
    assert f"from the libraries (TensorFlow, onnxruntime, …) {'are also in' if verbose else 'went to'} {log}" in r.stderr
    assert text.startswith("=== lstm-edge test · ")


def test_a_quiet_run_leaves_no_log(tmp_path):
    """Nothing from the libraries: no file appears, and an existing log is left as it was."""
    code = ("import sys; from pathlib import Path; from lstm_edge.console_log import CommandLog, note\n"
            "with CommandLog(Path(sys.argv[1]), 't'):\n    note('· ours')\n")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.log")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "· ours\n" and not (tmp_path / "a.log").exists()
    (tmp_path / "b.log").write_text("an earlier run\n")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "b.log")], capture_output=True, text=True)
    assert (tmp_path / "b.log").read_text() == "an earlier run\n"


FAILING = textwrap.dedent("""
    import os
    from pathlib import Path

    import typer

    from lstm_edge.cli._common import handles_errors, logs_beside, say

    NAME = "fake"


    @handles_errors
    @logs_beside("out")
    def command(out: Path = typer.Option(..., "--out")):
        say("converting")
        os.write(2, b"F converter.cc:12] kernel exploded\\n")
        raise RuntimeError("boom inside a library")


    typer.run(command)
""")


def test_a_failed_command_shows_its_error_and_where_the_log_is(tmp_path):
    r = subprocess.run([sys.executable, "-c", FAILING, "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert lines[0] == "· converting"
    assert f"1 line(s) from the libraries (TensorFlow, onnxruntime, …) went to {tmp_path / 'out.log'}" in lines[1]
    assert lines[2] == "lstm-edge: internal error: RuntimeError: boom inside a library"
    assert "kernel exploded" not in r.stderr and "kernel exploded" in (tmp_path / "out.log").read_text()


def test_quiet_stderr_outside_a_command_replays_on_error(capfd):
    """The Python API has no command log: TensorFlow's chatter is dropped, unless the block fails."""
    import os

    from lstm_edge.converters.tensorflow_env import quiet_stderr

    with quiet_stderr():
        os.write(2, b"start-up chatter\n")
    with pytest.raises(ValueError), quiet_stderr():
        os.write(2, b"the diagnostic that explains it\n")
        raise ValueError
    err = capfd.readouterr().err
    assert "start-up chatter" not in err and "the diagnostic that explains it" in err


TINY = """name = "tiny-console"
[data]
days = 21
window = 30
[model]
hidden_size = 8
[train]
max_epochs = 2
warmup_steps = 6
""" + "".join(f'[[tolerance]]\nparent = "pytorch"\nchild = "{c}"\natol = 1e-5\nrtol = 1e-5\n'
              for c in ("numpy-reference", "onnx-fp32")) + """[[tolerance]]
parent = "onnx-fp32"
child = "onnx-int8-dynamic"
metric_increase = 0.05
"""


@pytest.mark.slow
def test_export_prints_our_lines_and_logs_onnxruntimes(tmp_path):
    """The real command: onnxruntime's quantizer warns through the root logger on every attempt."""
    (tmp_path / "tiny.toml").write_text(TINY)
    run, log = tmp_path / "run", tmp_path / "run.log"
    r = subprocess.run(CLI + ["train", "--model", str(tmp_path / "tiny.toml"), "--out", str(run)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    export = ["export", str(run), "--format", "onnx", "--quantize", "onnx-int8-dynamic"]
    r = subprocess.run(CLI + export, capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr[-2000:]          # a 2-epoch model's int8 may honestly be refused
    assert "· exporting ONNX (native LSTM op)" in r.stderr and "· onnx-int8-dynamic: attempt 1/" in r.stderr
    assert f"wrote {run / 'onnx-fp32.onnx'}" in r.stdout
    assert "Please consider to run pre-processing" not in r.stderr + r.stdout
    assert f"went to {log}; --verbose shows them here" in r.stderr
    text = log.read_text()
    assert "WARNING root: Please consider to run pre-processing" in text and "· onnx-int8-dynamic: attempt 1/" in text
    only = ["export", str(run), "--quantize", "onnx-int8-dynamic", "--only-quantize"]   # --format does not apply to it
    r = subprocess.run(CLI + ["--verbose", *only], capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    assert "WARNING root: Please consider to run pre-processing" in r.stderr and f"are also in {log}" in r.stderr
    assert log.read_text().count("=== lstm-edge export ") == 2      # appended, one header per command
