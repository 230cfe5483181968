"""PyTorch → ONNX and PyTorch → TFLite, each checking its own artefact before returning.

Heavy frameworks (torch, onnx, tensorflow) are imported inside the converter functions, so
importing this package stays cheap.
"""
