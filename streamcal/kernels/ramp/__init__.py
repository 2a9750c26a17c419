"""Ramp kernels (stage 1): numpy arrays of ``(nints, ngroups, ny, nx)`` ramps in, a named result out.

Each module holds one public verb (``jump.detect_jumps``, ``ramp_fit.fit_ramps``); modules whose names start
with ``_`` are private helpers. They import only numpy (STYLE.md, "Layering and state").
"""

__all__: list[str] = []
