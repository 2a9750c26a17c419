"""The data layer: the only code that reads or writes FITS.

Header-only reads for routing, memory-mapped raw ramps for calibration, atomic product writes with JWST
extension names and dtypes, and deterministic JWST file names.
"""

from __future__ import annotations

from streamcal.datamodels.fitsio import (
    Extension,
    atomic_path,
    check_complete,
    read_extensions,
    read_header,
    read_section,
    write_fits,
)
from streamcal.datamodels.naming import ExposureName, identity_conflict, input_root, product_file, split_suffix
from streamcal.datamodels.products import PRODUCTS, Product, ProductSpec, read_product, write_product
from streamcal.datamodels.raw import ExposureHeaders, RawExposure, open_raw, read_headers, write_raw

__all__ = [
    "PRODUCTS",
    "ExposureHeaders",
    "ExposureName",
    "Extension",
    "Product",
    "ProductSpec",
    "RawExposure",
    "atomic_path",
    "check_complete",
    "identity_conflict",
    "input_root",
    "open_raw",
    "product_file",
    "read_extensions",
    "read_header",
    "read_headers",
    "read_product",
    "read_section",
    "split_suffix",
    "write_fits",
    "write_product",
    "write_raw",
]
