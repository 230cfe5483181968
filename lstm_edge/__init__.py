"""lstm-edge: take an LSTM from PyTorch to ONNX and TFLite, and prove every stage computes what was trained.

Kept import-light: `lstm-edge --help` and the device runtime must not pay for torch or
tensorflow. Heavy modules are imported where they are used.
"""
__version__ = "0.1.0"


def export(model, example_inputs, out_dir, *, formats=("onnx", "tflite"), name: str = "model", progress=None) -> dict:
    """Export your own PyTorch module (Embedding/Linear input, one nn.LSTM or nn.GRU, a Linear head on
    every step, the last step or the mean) to ONNX and TFLite with explicit state I/O, each artefact
    checked against PyTorch over the parity grid. → the report (also OUT/byo-report.json).

        import lstm_edge
        lstm_edge.export(net, torch.randn(2, 50, 4), "out")
    """
    from lstm_edge.byo.export import export_module

    return export_module(model, example_inputs, out_dir, formats=formats, name=name, progress=progress)
