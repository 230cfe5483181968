"""Bring your own model: export a user's PyTorch module (not one lstm-edge trained).

    lstm-edge export OUT --module my_model.py:Net --weights net.safetensors --example-shape 2,50,4
    lstm_edge.export(model, example_x, "OUT")

Rooms: load.py (the module and its weights, untrusted), recognise.py (which form: one recurrent layer
with state I/O, or a traced graph of several layers — lstm_edge/graph), inspect.py (the one-layer
structure, or exit 3 naming the layer), wrap.py (explicit state I/O), to_onnx.py, to_tflite.py
(the fused kernel where the architecture maps onto it, an unrolled builtin graph otherwise),
export.py (the whole run, with parity over the grid).
"""
