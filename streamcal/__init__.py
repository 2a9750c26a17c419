"""streamcal: event-driven calibration of JWST exposures (the calibration core).

The core never imports asyncio, Kafka or Prometheus; the event-driven runtime lives in ``services``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("streamcal")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
