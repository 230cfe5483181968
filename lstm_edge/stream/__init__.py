"""A live streaming session over one artefact on the host (session.py); the stepping itself is
lstm_edge.runtime.stream and lstm_edge.runtime.fast_step, shared with the device."""
