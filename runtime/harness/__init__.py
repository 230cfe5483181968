"""The on-device harness behind `python -m lstm_edge.runtime` (runtime/__main__.py): open and check a
bundle (bundle_files.py), prove it still computes what CI passed (verify.py), time it (bench.py),
use it on the device's data (run.py, rows.py, sample.py), and compare devices (compare.py)."""
