"""Quick-look PNGs of image products (``_i2d``, ``_wfscmb``, ``_cal``, ``_rate`` and their per-integration cubes)
and of extracted spectra (``_x1d``: flux against wavelength with its error band).

The SCI extension is drawn with an astropy ``ImageNormalize`` (a percentile interval of the finite pixels and
an asinh, linear, log or sqrt stretch); NaN pixels are drawn in a neutral grey. Axes are RA/Dec (astropy
``WCSAxes``) when the SCI header has a celestial FITS WCS, pixels otherwise. A 3-D SCI is shown as the median
over integrations.

The figure is a :class:`matplotlib.figure.Figure` on an Agg canvas: no pyplot, no global backend or figure
state, so rendering is safe in worker processes and threads. The PNG is written atomically. matplotlib is
imported on the first call only.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from astropy.io import fits
from astropy.visualization import (
    AsinhStretch,
    AsymmetricPercentileInterval,
    ImageNormalize,
    LinearStretch,
    LogStretch,
    SqrtStretch,
)
from astropy.visualization.stretch import BaseStretch
from astropy.wcs import WCS, FITSFixedWarning

from streamcal.datamodels import atomic_path, check_complete
from streamcal.datamodels.fitsio import hdu_by_name, header_dict, open_fits, to_header
from streamcal.datamodels.spectra import extract1d_tables
from streamcal.errors import BadDataShapeError

__all__ = ["STRETCHES", "Stretch", "render_quicklook", "render_sci", "render_spectrum"]

Stretch = Literal["asinh", "linear", "log", "sqrt"]

#: The stretches ``render_quicklook`` (and ``streamcal quicklook --stretch``) accept.
STRETCHES: tuple[Stretch, ...] = ("asinh", "linear", "log", "sqrt")

_NAN_COLOUR = "0.55"  # neutral grey, distinct from both ends of the colour map


def _stretch(name: str) -> BaseStretch:
    stretches: Mapping[str, BaseStretch] = {"asinh": AsinhStretch(), "linear": LinearStretch(),
                                            "log": LogStretch(), "sqrt": SqrtStretch()}
    if name not in stretches:
        raise ValueError(f"unknown stretch {name!r}; choose one of {', '.join(STRETCHES)}")
    return stretches[name]


def _read_spectrum(path: Path) -> tuple[np.ndarray, dict[str, object]] | None:
    """The first EXTRACT1D table of an x1d file and its primary header; None for any other file."""
    with open_fits(path) as hdul:
        spectra = extract1d_tables(hdul, path)
        if not spectra:
            return None
        table = spectra[0][0]
        missing = [c for c in ("WAVELENGTH", "FLUX") if c not in (table.dtype.names or ())]
        if missing:
            raise BadDataShapeError(f"{path.name}: its EXTRACT1D table has no {' or '.join(missing)} column")
        return table, header_dict(hdul[0].header)


def _read_sci(path: Path) -> tuple[npt.NDArray[np.float64], fits.Header, dict[str, object]]:
    """SCI as a float image, its header, and the primary header."""
    with open_fits(path) as hdul:
        primary = header_dict(hdul[0].header)
        sci = hdu_by_name(hdul, "SCI", path)
        if sci is None or not sci.is_image or sci.data is None:
            raise BadDataShapeError(f"{path.name}: no SCI image extension; quicklook draws image products "
                                    f"(i2d, wfscmb, cal, rate)")
        check_complete(sci, path)
        data = np.array(sci.data, dtype=np.float64)
        header = sci.header.copy()
    return data, header, primary


def _plane(data: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    """A 2-D float image of SCI: the median over integrations for a cube."""
    plane = np.asarray(data, dtype=np.float64)
    if plane.ndim == 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN pixel stays NaN
            plane = np.nanmedian(plane, axis=0)
    if plane.ndim != 2:
        raise BadDataShapeError(f"{name}: SCI is {plane.ndim}-D; quicklook draws 2-D images and 3-D cubes")
    return plane


def _celestial_wcs(header: fits.Header) -> WCS | None:
    """The header's celestial WCS, or None (no CTYPE, or not celestial, or unparseable)."""
    if not header.get("CTYPE1"):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(header).celestial
    except (ValueError, KeyError, MemoryError):
        return None
    return wcs if wcs.has_celestial and wcs.naxis == 2 else None


def _normalized(data: npt.NDArray[np.float64], stretch: str, percentiles: tuple[float, float]
                ) -> tuple[np.ma.MaskedArray, ImageNormalize]:
    """The data clipped to the percentile interval with NaNs masked, and the normalisation to draw it with.

    Clipping here rather than with ``ImageNormalize(clip=True)``, which paints NaN pixels the top colour; the
    masked pixels get the colour map's ``bad`` colour.
    """
    finite = data[np.isfinite(data)]
    lo, hi = 0.0, 1.0
    if finite.size:
        lo, hi = (float(v) for v in AsymmetricPercentileInterval(*percentiles).get_limits(finite))
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
    clipped = np.ma.masked_invalid(np.clip(data, lo, hi))
    return clipped, ImageNormalize(vmin=lo, vmax=hi, stretch=_stretch(stretch), clip=False)


def _title(name: str, primary: Mapping[str, object]) -> str:
    detail = " ".join(str(primary[k]) for k in ("EXP_TYPE", "FILTER", "PUPIL")
                      if primary.get(k) not in (None, "", "CLEAR", "N/A"))
    return f"{name}\n{detail}" if detail else name


