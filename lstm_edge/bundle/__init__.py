"""The device bundle: artefacts, golden vectors (golden.py) and a manifest, checked as the device
will check them (build.py). The device side is lstm_edge.runtime (`python -m lstm_edge.runtime`)."""
