"""The mistake table: every documented user mistake → one exit code and a message, from both entry points.

A mistake has ONE exit code (lstm_edge/errors.py EXIT_CODES) and a row per entry point where it
can be made: `lstm-edge` through typer's CliRunner, `python -m lstm_edge.runtime` through its
main() in-process (and once as a real process). Each row also asserts that the directory the
command was pointed at is unchanged (the mistake was caught before any work) and that no
traceback or internal error was printed. Placeholders: {tmp} the test's directory (with small
files: good.csv, bad.csv, a regular `file`, tiny.toml, noname.toml, x.npz, net.py with its
weights), {ckpt} an untrained checkpoint without artefacts, {exported} the same with its ONNX
artefact (both built in seconds), {run} and {bundle} the trained tiny run and its bundle
(`tiny_run`: slow).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lstm_edge.cli import app
from lstm_edge.errors import EXIT_CODES, LstmEdgeError, code, exit_code_summary
from lstm_edge.runtime.__main__ import main as harness

CLI, DEVICE = "lstm-edge", "python -m lstm_edge.runtime"
CSV = "temperature,humidity,load,vibration\n"
NOPE = "no artefact 'nope'"

# mistake → (exit code, [(entry point, argv, fragment of the message)])
MISTAKES = {
    "verify with nothing to verify": (3, [
        (CLI, ["verify", "{ckpt}"], "nothing to verify"),
    ]),
    "--only-quantize without --quantize": (2, [
        (CLI, ["export", "{ckpt}", "--only-quantize"], "--only-quantize runs the --quantize recipes"),
    ]),
    "a flag that does not apply": (2, [
        (CLI, ["export", "{exported}", "--only-quantize", "--quantize", "onnx-fp16", "--format", "onnx"],
         "--format onnx does not apply with --only-quantize"),
        (CLI, ["export", "{tmp}/o", "--module", "net.py:Net", "--weights", "w.safetensors", "--example-shape", "2,30,4",
               "--quantize", "onnx-fp16"], "--quantize does not apply to --module exports"),
        (CLI, ["export", "{tmp}/o", "--module", "net.py:Net", "--weights", "w.safetensors", "--example-shape", "2,30,4",
               "--only-quantize"], "--only-quantize does not apply to --module exports"),
        (CLI, ["export", "{ckpt}", "--init-args", "{{}}"], "--module, --weights and --example-shape go together"),
        (CLI, ["train", "--model", "{tmp}/tiny.toml", "--out", "{tmp}/o", "--time-column", "t"], "--time-column t"),
        (CLI, ["bench", "{ckpt}", "--compare", "{tmp}/a.json"], "DIRECTORY: not used with --compare"),
        (DEVICE, ["run", "{tmp}/b", "--input", "{tmp}/x.npz", "--threshold", "3"], "--threshold does not apply"),
        (DEVICE, ["run", "{tmp}/b", "--input", "{tmp}/x.npz", "--output", "-"], "--output - (stdout) is for CSV"),
    ]),
    "unknown recipe, checked before the fp32 artefacts are rewritten": (2, [
        (CLI, ["export", "{exported}", "--quantize", "onnx-int4"], "unknown quantization recipe 'onnx-int4'"),
        (CLI, ["export", "{ckpt}", "--format", "keras"], "keras"),
    ]),
    "a recipe whose fp32 parent is neither there nor being written": (3, [
        (CLI, ["export", "{exported}", "--format", "onnx", "--quantize", "tflite-fp16"],
         "tflite-fp16 quantizes tflite-fp32.tflite, which is not in"),
    ]),
    "an output that is an existing file": (2, [
        (CLI, ["pipeline", "--model", "{tmp}/tiny.toml", "--out", "{tmp}/file"], "--out {tmp}/file: an existing file"),
        (CLI, ["train", "--model", "{tmp}/tiny.toml", "--out", "{tmp}/file"], "an existing file, not a directory"),
        (CLI, ["bundle", "{ckpt}", "--out", "{tmp}/file"], "--out {tmp}/file: an existing file"),
        (CLI, ["export", "{tmp}/file", "--module", "net.py:Net", "--weights", "w.safetensors", "--example-shape", "2,3,4"],
         "OUT {tmp}/file: an existing file"),
        (DEVICE, ["bench", "{tmp}/b", "--out", "{tmp}"], "a directory; give a file name"),
        (DEVICE, ["verify", "{tmp}/b", "--json", "{tmp}/no/such/dir.json"], "does not exist"),
    ]),
    "an output that would replace its own input": (2, [
        (CLI, ["bundle", "{ckpt}", "--out", "{ckpt}"], "would replace its own input"),
    ]),
    "--example-shape with the wrong feature count": (3, [
        (CLI, ["export", "{tmp}/o", "--module", "{tmp}/net.py:LinearFirst", "--weights", "{tmp}/linear.safetensors",
               "--example-shape", "2,30,5"], "first layer `inp` (nn.Linear, in_features 4) takes 4 features"),
        (CLI, ["export", "{tmp}/o", "--module", "{tmp}/net.py:LstmFirst", "--weights", "{tmp}/lstm.safetensors",
               "--example-shape", "2,30,3"], "first layer `lstm` (nn.LSTM, input_size 4) takes 4 features"),
    ]),
    "a malformed --example-shape": (2, [
        (CLI, ["export", "{tmp}/o", "--module", "net.py:Net", "--weights", "w", "--example-shape", "2,x,4"],
         "expected integers"),
    ]),
    "a spec without a required key": (3, [
        (CLI, ["train", "--model", "{tmp}/noname.toml", "--out", "{tmp}/o"], "missing key(s) 'name'"),
    ]),
    "an unknown artefact name": (2, [
        (CLI, ["stream", "{exported}", "--input", "{tmp}/good.csv", "--artifact", "nope"], NOPE),
        (CLI, ["bundle", "{run}", "--out", "{tmp}/b", "--artifact", "nope"], NOPE),
        (DEVICE, ["bench", "{bundle}", "--artifact", "nope"], NOPE),
        (DEVICE, ["run", "{bundle}", "--input", "{tmp}/good.csv", "--artifact", "nope"], NOPE),
    ]),
    "the fused TFLite artefact given to a streaming command": (3, [
        (CLI, ["stream", "{run}", "--input", "{tmp}/good.csv", "--artifact", "tflite-fp32.tflite"], "cannot carry a stream"),
        (DEVICE, ["run", "{bundle}", "--input", "{tmp}/good.csv", "--artifact", "tflite-fp32.tflite"],
         "cannot carry a stream"),
    ]),
    "a non-numeric cell in a live CSV": (3, [
        (CLI, ["stream", "{exported}", "--input", "{tmp}/bad.csv"], "line 4, column 'vibration' is 'abc', not a number"),
        (DEVICE, ["run", "{bundle}", "--input", "{tmp}/bad.csv", "--output", "-"],
         "line 4, column 'vibration' is 'abc', not a number"),
    ]),
    "sampling a model that is not a character model": (2, [
        (CLI, ["sample", "{exported}"], "sampling needs a character model"),
        (DEVICE, ["sample", "{bundle}"], "sampling needs a character model"),
    ]),
    "a value out of range": (2, [
        (CLI, ["sample", "{tmp}", "--length", "0"], "--length"),
        (DEVICE, ["sample", "{tmp}/b", "--length", "0"], "argument --length: must be ≥ 1, got 0"),
        (CLI, ["sample", "{tmp}", "--temperature", "-1"], "--temperature"),
        (DEVICE, ["sample", "{tmp}/b", "--temperature", "-1"], "argument --temperature: must be ≥ 0, got -1"),
        (CLI, ["stream", "{tmp}", "--input", "x.csv", "--threshold", "-1"], "--threshold"),
        (DEVICE, ["run", "{tmp}/b", "--input", "x.csv", "--threshold", "-1"], "argument --threshold: must be ≥ 0"),
        (CLI, ["bench", "{tmp}", "--threads", "0"], "--threads"),
        (DEVICE, ["bench", "{tmp}/b", "--threads", "0"], "argument --threads: must be ≥ 1, got 0"),
        (DEVICE, ["verify", "{tmp}/b", "--threads", "0"], "argument --threads: must be ≥ 1, got 0"),
        (DEVICE, ["bench", "{tmp}/b", "--iterations", "0"], "argument --iterations: must be ≥ 1, got 0"),
        (DEVICE, ["bench", "{tmp}/b", "--warmup", "-1"], "argument --warmup: must be ≥ 0, got -1"),
    ]),
    "an input of the wrong kind": (2, [
        (DEVICE, ["run", "{tmp}/b", "--input", "{tmp}/tiny.toml"], "expected a .npz (model inputs) or a .csv"),
    ]),
    "an unknown command or option": (2, [
        (CLI, ["verify", "{tmp}", "--no-such-flag"], "No such option"),
        (DEVICE, ["verify", "{tmp}", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (DEVICE, ["flash"], "invalid choice: 'flash'"),
    ]),
    "a bundle that is not there": (3, [
        (DEVICE, ["verify", "{tmp}/nowhere"], "no such bundle"),
    ]),
}

SLOW = ("{run}", "{bundle}")


def rows():
    for mistake, (exit_code, cases) in MISTAKES.items():
        for entry, argv, message in cases:
            slow = any(s in a for a in argv for s in SLOW)
            yield pytest.param(entry, argv, exit_code, message, marks=[pytest.mark.slow] if slow else [],
                               id=f"{mistake} | {entry} {argv[0]}")


NET = '''
from torch import nn

class LinearFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp, self.lstm, self.head = nn.Linear(4, 5), nn.LSTM(5, 6, batch_first=True), nn.Linear(6, 1)

    def forward(self, x):
        return self.head(self.lstm(self.inp(x))[0])

class LstmFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(6, 1)        # registered first: the check follows forward(), not the attribute order
        self.lstm = nn.LSTM(4, 6, batch_first=True)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])
'''


def write_inputs(tmp: Path, argv: list[str]) -> None:
    (tmp / "good.csv").write_text(CSV + "1,2,3,4\n" * 5)
    (tmp / "bad.csv").write_text(CSV + "1,2,3,4\n1,2,3,4\n1,2,3,abc\n")
    (tmp / "file").write_text("a regular file\n")
    (tmp / "a.json").write_text("{}")
    tiny = "[data]\ndays = 21\nwindow = 30\n[model]\nhidden_size = 8\n[train]\nmax_epochs = 1\nwarmup_steps = 6\n"
    (tmp / "tiny.toml").write_text('name = "tiny"\n' + tiny)
    (tmp / "noname.toml").write_text(tiny)
    np.savez(tmp / "x.npz", x=np.zeros((1, 5, 4), np.float32))
    if any("net.py:" in a and a.startswith(str(tmp)) for a in argv):
        import importlib.util

        import torch
        from safetensors.torch import save_file

        (tmp / "net.py").write_text(NET)
        spec = importlib.util.spec_from_file_location("mistakes_net", tmp / "net.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        torch.manual_seed(0)
        save_file(mod.LinearFirst().state_dict(), str(tmp / "linear.safetensors"))
        save_file(mod.LstmFirst().state_dict(), str(tmp / "lstm.safetensors"))


@pytest.fixture(scope="module")
def checkpoints(untrained, exported):
    """An untrained checkpoint ({ckpt}) and a copy with its ONNX artefact ({exported}): conftest.py's."""
    return {"{ckpt}": untrained[0], "{exported}": exported[0]}


def snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("entry,argv,exit_code,message", rows())
def test_mistake(entry, argv, exit_code, message, tmp_path, request, capsys):
    dirs = {}
    for key in ("{ckpt}", "{exported}"):
        if any(key in a for a in argv):
            dirs[key] = shutil.copytree(request.getfixturevalue("checkpoints")[key], tmp_path / key[1:-1])
    if any(s in a for a in argv for s in SLOW):
        out, _ = request.getfixturevalue("tiny_run")
        dirs["{run}"] = shutil.copytree(out, tmp_path / "run")
        dirs["{bundle}"] = dirs["{run}"] / "bundle"
    work = tmp_path / "work"
    work.mkdir()

    def fill(text: str) -> str:
        for key, path in dirs.items():
            text = text.replace(key, str(path))
        return text.replace("{tmp}", str(work)).replace("{{}}", "{}")

    argv, message = [fill(a) for a in argv], fill(message)
    write_inputs(work, argv)
    before = {k: snapshot(d) for k, d in dirs.items()}
    if entry == CLI:
        r = CliRunner().invoke(app, argv)
        got, text = r.exit_code, r.output
    else:
        try:
            got = harness(argv)
        except SystemExit as e:           # argparse's own usage errors
            got = e.code
        text = capsys.readouterr().err
    assert got == exit_code, text[-1500:]
    assert message in text, text[-1500:]
    assert "Traceback" not in text and "internal error" not in text, text[-1500:]
    assert {k: snapshot(d) for k, d in dirs.items()} == before       # refused before any work


