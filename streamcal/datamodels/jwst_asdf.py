"""The ASDF extension that stdatamodels and jwst need in a FITS file (issue 14).

stdatamodels keeps a model's tree in a binary table named ``ASDF`` (one row, one ``ASDF_METADATA`` byte column
holding an ASDF document); ``stdatamodels.jwst.datamodels.read_metadata``, and with it jwst's ``ModelLibrary``,
``strun`` and every step given a file name, fail with ``KeyError: "Extension 'ASDF' not found"`` without it.
We write the same document stdatamodels' ``fits_support.to_fits`` writes, from our headers:

* ``meta``: each header keyword the model's schema names, at the attribute stdatamodels reads it into
  (:mod:`streamcal.datamodels.jwst_keywords`, generated from stdatamodels' schemas);
* arrays: ``core/ndarray`` references to the HDUs (``source: fits:SCI,1``), never the data.

There is no ``_fits_hash``: on open stdatamodels still reads every keyword from the headers, which stay the one
source of truth (a header edited later is honoured; the tree never shadows it). The document is YAML written with
PyYAML, already a dependency, rather than the ``asdf`` package, whose first write in a process loads every
installed ASDF extension (~1 s) for a tree that needs none of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import yaml
from astropy.io import fits

from streamcal.datamodels.jwst_keywords import MODELS, PROFILES

__all__ = ["ASDF_EXTENSION", "asdf_document", "asdf_hdu", "model_tree"]

ASDF_EXTENSION = "ASDF"
_TAG_PREFIX = "tag:stsci.edu:asdf/"
_HEAD = b"#ASDF 1.0.0\n#ASDF_STANDARD 1.5.0\n"


class _Tagged(dict[str, Any]):
    """A mapping written with an ASDF tag (``core/ndarray-1.0.0``)."""

    def __init__(self, tag: str, content: dict[str, Any]) -> None:
        super().__init__(content)
        self.tag = tag


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """PyYAML's safe dumper (the C one when built), plus ASDF tags."""


_Dumper.add_representer(_Tagged, lambda dumper, data: dumper.represent_mapping(_TAG_PREFIX + data.tag, dict(data)))


def _datatype(dtype: np.dtype) -> Any:
    """An ASDF ``datatype`` for a numpy dtype (``asdf.tags.core.ndarray.numpy_dtype_to_asdf_datatype``)."""
    if dtype.names is not None:
        fields = []
        for name in dtype.names:
            field = dtype.fields[name][0]  # type: ignore[index]
            entry: dict[str, Any] = {"name": name, "datatype": _datatype(field.base), "byteorder": "big"}
            if field.shape:
                entry["shape"] = list(field.shape)
            fields.append(entry)
        return fields
    if dtype.kind == "S":
        return ["ascii", dtype.itemsize]
    if dtype.kind == "U":
        return ["ucs4", dtype.itemsize // 4]
    return "bool8" if dtype.kind == "b" else dtype.name


def _reference(hdu: fits.ImageHDU | fits.BinTableHDU) -> _Tagged:
    data = hdu.data
    return _Tagged("core/ndarray-1.0.0", {"source": f"fits:{hdu.name},{hdu.ver}", "datatype": _datatype(data.dtype),
                                          "byteorder": "big", "shape": list(data.shape)})


def _put(tree: dict[str, Any], path: str, value: object, index: int) -> None:
    node: Any = tree
    parts = path.split(".")
    for part, following in zip(parts, [*parts[1:], None], strict=True):
        if part == "[]":
            node.extend({} for _ in range(index + 1 - len(node)))
            key: Any = index
        else:
            key = part
        if following is None:
            node[key] = value
        elif not isinstance(key, int) and key not in node:
            node[key] = [] if following == "[]" else {}
        node = node[key]


def model_tree(hdus: Sequence[fits.hdu.base._BaseHDU]) -> dict[str, Any]:
    """The tree stdatamodels would save for these HDUs: meta from the headers, arrays as HDU references.

    The primary header's ``DATAMODL`` names the model class; a class the generated table does not know gets
    only the primary keywords every product shares (``meta.model_type`` among them).
    """
    model = str(hdus[0].header.get("DATAMODL", ""))
    layout = MODELS[model] if model in MODELS else {"PRIMARY": MODELS["ImageModel"]["PRIMARY"]}
    tree: dict[str, Any] = {}
    for position, hdu in enumerate(hdus):
        name = "PRIMARY" if position == 0 else hdu.name
        array_path, profile = layout.get(name, (None, None))
        index = int(hdu.ver or 1) - 1
        keywords = PROFILES[profile] if profile else {}
        for card in hdu.header.cards if keywords else ():
            paths = keywords.get(card.keyword, ())
            value = card.value
            if not isinstance(value, (bool, int, float, str)):
                continue
            for path in (paths,) if isinstance(paths, str) else paths:
                if "[]" in path or not index:
                    _put(tree, path, value, index)
        if position and array_path and hdu.data is not None and ("[]" in array_path or not index):
            _put(tree, array_path, _reference(hdu), index)
    return tree


def asdf_document(tree: dict[str, Any]) -> bytes:
    """An ASDF 1.5 document (YAML only, no binary blocks) holding ``tree``."""
    text = yaml.dump(_Tagged("core/asdf-1.1.0", tree), Dumper=_Dumper, version=(1, 1), tags={"!": _TAG_PREFIX},
                     explicit_start=True, explicit_end=True, sort_keys=False, allow_unicode=False, width=120)
    return _HEAD + text.encode("ascii")


def asdf_hdu(hdus: Sequence[fits.hdu.base._BaseHDU]) -> fits.BinTableHDU:
    """The ``ASDF`` extension for a file of these HDUs (as ``stdatamodels.fits_support._create_asdf_hdu``)."""
    data = np.frombuffer(asdf_document(model_tree(hdus)), dtype=np.uint8)[None, :]
    column = fits.Column(array=data, format=f"{data.shape[1]}B", name="ASDF_METADATA")
    return fits.BinTableHDU.from_columns([column], name=ASDF_EXTENSION)
