"""Kernels: the numerics of the steps, by data shape: :mod:`.ramp` (stage 1) and :mod:`.image` (stages 2-3).

Arrays (or frozen models) in, a named result out; no I/O, no logging, inputs never modified.
"""

__all__: list[str] = []
