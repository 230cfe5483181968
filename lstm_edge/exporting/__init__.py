"""The export stage: the fp32 artefacts of a checkpoint (artifacts.py), the quantization recipes
judged by the task metric (quantize.py), and the gate-order probes of every converter (gate_probe.py).

Named `exporting`, not `export`: `lstm_edge.export` is the public function for a user's own module.
"""