def render_quicklook(path_fits: str | os.PathLike[str], png_path: str | os.PathLike[str] | None = None, *,
                     stretch: str = "asinh", percentiles: tuple[float, float] = (0.5, 99.5)) -> Path:
    """Draw the SCI extension of an image product (or the first spectrum of an ``_x1d``) into a PNG.

    Parameters
    ----------
    path_fits : path
        An image product with a 2-D or 3-D SCI extension.
    png_path : path, optional
        Where to write; default ``<stem>.png`` beside the FITS file.
    stretch : {"asinh", "linear", "log", "sqrt"}
        The astropy stretch applied after the percentile interval.
    percentiles : (float, float)
        Lower and upper percentiles of the finite pixels mapped to the ends of the colour map.

    Returns
    -------
    Path
        The PNG written (atomically: a temp file beside it, then ``os.replace``).

    Raises
    ------
    ValueError
        An unknown ``stretch``.
    BadDataShapeError
        The file has no SCI image, or SCI is not 2-D/3-D. Not retriable.
    NotFitsError, CorruptFileError
        Not a (complete) FITS file. Not retriable.
    FileNotFoundError
        ``path_fits`` does not exist.
    """
    path = Path(path_fits)
    out = Path(png_path) if png_path is not None else path.with_suffix(".png")
    _stretch(stretch)  # a bad stretch fails before any reading
    spectrum = _read_spectrum(path)
    if spectrum is not None:  # an x1d: its first spectrum
        table, primary = spectrum
        error = table["FLUX_ERROR"] if "FLUX_ERROR" in (table.dtype.names or ()) else np.zeros(len(table))
        return render_spectrum(table["WAVELENGTH"], table["FLUX"], error, primary, out, title=path.name)
    data, header, primary = _read_sci(path)
    return render_sci(data, header, primary, out, title=path.name, stretch=stretch, percentiles=percentiles)


def render_sci(sci: npt.ArrayLike, sci_header: Mapping[str, object] | fits.Header, primary: Mapping[str, object],
               png_path: str | os.PathLike[str], *, title: str, stretch: str = "asinh",
               percentiles: tuple[float, float] = (0.5, 99.5)) -> Path:
    """Draw an in-memory SCI array (2-D, or a cube shown as its median over integrations) into a PNG.

    ``sci_header`` gives the axes (RA/Dec when it has a celestial WCS) and BUNIT; ``primary`` the title's
    EXP_TYPE/FILTER/PUPIL; ``title`` names the product. What pipelines call on the product they just wrote,
    with the arrays still in memory. Raises like :func:`render_quicklook`.
    """
    # matplotlib is imported here, not at module level: it costs ~0.4 s, and every ``streamcal`` command
    # imports this module through the CLI.
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(png_path)
    _stretch(stretch)
    data = _plane(sci, title)
    header = sci_header if isinstance(sci_header, fits.Header) else to_header(sci_header)
    wcs = _celestial_wcs(header)
    fig = Figure(figsize=(7.0, 6.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection=wcs) if wcs is not None else fig.add_subplot()
    cmap = colormaps["inferno"].with_extremes(bad=_NAN_COLOUR)
    shown, norm = _normalized(data, stretch, percentiles)
    image = ax.imshow(shown, origin="lower", norm=norm, cmap=cmap,
                      interpolation="nearest")
    if wcs is not None:  # label the coordinates, not the axes: a rolled image ticks RA on the vertical axis
        coords = ax.coords  # type: ignore[union-attr]  # a WCSAxes, from projection=wcs
        coords[0].set_axislabel("RA (ICRS)")
        coords[1].set_axislabel("Dec (ICRS)")
    else:
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel("y (pixel)")
    ax.set_title(_title(title, primary), fontsize=9)
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(str(header.get("BUNIT") or primary.get("BUNIT") or "SCI"))
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out


def render_spectrum(wavelength: npt.ArrayLike, flux: npt.ArrayLike, error: npt.ArrayLike,
                    primary: Mapping[str, object], png_path: str | os.PathLike[str], *, title: str) -> Path:
    """Draw an extracted spectrum (an ``_x1d``): flux density (Jy) against wavelength (µm) with its ±1σ band;
    non-finite points are left out. Columns of integrations × points (an ``_x1dints``) are drawn as their mean
    over the integrations (the error of the mean). Written atomically, like the images.

    Raises
    ------
    BadDataShapeError
        The columns differ in shape or are not 1-D or 2-D, or no point is finite. Not retriable.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    wave, f, e = (np.asarray(a, dtype=np.float64) for a in (wavelength, flux, error))
    if not wave.shape == f.shape == e.shape or wave.ndim not in (1, 2):
        raise BadDataShapeError(f"{title}: wavelength, flux and error must share one 1-D (or integrations × "
                                "points) shape")
    if wave.ndim == 2:
        n = len(wave)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a point no integration holds stays NaN
            wave, f, e = wave[0], np.nanmean(f, axis=0), np.sqrt(np.nanmean(np.square(e), axis=0) / n)
        title = f"{title} (mean of {n} integrations)"
    good = np.isfinite(wave) & np.isfinite(f)
    if not good.any():
        raise BadDataShapeError(f"{title}: no finite point to draw")
    order = np.argsort(wave[good])
    wave, f, e = wave[good][order], f[good][order], np.nan_to_num(e[good][order])
    fig = Figure(figsize=(8.0, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.fill_between(wave, f - e, f + e, color="0.75", linewidth=0, label="±1σ")
    ax.plot(wave, f, color="C0", linewidth=0.8, label="flux")
    ax.set_xlabel("wavelength (µm)")
    ax.set_ylabel("flux density (Jy)")
    ax.set_title(_title(title, primary), fontsize=9)
    ax.legend(loc="best", fontsize=8)
    out = Path(png_path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out
