"""Package discovery, per folder: every folder holding an __init__.py under lstm_edge/, converters/
and runtime/ ships in the wheel, the last two as lstm_edge.converters and lstm_edge.runtime
(pyproject.toml's package-dir). A hand-written list once left lstm_edge.byo out of the wheel;
tests/test_wheel.py checks that the wheel's modules equal the source tree's."""
from setuptools import find_packages, setup

ROOTS = {"lstm_edge": "lstm_edge", "lstm_edge.converters": "converters", "lstm_edge.runtime": "runtime"}

packages = []
for name, folder in ROOTS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder)]
# lstm_edge/ itself holds no converters/ or runtime/ folder, so the three roots never overlap
setup(packages=sorted(set(packages)))
