"""`lstm-edge bench`: the plan and the measurement (run.py), one peer per process (worker.py), and the
verdicts as ratios measured in one run (report.py)."""
