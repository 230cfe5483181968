"""Run an artefact in a child process, one call per process: a native crash becomes an error.

The child takes whole sequences (a step artefact is stepped there), so one call is one process.

Used for every quantization candidate, and for any published artefact whose sidecar says
`"isolate": true` (its probe crashed at some batch size: measured for LiteRT's integer
LSTM, which corrupted the heap even at B = 1 on a tiny model after a clean probe).

    python -m lstm_edge.runtime.child ARTIFACT IN.npz OUT.npz
"""
from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from lstm_edge.errors import InvalidInputError


class ChildRunner:
    def __init__(self, path: Path, *, input_names, output_names, expected: dict, timeout: float = 600.0):
        self.path, self.timeout = Path(path), timeout
        self.name = f"child:{self.path.name}"
        self.input_names, self.output_names = tuple(input_names), tuple(output_names)
        self.expected = expected

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from lstm_edge.runtime.runner import check_inputs

        check_inputs(feeds, self.expected, self.name)
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
            np.savez(src, **feeds)
            r = subprocess.run([sys.executable, "-m", "lstm_edge.runtime.child", str(self.path), str(src), str(dst)],
                               capture_output=True, text=True, timeout=self.timeout)
            if r.returncode < 0:
                raise InvalidInputError(f"{self.path}: the runtime crashed ({signal.Signals(-r.returncode).name}) "
                                        "running this artefact in a child process",
                                        hint="the artefact is not safe to run; rebuild it or drop the recipe")
            if r.returncode != 0:
                last = (r.stderr.strip().splitlines() or ["no output"])[-1]
                raise InvalidInputError(f"{self.path}: the child runner failed: {last[:300]}")
            with np.load(dst) as z:
                return {k: z[k] for k in self.output_names}


if __name__ == "__main__":
    from lstm_edge.runtime.stream import open_sequence_runner

    artifact, src, dst = sys.argv[1:4]
    with np.load(src) as z:
        feeds = {k: z[k] for k in z.files}
    np.savez(dst, **open_sequence_runner(artifact, in_process=True).run(feeds))
