"""Run work in a child process so that a native crash becomes a named error, not our crash.

Native runtimes can abort on models our own tools made (measured: onnxruntime segfaults creating
a session for convert_float_to_float16 output; LiteRT's integer LSTM corrupts the heap when its
batch is resized). Every place that runs an artefact it does not yet trust goes through
`run_child`: candidate probes (probe.py), isolated artefacts (ChildRunner below), and the device
harness (harness/verify.py, harness/bench.py).

    r = run_child("lstm_edge.runtime.probe", [path, "--batches", "2"], timeout=120)
    r.crash       None, "SIGSEGV" (killed by a signal) or "hung: no answer within 120 s"
    r.failed      a crash, or a non-zero exit
    r.last_error  the child's last stderr line, "lstm-edge: " stripped
"""
from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstm_edge.errors import InvalidInputError
from lstm_edge.runtime.contract import check_inputs, is_step_artifact
from lstm_edge.runtime.stream import SequenceRunner


@dataclass
class ChildResult:
    returncode: int | None
    stdout: str
    stderr: str
    crash: str | None            # the signal's name, or "hung: …"; None when the child exited

    @property
    def failed(self) -> bool:
        return self.crash is not None or self.returncode != 0

    @property
    def last_error(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1].removeprefix("lstm-edge: ") if lines else f"exit {self.returncode}, no output"

    def describe(self) -> str:
        """'crashed (SIGABRT)', 'hung: …' or 'exit 3: <last line>'."""
        if self.crash:
            return self.crash if self.crash.startswith("hung") else f"crashed ({self.crash})"
        return f"exit {self.returncode}: {self.last_error[:300]}"


def exit_name(returncode: int) -> str:
    """How a child ended: 'SIGSEGV' when a signal killed it, else 'exit N'."""
    return signal.Signals(-returncode).name if returncode < 0 else f"exit {returncode}"


def run_child(module: str, args: list, *, timeout: float) -> ChildResult:
    """`python -m module args…` in a child; a signal or a timeout is reported, never raised."""
    cmd = [sys.executable, "-m", module, *map(str, args)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return ChildResult(None, out, "", f"hung: no answer within {timeout:.0f} s")
    crash = exit_name(r.returncode) if r.returncode < 0 else None
    return ChildResult(r.returncode, r.stdout, r.stderr, crash)


class ChildRunner:
    """A Runner whose every call runs in a fresh child process (child_entry.py): for artefacts
    whose sidecar says `"isolate": true`. The child steps a step artefact through time itself (any
    length); any other artefact takes what it declares — an unrolled one its one T, checked here,
    before a child is spent on it."""

    def __init__(self, path: Path, inner, *, timeout: float = 600.0):
        self.path, self.timeout = Path(path), timeout
        self.name = f"child:{self.path.name}"
        self.missing, self.info, self.unrolled = inner.missing, inner.info, inner.unrolled
        self.x_spec = inner.x_spec
        outer = SequenceRunner(inner) if is_step_artifact(inner) else inner    # what the child answers (any T)
        self.input_names, self.output_names, self.expected = outer.input_names, outer.output_names, outer.expected

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        check_inputs(feeds, self.expected, self.name, fixed=self.unrolled, spec=self.x_spec)
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
            np.savez(src, **feeds)
            r = run_child("lstm_edge.runtime.child_entry", [self.path, src, dst], timeout=self.timeout)
            if r.crash:
                raise InvalidInputError(f"{self.path}: the runtime {r.describe()} running this artefact in a child process",
                                        hint="the artefact is not safe to run; rebuild it or drop the recipe")
            if r.failed:
                raise InvalidInputError(f"{self.path}: the child runner failed: {r.last_error[:300]}")
            with np.load(dst) as z:
                return {k: z[k] for k in self.output_names}
