"""Time series the models learn from: the series type (series.py), the built-in sensor generator
(sensor.py), a CSV loader (csv_loader.py), windows and normalization (windows.py), and the choice
between them for a spec (load.py)."""
