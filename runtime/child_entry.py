"""The child side of ChildRunner (child.py): run one artefact on one input file, whole sequences.

    python -m lstm_edge.runtime.child_entry ARTIFACT IN.npz OUT.npz
"""
from __future__ import annotations

import sys

import numpy as np

from lstm_edge.runtime.runner import open_sequence_runner

if __name__ == "__main__":
    artifact, src, dst = sys.argv[1:4]
    with np.load(src) as z:
        feeds = {k: z[k] for k in z.files}
    np.savez(dst, **open_sequence_runner(artifact, in_process=True).run(feeds))
