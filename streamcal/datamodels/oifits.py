"""AMI interferometric observables as jwst writes them: OIFITS2 files that stdatamodels opens as ``AmiOIModel``
(``_ami-oi``, ``_psf-ami-oi``, ``_aminorm-oi``; jwst_spec §1.9, §2; jwst's ``ami/oifits.py``).

Extensions, jwst's columns in jwst's order: OI_ARRAY (7 holes: TEL_NAME, STA_NAME, STA_INDEX, DIAMETER, STAXYZ,
FOV, FOVTYPE, CTRS_EQT, then PISTONS and PIST_ERR — or, normalised, PISTON_T, PISTON_C, PIST_ERR), OI_TARGET,
OI_VIS (21 baselines), OI_VIS2, OI_T3 (35 triangles), OI_Q4 (35 quads) and OI_WAVELENGTH, each with the OIFITS
keywords (OI_REVN = 2, ARRNAME, INSNAME, DATE-OBS, FRAME, ARRAYX/Y/Z) and OIFITS units (deg for phases, m for
coordinates and wavelengths, s for times, d for MJD). The primary carries the member's keywords, DATAMODL =
'AmiOIModel', CONTENT = 'OIFITS2', INSMODE (PUPIL), OBJECT, OBSERVER and, normalised, CALIB (the calibrator).

(u, v): CTRS_EQT are the hole centres turned onto the sky (East, North; m), and a baseline of holes (k, l) has
(UCOORD, VCOORD) = CTRS_EQT[l] − CTRS_EQT[k], so that its fringe phase is the phase of the standard visibility
``∫ I(α, δ) exp(−2πi (u α + v δ)/λ)`` (α East, δ North); OI_T3 gives the baselines (i, j) and (j, k) of each
triangle, OI_Q4 (i, j), (j, k), (k, l) and (l, i). jwst derives its CTRS_EQT with its own flips [U: whether its
signs match these has not been checked against jwst output].
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from streamcal.datamodels.fitsio import Extension, write_fits
from streamcal.kernels.ami import BASELINES, N_HOLES, QUADS, TRIANGLES, Observables
from streamcal.models.ami import OiGeometry

__all__ = ["ARRNAME", "uv_coordinates", "write_oifits"]

#: jwst's OI_ARRAY name.
ARRNAME = "jwst_ami"
_PHASE_UNITS = {"VISPHI": "deg", "VISPHIERR": "deg", "T3PHI": "deg", "T3PHIERR": "deg", "Q4PHI": "deg",
                "Q4PHIERR": "deg", "TIME": "s", "MJD": "d", "INT_TIME": "s"}
_UV = ("U1COORD", "V1COORD", "U2COORD", "V2COORD", "U3COORD", "V3COORD", "U4COORD", "V4COORD", "UCOORD", "VCOORD")


def uv_coordinates(ctrs_eqt: np.ndarray, k: int, m: int) -> tuple[float, float]:
    """(UCOORD, VCOORD) of the baseline of holes (k, m), metres (module docstring)."""
    return float(ctrs_eqt[m, 0] - ctrs_eqt[k, 0]), float(ctrs_eqt[m, 1] - ctrs_eqt[k, 1])


def _number(primary: Mapping[str, object], key: str) -> float:
    """A numeric keyword, 0.0 when missing or blank."""
    value = primary.get(key)
    return float(str(value)) if value not in (None, "") else 0.0


def _common(n: int, mjd: float, int_time: float) -> list[tuple[str, str, object]]:
    return [("TARGET_ID", ">i2", 1), ("TIME", ">f8", 0.0), ("MJD", ">f8", mjd), ("INT_TIME", ">f8", int_time)]


def _table(rows: int, columns: list[tuple[str, str, object]]) -> np.ndarray:
    dtype = [(name, fmt[0], fmt[1]) if isinstance(fmt, tuple) else (name, fmt) for name, fmt, _ in columns]
    table = np.zeros(rows, dtype=dtype)
    for name, _, value in columns:
        table[name] = value
    return table


def _array_table(obs: Observables, geometry: OiGeometry, normalized: bool) -> np.ndarray:
    names = [f"A{i + 1}" for i in range(N_HOLES)]
    staxyz = np.column_stack([geometry.ctrs_inst, np.zeros(N_HOLES)])
    columns: list[tuple[str, object, object]] = [
        ("TEL_NAME", "S16", names), ("STA_NAME", "S16", names), ("STA_INDEX", ">i2", np.arange(1, N_HOLES + 1)),
        ("DIAMETER", ">f4", 0.0), ("STAXYZ", (">f8", (3,)), staxyz), ("FOV", ">f8", geometry.fov_arcsec),
        ("FOVTYPE", "S6", "RADIUS"), ("CTRS_EQT", (">f8", (2,)), geometry.ctrs_eqt)]
    if normalized:
        columns += [("PISTON_T", ">f8", obs.piston), ("PISTON_C", ">f8", obs.piston_c),
                    ("PIST_ERR", ">f8", obs.piston_err)]
    else:
        columns += [("PISTONS", ">f8", obs.piston), ("PIST_ERR", ">f8", obs.piston_err)]
    return _table(N_HOLES, columns)  # type: ignore[arg-type]


def _target_table(primary: Mapping[str, object]) -> np.ndarray:
    name = str(primary.get("TARGPROP") or primary.get("TARGNAME") or "UNKNOWN")
    return _table(1, [
        ("TARGET_ID", ">i2", 1), ("TARGET", "S16", name[:16]), ("RAEP0", ">f8", _number(primary, "TARG_RA")),
        ("DECEP0", ">f8", _number(primary, "TARG_DEC")), ("EQUINOX", ">f4", 2000.0), ("RA_ERR", ">f8", 0.0),
        ("DEC_ERR", ">f8", 0.0), ("SYSVEL", ">f8", 0.0), ("VELTYP", "S8", "UNKNOWN"), ("VELDEF", "S8", "OPTICAL"),
        ("PMRA", ">f8", 0.0), ("PMDEC", ">f8", 0.0), ("PMRA_ERR", ">f8", 0.0), ("PMDEC_ERR", ">f8", 0.0),
        ("PARALLAX", ">f4", 0.0), ("PARA_ERR", ">f4", 0.0), ("SPECTYP", "S16", "UNKNOWN")])


def _data_tables(obs: Observables, geometry: OiGeometry, mjd: float, int_time: float) -> dict[str, np.ndarray]:
    ctrs = geometry.ctrs_eqt
    uv = np.array([uv_coordinates(ctrs, k, m) for k, m in BASELINES])
    t3uv = np.array([[*uv_coordinates(ctrs, i, j), *uv_coordinates(ctrs, j, k)] for i, j, k in TRIANGLES])
    q4uv = np.array([[*uv_coordinates(ctrs, i, j), *uv_coordinates(ctrs, j, k), *uv_coordinates(ctrs, k, m),
                      *uv_coordinates(ctrs, m, i)] for i, j, k, m in QUADS])
    nb, nt, nq = len(BASELINES), len(TRIANGLES), len(QUADS)
    vis = _table(nb, [*_common(nb, mjd, int_time), ("VISAMP", ">f8", obs.vis_amp),
                      ("VISAMPERR", ">f8", obs.vis_amp_err), ("VISPHI", ">f8", obs.vis_phi),
                      ("VISPHIERR", ">f8", obs.vis_phi_err), ("UCOORD", ">f8", uv[:, 0]), ("VCOORD", ">f8", uv[:, 1]),
                      ("STA_INDEX", (">i2", (2,)), np.array(BASELINES) + 1), ("FLAG", "i1", 0)])  # type: ignore[list-item]
    vis2 = _table(nb, [*_common(nb, mjd, int_time), ("VIS2DATA", ">f8", obs.vis2), ("VIS2ERR", ">f8", obs.vis2_err),
                       ("UCOORD", ">f8", uv[:, 0]), ("VCOORD", ">f8", uv[:, 1]),
                       ("STA_INDEX", (">i2", (2,)), np.array(BASELINES) + 1), ("FLAG", "i1", 0)])  # type: ignore[list-item]
    t3 = _table(nt, [*_common(nt, mjd, int_time), ("T3AMP", ">f8", obs.t3_amp), ("T3AMPERR", ">f8", obs.t3_amp_err),
                     ("T3PHI", ">f8", obs.t3_phi), ("T3PHIERR", ">f8", obs.t3_phi_err),
                     *[(name, ">f8", t3uv[:, n]) for n, name in enumerate(_UV[:4])],
                     ("STA_INDEX", (">i2", (3,)), np.array(TRIANGLES) + 1), ("FLAG", "i1", 0)])  # type: ignore[list-item]
    q4 = _table(nq, [*_common(nq, mjd, int_time), ("Q4AMP", ">f8", obs.q4_amp), ("Q4AMPERR", ">f8", obs.q4_amp_err),
                     ("Q4PHI", ">f8", obs.q4_phi), ("Q4PHIERR", ">f8", obs.q4_phi_err),
                     *[(name, ">f8", q4uv[:, n]) for n, name in enumerate(_UV[:8])],
                     ("STA_INDEX", (">i2", (4,)), np.array(QUADS) + 1), ("FLAG", "i1", 0)])  # type: ignore[list-item]
    return {"OI_VIS": vis, "OI_VIS2": vis2, "OI_T3": t3, "OI_Q4": q4}


def write_oifits(path: str | os.PathLike[str], obs: Observables, geometry: OiGeometry, *,
                 primary: Mapping[str, object], calibrator: str | None = None) -> Path:
    """Write one OIFITS product atomically (module docstring); ``calibrator`` (its name) marks it normalised."""
    date_obs = str(primary.get("DATE-OBS", "")) or "2000-01-01"
    mjd = _number(primary, "EXPSTART")
    int_time = _number(primary, "EFFINTTM")
    instrument = str(primary.get("INSTRUME", "NIRISS"))
    head = {k: v for k, v in primary.items() if k not in ("FILENAME", "DATAMODL", "NAXIS", "EXTEND")}
    head.update(DATAMODL="AmiOIModel", CONTENT="OIFITS2", INSMODE=str(primary.get("PUPIL", "NRM")),
                OBJECT=str(primary.get("TARGPROP") or primary.get("TARGNAME") or "UNKNOWN"),
                OBSERVER=str(primary.get("PI_NAME") or "UNKNOWN"), PI_NAME=str(primary.get("PI_NAME") or "UNKNOWN"),
                TARGPROP=str(primary.get("TARGPROP") or primary.get("TARGNAME") or "UNKNOWN"), INSTRUME=instrument,
                TELESCOP="JWST", ORIGIN=str(primary.get("ORIGIN", "STREAMCAL")), FILENAME=Path(path).name)
    if calibrator is not None:
        head["CALIB"] = calibrator
    data_header = {"ARRNAME": ARRNAME, "DATE-OBS": date_obs, "INSNAME": instrument, "OI_REVN": 2}
    wavelength = _table(1, [("EFF_WAVE", ">f4", geometry.wavelength), ("EFF_BAND", ">f4", geometry.bandwidth)])
    extensions = [
        Extension("OI_ARRAY", _array_table(obs, geometry, calibrator is not None),
                  {"ARRNAME": ARRNAME, "FRAME": "SKY", "OI_REVN": 2, "ARRAYX": 0.0, "ARRAYY": 0.0, "ARRAYZ": 0.0},
                  units={"DIAMETER": "m", "STAXYZ": "m", "FOV": "arcsec", "CTRS_EQT": "m", "PISTONS": "deg",
                         "PISTON_T": "deg", "PISTON_C": "deg", "PIST_ERR": "deg"}),
        Extension("OI_TARGET", _target_table(primary), {"OI_REVN": 2},
                  units={"RAEP0": "deg", "DECEP0": "deg", "RA_ERR": "deg", "DEC_ERR": "deg"}),
        *[Extension(name, table, data_header, units={**_PHASE_UNITS, **dict.fromkeys(_UV, "m")})
          for name, table in _data_tables(obs, geometry, mjd, int_time).items()],
        Extension("OI_WAVELENGTH", wavelength, {"INSNAME": instrument, "OI_REVN": 2},
                  units={"EFF_WAVE": "m", "EFF_BAND": "m"}),
    ]
    return write_fits(path, primary=head, extensions=extensions)
