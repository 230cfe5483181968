"""lstm-edge: take an LSTM from PyTorch to ONNX and TFLite, and prove every stage computes what was trained.

Kept import-light: `lstm-edge --help` and the device runtime must not pay for torch or
tensorflow. Heavy modules are imported where they are used.
"""
__version__ = "0.1.0"
