"""lstm-edge: take an LSTM from PyTorch to ONNX and TFLite, and prove every stage computes what was trained.

Kept import-light: `lstm-edge --help` and the device runtime must not pay for torch or
tensorflow. Heavy modules are imported where they are used.
"""
__version__ = "0.1.0"


def export(model, example_inputs, out_dir, *, formats=("onnx", "tflite"), name: str = "model", progress=None,
           evaluation=None, calibration=None, metric=None, lower_is_better=None, init_args=None, budgets=None) -> dict:
    """Export your own PyTorch module (Embedding/Linear input, one nn.LSTM or nn.GRU, a Linear head on
    every step, the last step or the mean) to ONNX and TFLite with explicit state I/O, each artefact
    checked against PyTorch over the parity grid. → the report (also OUT/byo-report.json).

        import lstm_edge
        lstm_edge.export(net, torch.randn(2, 50, 4), "out")

    With `evaluation` (an npz path or (x, y)) and `metric` (a built-in name, or a function from a file with
    `lower_is_better`), the whole chain runs, as `lstm-edge pipeline --project` does: every quantization
    recipe calibrated on `calibration` (npz path or x) and judged by the metric, verify, report and the
    device bundle; → report.json's content. `init_args`: the class's constructor kwargs (the module is
    loaded again from its file to verify and bundle); `budgets`: the tolerance rows (default: init's).

        lstm_edge.export(net, x[:2], "out", evaluation=(x, y), metric="accuracy")
    """
    if evaluation is None and (calibration, metric, lower_is_better, init_args, budgets) != (None,) * 5:
        from lstm_edge.errors import UsageError

        raise UsageError("calibration=, metric=, lower_is_better=, init_args= and budgets= go with evaluation=: "
                         "without an evaluation set only the fp32 artefacts are exported")
    if evaluation is not None:
        from lstm_edge.project.from_python import export_project

        if tuple(formats) != ("onnx", "tflite"):
            from lstm_edge.errors import UsageError

            raise UsageError("formats= does not apply with evaluation=: the whole chain exports both")
        return export_project(model, example_inputs, out_dir, evaluation=evaluation, calibration=calibration,
                              metric=metric, lower_is_better=lower_is_better, init_args=init_args, budgets=budgets,
                              name=None if name == "model" else name, progress=progress)
    from lstm_edge.byo.export import export_module

    return export_module(model, example_inputs, out_dir, formats=formats, name=name, progress=progress)
