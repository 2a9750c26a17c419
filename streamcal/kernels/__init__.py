"""Numpy kernels of the calibration steps: arrays in, a named result out, no I/O, no logging.

Each module holds one public verb (``jump.detect_jumps``, ``ramp_fit.fit_ramps``); modules whose names start
with ``_`` are private helpers. Kernels import only numpy (STYLE.md, "Layering and state").
"""

__all__: list[str] = []
