"""Writing what pipelines make: products with their quick-look PNG drawn from the arrays still in memory."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from streamcal.datamodels import write_product
from streamcal.datamodels.quicklook import render_sci

__all__ = ["write_with_quicklook"]


def write_with_quicklook(path: Path, arrays: Mapping[str, np.ndarray], *, primary: Mapping[str, object],
                         sci_header: Mapping[str, object], suffix: str | None = None) -> tuple[Path, Path]:
    """Write a product atomically and its quick-look ``<stem>.png`` beside it (from the in-memory SCI)."""
    written = write_product(path, arrays, primary=primary, sci_header=sci_header, suffix=suffix)
    png = render_sci(arrays["SCI"], sci_header, primary, written.with_suffix(".png"), title=written.name)
    return written, png
