"""Device checks on an architecture the host is not: the device harness run under emulation.

    aarch64.py   the emulated aarch64 Python (qemu-user, Debian's arm64 packages, PyPI's aarch64 wheels), cached
    check.py     `lstm-edge device-check BUNDLE --arch aarch64`: the harness there, the cross-architecture table
"""
