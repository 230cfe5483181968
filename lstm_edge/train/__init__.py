"""Training a spec's model (fit.py) and the checkpoint it leaves on disk (checkpoint.py)."""
