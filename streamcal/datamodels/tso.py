"""calwebb_tso3's tables as jwst writes them (ASCII ECSV, read back by ``astropy.table.QTable.read``) and the
light-curve quick look.

- ``<product>_phot.ecsv`` (tso_photometry, jwst_spec §5.12): one row per integration — MJD (int_mid_MJD_UTC),
  aperture_sum, aperture_sum_err, annulus_sum, annulus_sum_err, annulus_mean, annulus_mean_err, aperture_bkg,
  aperture_bkg_err, net_aperture_sum, net_aperture_sum_err (Jy for MJy/sr input), plus aperture_x/aperture_y
  (0-based, pix), centroid_x/centroid_y (each integration's) and the segment and integration number; the table
  meta holds instrument, detector, exp_type, subarray, filter, pupil, target_name and the aperture (xcenter,
  ycenter, radius, radius_inner, radius_outer).
- ``<product>_whtlt.ecsv`` (white_light): MJD, whitelight_flux and whitelight_flux_err (Jy) of the one order, or
  ``whitelight_flux_order_<n>`` (and ``_err``) per order when there are several, plus segment and integration
  number; the same meta.
- ``<product>_phot.png`` / ``<product>_whtlt.png``: relative flux (÷ the median) against time from the first
  integration, with ±1σ error bars and the segment boundaries.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import astropy.units as u
import numpy as np
import numpy.typing as npt
from astropy.table import QTable

from streamcal.datamodels.fitsio import atomic_path
from streamcal.errors import BadDataShapeError

__all__ = ["PHOT_COLUMNS", "render_light_curve", "table_meta", "write_phot", "write_whitelight"]

#: jwst's tso_photometry columns after MJD, in order.
PHOT_COLUMNS = ("aperture_sum", "aperture_sum_err", "annulus_sum", "annulus_sum_err", "annulus_mean",
                "annulus_mean_err", "aperture_bkg", "aperture_bkg_err", "net_aperture_sum", "net_aperture_sum_err")


def table_meta(primary: Mapping[str, object]) -> dict[str, object]:
    """jwst's table meta from a primary header."""
    keys = {"instrument": "INSTRUME", "detector": "DETECTOR", "exp_type": "EXP_TYPE", "subarray": "SUBARRAY",
            "filter": "FILTER", "pupil": "PUPIL", "target_name": "TARGNAME"}
    return {name: str(primary.get(key, "") or "") for name, key in keys.items()}


def _unit(name: str) -> u.UnitBase:
    try:
        return u.Unit(name) if name else u.dimensionless_unscaled
    except ValueError:
        return u.dimensionless_unscaled


def _write(path: Path, table: QTable) -> Path:
    with atomic_path(path) as tmp:
        table.write(tmp, format="ascii.ecsv")
    return path


def write_phot(path: str | os.PathLike[str], *, mjd: npt.ArrayLike, columns: Mapping[str, npt.ArrayLike],
               unit: str, aperture: Mapping[str, float], centroids: tuple[npt.ArrayLike, npt.ArrayLike],
               segment: npt.ArrayLike, int_num: npt.ArrayLike, meta: Mapping[str, object]) -> Path:
    """Write ``<product>_phot.ecsv`` atomically (module docstring).

    Raises
    ------
    BadDataShapeError
        A column of :data:`PHOT_COLUMNS` missing, or columns of different lengths. Not retriable.
    """
    path = Path(path)
    missing = [c for c in PHOT_COLUMNS if c not in columns]
    if missing:
        raise BadDataShapeError(f"{path.name}: missing photometry column(s) {missing}")
    times = np.asarray(mjd, dtype=np.float64)
    table = QTable(meta={**meta, **aperture})
    table["MJD"] = times * u.d
    flux_unit = _unit(unit)
    for name in PHOT_COLUMNS:
        values = np.asarray(columns[name], dtype=np.float64)
        if values.shape != times.shape:
            raise BadDataShapeError(f"{path.name}: column {name} has shape {values.shape}, MJD {times.shape}")
        table[name] = values * flux_unit
    n = times.size
    table["aperture_x"] = np.full(n, aperture["xcenter"]) * u.pix
    table["aperture_y"] = np.full(n, aperture["ycenter"]) * u.pix
    table["centroid_x"] = np.asarray(centroids[0], dtype=np.float64) * u.pix
    table["centroid_y"] = np.asarray(centroids[1], dtype=np.float64) * u.pix
    table["segment"] = np.asarray(segment, dtype=np.int32)
    table["int_num"] = np.asarray(int_num, dtype=np.int32)
    return _write(path, table)


