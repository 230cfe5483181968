"""A user's module of any composition around nn.LSTM / nn.GRU layers, converted layer by layer from a
torch.fx trace: several recurrent layers (stacked, in sequence, encoder and decoder), Linear,
Embedding, LayerNorm, Conv1d, BatchNorm1d, activations, dropout, residual adds, concatenation,
pooling over time (last step, mean, attention), repeat.

Rooms: table.py (every node the converter maps, with its TensorFlow form), trace.py (the trace, each
node checked, proved equal to forward()), to_tflite.py (the builtin graph, recurrent layers fused
where they map), step.py (the streaming step: every layer's state packed in and out, for a module
measured to stream). ONNX: lstm_edge/byo/to_onnx.py exports the module itself and checks one native
op per recurrent layer. lstm_edge/byo/recognise.py decides between this form and the single-layer
structure (lstm_edge/byo/inspect.py).
"""