def test_one_exit_code_table_for_both_entry_points():
    """errors.py's table is the only one: every error class, argparse's usage error, the README and both helps."""
    codes = {c for c, _ in EXIT_CODES.values()}

    def subclasses(cls):
        return [cls] + [s for c in cls.__subclasses__() for s in subclasses(c)]

    assert all(c.exit_code in codes for c in subclasses(LstmEdgeError))
    assert {code(k) for k in ("ok", "failure", "usage", "invalid input", "security", "environment")} == set(range(6))
    readme = re.sub(r"\s+", " ", (Path(__file__).parents[1] / "README.md").read_text())
    assert exit_code_summary() in readme
    flat = re.sub(r"\s+", " ", CliRunner().invoke(app, ["--help"], terminal_width=400).output)
    assert exit_code_summary() in flat
    r = subprocess.run([sys.executable, "-m", "lstm_edge.runtime", "--help"], capture_output=True, text=True)
    assert exit_code_summary() in re.sub(r"\s+", " ", r.stdout)
    # the real process exits with the code main() returns
    r = subprocess.run([sys.executable, "-m", "lstm_edge.runtime", "sample", "b", "--length", "0"],
                       capture_output=True, text=True)
    assert r.returncode == code("usage") and "--length: must be ≥ 1" in r.stderr
    r = subprocess.run([sys.executable, "-m", "lstm_edge.runtime", "verify", "nowhere"], capture_output=True, text=True)
    assert r.returncode == code("invalid input") and "nowhere: no such bundle" in r.stderr


def test_every_mistake_has_one_code():
    """The table's shape is the contract: a mistake maps to one exit code whichever entry point makes it."""
    both = [m for m, (_, cases) in MISTAKES.items() if {e for e, _, _ in cases} == {CLI, DEVICE}]
    assert len(both) >= 6, both
