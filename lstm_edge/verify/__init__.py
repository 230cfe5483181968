"""The verify stage: every artefact against its parent (run.py) over the parity cases (parity.py,
compare.py) and the long stream (streaming.py), written as report.json / report.md (report.py, plots.py)."""
