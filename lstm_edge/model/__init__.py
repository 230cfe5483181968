"""What a model is: the spec (spec.py), the PyTorch network (network.py), the seed's equations in
NumPy (reference.py) and the gate order of every framework (gates.py)."""
