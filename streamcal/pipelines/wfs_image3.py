"""calwebb_wfs-image3: WfsCombineStep over every product of a wfs-image3 association (jwst_spec.md §1.11, §5.13).

Each ASN product is one WFS&C dither pair: exactly two ``science`` members, ``_cal`` images resolved
relative to the ASN file's folder. The pair is combined by :func:`streamcal.kernels.image.wfs_combine.combine_pair`
with the parameters of ``pars-wfscombinestep*.yaml`` (selected by data from the first member's header) and
written as ``<out_dir>/<product name>_wfscmb.fits`` (ImageModel: SCI, ERR, DQ) carrying the reference image's
headers and TAN WCS keywords, S_WFSCOM and the provenance keywords. Our ASN product names already end in
``-<detector>`` (:func:`streamcal.associations.level3_product_name`); jwst appends the activity id after the
suffix, which we do not.

A quick-look PNG (:func:`streamcal.datamodels.quicklook.render_quicklook`) is written beside each product with
the same stem (``<product name>_wfscmb.png``) and listed after it in :attr:`PipelineResult.products`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from streamcal.associations import AsnProduct, read_asn
from streamcal.datamodels import write_product
from streamcal.datamodels.quicklook import render_quicklook
from streamcal.errors import AssociationError, ConfigError
from streamcal.kernels.image.wcs import imaging_wcs, s_region, wcs_keywords
from streamcal.kernels.image.wfs_combine import combine_pair
from streamcal.models.image import ImageData, read_image
from streamcal.pipelines.provenance import provenance_keywords
from streamcal.pipelines.result import PipelineResult, StageConfig
from streamcal.routing import ParsFile, route, select_pars
from streamcal.steps import StepRecord, StepStatus

__all__ = ["WFS_COMBINE_DEFAULTS", "run_wfs_image3", "wfs_combine_parameters"]

#: WfsCombineStep's parameters and their jwst defaults.
WFS_COMBINE_DEFAULTS: Mapping[str, bool | int] = {
    "do_refine": False, "flip_dithers": True, "psf_size": 100, "blur_size": 10, "n_size": 2,
}


def wfs_combine_parameters(pars: ParsFile) -> dict[str, bool | int]:
    """The combine parameters of a ``pars-wfscombinestep`` file, over the defaults.

    Raises
    ------
    ConfigError
        An unknown parameter, a non-boolean flag, or a size that is not a positive integer
        (``n_size`` may be 0). Not retriable.
    """
    source = pars.path.name
    unknown = sorted(set(pars.parameters) - set(WFS_COMBINE_DEFAULTS))
    if unknown:
        raise ConfigError(f"{source}: WfsCombineStep has no parameter {', '.join(map(repr, unknown))} "
                          f"(known: {sorted(WFS_COMBINE_DEFAULTS)})")
    values: dict[str, bool | int] = dict(WFS_COMBINE_DEFAULTS)
    for key, value in pars.parameters.items():
        if isinstance(WFS_COMBINE_DEFAULTS[key], bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{source}: {key} must be true or false, not {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "n_size" else 1):
            raise ConfigError(f"{source}: {key} must be a positive integer, not {value!r}")
        values[key] = value
    return values


def _members(product: AsnProduct, asn_dir: Path, asn_name: str) -> tuple[Path, Path]:
    science = product.by_type("science")
    if len(science) != 2:
        raise AssociationError(f"{asn_name}: product {product.name!r} has {len(science)} science members; "
                               f"a wfs-image3 product is a dither pair of exactly 2")
    paths = tuple(asn_dir / m.expname for m in science)
    for path in paths:
        if not path.is_file():
            raise AssociationError(f"{asn_name}: member {path.name} of product {product.name!r} "
                                   f"does not exist (looked for {path})")
    return paths[0], paths[1]


def _combine_one(alias: str, product: AsnProduct, images: tuple[ImageData, ImageData],
                 parameters: Mapping[str, bool | int], pars: ParsFile, out_dir: Path
                 ) -> tuple[tuple[Path, Path], StepRecord]:
    t0 = time.perf_counter()
    one, two = images
    wcs1 = imaging_wcs(one.sci_header, one.shape, primary=one.primary, source=one.root)
    wcs2 = imaging_wcs(two.sci_header, two.shape, primary=two.primary, source=two.root)
    result = combine_pair(one, two, wcs1=wcs1, wcs2=wcs2, do_refine=bool(parameters["do_refine"]),
                          flip_dithers=bool(parameters["flip_dithers"]), psf_size=int(parameters["psf_size"]),
                          blur_size=int(parameters["blur_size"]), n_size=int(parameters["n_size"]))
    wcs = wcs2 if result.swapped else wcs1
    image = result.image
    record = StepRecord("wfs_combine", StepStatus.COMPLETE, time.perf_counter() - t0,
                        counts={"dx": result.dx, "dy": result.dy, "swapped": int(result.swapped)})
    primary = {**image.primary, **provenance_keywords((record,), alias=alias, pars=pars.path.name)}
    sci_header = {**image.sci_header, **wcs_keywords(wcs), "S_REGION": s_region(wcs, image.shape)}
    path = write_product(out_dir / f"{product.name}_wfscmb.fits", {"SCI": image.sci, "ERR": image.err,
                                                                   "DQ": image.dq},
                         primary=primary, sci_header=sci_header, suffix="wfscmb")
    return (path, render_quicklook(path)), record


def run_wfs_image3(alias: str, asn_path: str | os.PathLike[str], *, refs_dir: str | os.PathLike[str],
                   out_dir: str | os.PathLike[str], config: StageConfig | None = None) -> PipelineResult:
    """Combine each dither pair of a wfs-image3 association into ``<product name>_wfscmb.fits``.

    ``refs_dir`` is accepted for the common pipeline signature; wfs_combine uses no reference files.
    ``exposure_id`` of the result is the product name (the ASN file's stem when it has several products).

    Raises
    ------
    AssociationError
        The ASN is unreadable, a product does not have exactly two science members, or a member file is
        missing (named). Not retriable.
    ConfigError
        The parameter file has an unknown or invalid parameter. Not retriable.
    InvalidInputError subclasses
        A member is not a 2-D calibrated image or lacks the WCS keywords. Not retriable.
    """
    del refs_dir  # no reference files
    started = time.perf_counter()
    path = Path(asn_path)
    config = config if config is not None else StageConfig.load()
    asn = read_asn(path)
    if not asn.products:
        raise AssociationError(f"{path.name}: the association has no products")
    pairs = [_members(product, path.parent, path.name) for product in asn.products]
    out = Path(out_dir)
    products: list[Path] = []
    records: list[StepRecord] = []
    for product, (first, second) in zip(asn.products, pairs, strict=True):
        images = (read_image(first), read_image(second))
        header = images[0].primary
        pars = select_pars(alias, route(header, config.table, source=first.name), registry=config.table.registry,
                           library=config.pars, header=header)
        written, record = _combine_one(alias, product, images, wfs_combine_parameters(pars), pars, out)
        products.extend(written)
        records.append(record)
    exposure_id = asn.products[0].name if len(asn.products) == 1 else path.name.removesuffix(".json")
    return PipelineResult(alias, exposure_id, tuple(products), time.perf_counter() - started, tuple(records))
