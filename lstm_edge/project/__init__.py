"""A user's own model as a project: the project file (file.py), `lstm-edge init` (init.py), the layout
the chain runs on (prepare.py), the user's metric as a task (task.py) and the Python API (from_python.py).
The chain's later stages read a prepared directory through lstm_edge/source/project.py."""