def write_whitelight(path: str | os.PathLike[str], *, mjd: npt.ArrayLike,
                     curves: Sequence[tuple[int, npt.ArrayLike, npt.ArrayLike]], segment: npt.ArrayLike,
                     int_num: npt.ArrayLike, meta: Mapping[str, object]) -> Path:
    """Write ``<product>_whtlt.ecsv`` atomically: ``curves`` are ``(order, flux Jy, error Jy)``.

    Raises
    ------
    BadDataShapeError
        No curve, or curves of another length than MJD. Not retriable.
    """
    path = Path(path)
    if not curves:
        raise BadDataShapeError(f"{path.name}: no white-light curve to write")
    times = np.asarray(mjd, dtype=np.float64)
    table = QTable(meta=dict(meta))
    table["MJD"] = times * u.d
    for order, flux, error in curves:
        name = "whitelight_flux" if len(curves) == 1 else f"whitelight_flux_order_{order}"
        f, e = np.asarray(flux, dtype=np.float64), np.asarray(error, dtype=np.float64)
        if f.shape != times.shape or e.shape != times.shape:
            raise BadDataShapeError(f"{path.name}: order {order} has {f.shape} fluxes for {times.shape} times")
        table[name], table[f"{name}_err"] = f * u.Jy, e * u.Jy
    table["segment"] = np.asarray(segment, dtype=np.int32)
    table["int_num"] = np.asarray(int_num, dtype=np.int32)
    return _write(path, table)


def render_light_curve(mjd: npt.ArrayLike, flux: npt.ArrayLike, error: npt.ArrayLike,
                       png_path: str | os.PathLike[str], *, title: str, segments: npt.ArrayLike | None = None) -> Path:
    """Draw a light curve: flux ÷ its median against time from the first integration (seconds, minutes or hours
    by the span), ±1σ bars, a dashed line where a new segment starts. Written atomically.

    Raises
    ------
    BadDataShapeError
        Shapes differ or no point is finite with a positive median. Not retriable.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    t, f, e = (np.asarray(a, dtype=np.float64) for a in (mjd, flux, error))
    good = np.isfinite(t) & np.isfinite(f)
    if t.shape != f.shape or f.shape != e.shape or not good.any():
        raise BadDataShapeError(f"{title}: a light curve needs finite times and fluxes of one shape")
    norm = float(np.median(f[good]))
    if not norm > 0:
        raise BadDataShapeError(f"{title}: the median flux is {norm}; nothing to normalise by")
    days = t[good] - t[good].min()
    span = float(days.max()) * 86400.0
    unit, per_day = ("s", 86400.0) if span < 600 else ("min", 1440.0) if span < 36000 else ("h", 24.0)
    fig = Figure(figsize=(8.0, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if segments is not None:
        seg = np.asarray(segments)[good]
        for start in np.flatnonzero(np.diff(seg) != 0) + 1:
            ax.axvline(0.5 * (days[start - 1] + days[start]) * per_day, color="0.7", linestyle="--", linewidth=0.8)
    ax.errorbar(days * per_day, f[good] / norm, yerr=np.nan_to_num(e[good]) / norm, fmt="o", markersize=3,
                color="C0", ecolor="0.6", elinewidth=0.8)
    ax.set_xlabel(f"{unit} from MJD {t[good].min():.6f} (dashed: segment boundaries)")
    ax.set_ylabel("relative flux (÷ median)")
    ax.set_title(title, fontsize=9)
    out = Path(png_path)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out
