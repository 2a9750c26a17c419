"""NIRSpec's micro-shutter assembly (MSA): where an open shutter's spectrum falls, and the MSA metadata file
(issue 11, the MOS mode family).

**Geometry** (a SPECWCS reference whose ``MSAQUADS`` binary table has one row per MSA quadrant that lights the
detector). A shutter is keyed by (quadrant, row, column), as jwst's MSA metadata keys it; shutter rows step
along the dispersion, shutter columns across it, and a slitlet is a run of adjacent columns in one row (jwst's
1×3 nod slitlets). Full-frame 0-based detector pixels, ``d`` the dispersion coordinate, ``c`` the cross one:

- the centre of column ``k`` crosses the detector along ``c = T(d) + CROSS_PITCH · k`` (``T``: TRACE_COEFFS, a
  power series in ``d``); a shutter spans ``± CROSS_PITCH/2`` about it;
- a source at ``(x, y)`` within its shutter (jwst's ``estimated_source_in_shutter_x/y``, 0…1, 0.5 the centre)
  sits at ``c = T(d) + CROSS_PITCH · (k + y − 0.5)``, and its spectrum is shifted along the dispersion by
  ``s = DISP_PITCH · (row − ROW_REF) + DISP_OPEN · (x − 0.5)`` px: ``λ(d) = W(d − s)`` (``W``:
  WAVELENGTH_COEFFS). The ``x`` term is what jwst's wavecorr step corrects for; here assign_wcs includes it;
- the profile across the dispersion is a Gaussian of ``SIGMA_PX``; light falls on ``D_FIRST ≤ d ≤ D_LAST``.

So each source is a :class:`~streamcal.models.spectral.SpectralLayout` of its own (:meth:`MsaQuadrant.layout`).
Simplified against the real instrument [U]: no distortion or curvature beyond ``T``, no bars between shutters
(a slitlet is one open strip: no barshadow), no slit loss (a shutter passes the whole PSF: no pathloss), no
spectral line tilt; the values are plausible, not from real reference files.

=================== ============== ==========================================================================
column              type           meaning
=================== ============== ==========================================================================
QUADRANT            int16          MSA quadrant, 1–4
N_ROWS, N_COLUMNS   int16          shutters in the quadrant (1-based row and column numbers)
ROW_REF             float64        the row whose spectrum has no dispersion shift
DISP_PITCH          float64        dispersion shift per shutter row, px
DISP_OPEN           float64        dispersion shift across a shutter's open width (x from 0 to 1), px
CROSS_PITCH         float64        cross-dispersion pitch of the shutter columns, px
WAVELENGTH_COEFFS   float64 (4,)   W(d) in µm, power series in d, zero-padded
TRACE_COEFFS        float64 (4,)   T(d), full-frame 0-based, power series in d, zero-padded
SIGMA_PX            float64        Gaussian σ of the cross profile, px
D_FIRST, D_LAST     int32          first and last (inclusive) lit dispersion pixel, full-frame 0-based
DISPAXIS            int16          1: dispersion along x
=================== ============== ==========================================================================

**The MSA metadata file** (``jw<ppppp><ooo><vvv>_<cfg>_msa.fits``, named by the raw file's MSAMETFL; jwst's
data_products/msa_metadata): a ``SHUTTER_INFO`` table (one row per open shutter and dither point) and a
``SOURCE_INFO`` table (one row per source), with jwst's column names. The rows of an exposure are those with
its MSAMETID and PATT_NUM (``dither_point_index``). A slitlet whose shutters are all background
(``background='Y'``, no ``primary_source='Y'``) holds no source: it gives no spectrum.
:func:`msa_metadata_path` resolves MSAMETFL next to the exposure and refuses anything but a bare file name;
:func:`carry_msa_metadata` (calwebb_detector1) copies the file next to the exposure's products, so that stage 2
finds it next to its ``_rate`` input wherever the products are written.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from numpy.polynomial import Polynomial

from streamcal.datamodels import Extension, read_extensions, write_fits
from streamcal.errors import BadKeywordValueError, CorruptFileError, InvalidInputError, MissingKeywordError
from streamcal.models.spectral import SpectralLayout

__all__ = ["MSAQUADS_DTYPE", "SHUTTER_INFO_DTYPE", "SOURCE_INFO_DTYPE", "MsaConfiguration", "MsaGeometry",
           "MsaQuadrant", "MsaSlitlet", "MsaSource", "carry_msa_metadata", "geometry_from_msaquads",
           "msa_metadata_path", "msaquads_table", "read_msa_metadata", "write_msa_metadata"]

_MAX_COEFFS = 4
MSAQUADS_DTYPE = np.dtype([
    ("QUADRANT", ">i2"), ("N_ROWS", ">i2"), ("N_COLUMNS", ">i2"), ("ROW_REF", ">f8"), ("DISP_PITCH", ">f8"),
    ("DISP_OPEN", ">f8"), ("CROSS_PITCH", ">f8"), ("WAVELENGTH_COEFFS", ">f8", (_MAX_COEFFS,)),
    ("TRACE_COEFFS", ">f8", (_MAX_COEFFS,)), ("SIGMA_PX", ">f8"), ("D_FIRST", ">i4"), ("D_LAST", ">i4"),
    ("DISPAXIS", ">i2"),
])
#: jwst's SHUTTER_INFO columns (the 12 of data_products/msa_metadata).
SHUTTER_INFO_DTYPE = np.dtype([
    ("slitlet_id", ">i4"), ("msa_metadata_id", ">i4"), ("shutter_quadrant", ">i4"), ("shutter_row", ">i4"),
    ("shutter_column", ">i4"), ("source_id", ">i4"), ("background", "S1"), ("shutter_state", "S6"),
    ("estimated_source_in_shutter_x", ">f4"), ("estimated_source_in_shutter_y", ">f4"),
    ("dither_point_index", ">i4"), ("primary_source", "S1"),
])
#: jwst's SOURCE_INFO columns.
SOURCE_INFO_DTYPE = np.dtype([
    ("program", ">i4"), ("source_id", ">i4"), ("source_name", "S31"), ("alias", "S31"), ("ra", ">f8"),
    ("dec", ">f8"), ("preimage_id", "S31"), ("stellarity", ">f8"),
])
F64 = npt.NDArray[np.float64]


def _trimmed(values: npt.ArrayLike) -> tuple[float, ...]:
    out = [float(v) for v in np.atleast_1d(np.asarray(values, np.float64))]
    while len(out) > 1 and out[-1] == 0.0:
        out.pop()
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class MsaQuadrant:
    """One quadrant's shutters on the detector (module docstring).

    Raises
    ------
    ValueError
        On construction: bad quadrant number or sizes, non-positive pitches or σ, an empty lit range. Not
        retriable.
    """

    quadrant: int
    n_rows: int
    n_columns: int
    row_ref: float
    disp_pitch: float
    disp_open: float
    cross_pitch: float
    wavelength_coeffs: tuple[float, ...]
    trace_coeffs: tuple[float, ...]
    sigma_px: float
    d_range: tuple[int, int]  # (first, last + 1)
    dispaxis: int = 1

    def __post_init__(self) -> None:
        if self.quadrant not in (1, 2, 3, 4) or self.n_rows < 1 or self.n_columns < 1:
            raise ValueError(f"quadrant {self.quadrant} with {self.n_rows}×{self.n_columns} shutters")
        if self.cross_pitch <= 0 or self.sigma_px <= 0 or self.d_range[0] >= self.d_range[1] or self.dispaxis != 1:
            raise ValueError(f"quadrant {self.quadrant}: pitch, σ and the lit range must be positive, dispaxis 1")

    def _check(self, row: int, column: int) -> None:
        if not (1 <= row <= self.n_rows and 1 <= column <= self.n_columns):
            raise ValueError(f"shutter (row {row}, column {column}) is not in quadrant {self.quadrant} "
                             f"({self.n_rows} rows × {self.n_columns} columns)")

    def shift(self, row: int, x: float = 0.5) -> float:
        """The dispersion shift (px) of a source at ``x`` in a shutter of ``row``."""
        return self.disp_pitch * (row - self.row_ref) + self.disp_open * (x - 0.5)

    def cross(self, d: npt.ArrayLike, column: float) -> F64:
        """The cross-dispersion centre of (fractional) column ``column`` at dispersion pixel(s) ``d``."""
        dd = np.asarray(d, np.float64)
        return np.asarray(Polynomial(self.trace_coeffs)(dd) + self.cross_pitch * column)

    def layout(self, row: int, column: int, x: float = 0.5, y: float = 0.5) -> SpectralLayout:
        """The spectral layout (geometry only) of a point source at ``(x, y)`` in shutter ``(row, column)``.

        Raises
        ------
        ValueError
            No such shutter, or a position outside 0…1. Not retriable.
        """
        self._check(row, column)
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(f"a source position in a shutter is 0…1, got ({x}, {y})")
        s = self.shift(row, x)
        wave = Polynomial(self.wavelength_coeffs)(Polynomial([-s, 1.0])).coef
        trace = (self.trace_coeffs[0] + self.cross_pitch * (column + y - 0.5), *self.trace_coeffs[1:])
        return SpectralLayout(dispaxis=1, wavelength_coeffs=tuple(float(c) for c in wave), trace_coeffs=trace,
                              sigma_px=self.sigma_px, d_range=self.d_range)


@dataclass(frozen=True, slots=True)
class MsaGeometry:
    """The quadrants that light a detector, by quadrant number."""

    quadrants: dict[int, MsaQuadrant]

    def quadrant(self, number: int) -> MsaQuadrant:
        """Quadrant ``number``.

        Raises
        ------
        InvalidInputError
            The detector's MSA geometry has no such quadrant (its shutters do not reach this detector). Not
            retriable.
        """
        if number not in self.quadrants:
            raise InvalidInputError(f"MSA quadrant {number} does not light this detector (the geometry has "
                                    f"{sorted(self.quadrants)})")
        return self.quadrants[number]


def msaquads_table(geometry: MsaGeometry) -> np.ndarray:
    """The MSAQUADS table of a geometry (columns in the module docstring)."""
    rows = np.zeros(len(geometry.quadrants), MSAQUADS_DTYPE)
    for i, q in enumerate(geometry.quadrants[k] for k in sorted(geometry.quadrants)):
        rows[i]["QUADRANT"], rows[i]["N_ROWS"], rows[i]["N_COLUMNS"] = q.quadrant, q.n_rows, q.n_columns
        rows[i]["ROW_REF"], rows[i]["DISP_PITCH"], rows[i]["DISP_OPEN"] = q.row_ref, q.disp_pitch, q.disp_open
        rows[i]["CROSS_PITCH"], rows[i]["SIGMA_PX"], rows[i]["DISPAXIS"] = q.cross_pitch, q.sigma_px, q.dispaxis
        rows[i]["WAVELENGTH_COEFFS"][:len(q.wavelength_coeffs)] = q.wavelength_coeffs
        rows[i]["TRACE_COEFFS"][:len(q.trace_coeffs)] = q.trace_coeffs
        rows[i]["D_FIRST"], rows[i]["D_LAST"] = q.d_range[0], q.d_range[1] - 1
    return rows


def geometry_from_msaquads(table: np.ndarray, *, source: str = "MSAQUADS") -> MsaGeometry:
    """The geometry of an MSAQUADS table.

    Raises
    ------
    CorruptFileError
        No rows, a column missing, a quadrant twice, or values that make no geometry; names ``source``. Not
        retriable.
    """
    names = {n.upper(): n for n in (table.dtype.names or ())}
    missing = [n for n in MSAQUADS_DTYPE.names or () if n not in names]
    if missing or len(table) == 0:
        raise CorruptFileError(f"{source}: an MSAQUADS table needs rows with columns {MSAQUADS_DTYPE.names}; it "
                               f"has {len(table)} row(s), missing {missing}")
    def col(name: str) -> np.ndarray:
        return np.asarray(table[names[name]])

    quadrants: dict[int, MsaQuadrant] = {}
    try:
        for i in range(len(table)):
            q = MsaQuadrant(
                quadrant=int(col("QUADRANT")[i]), n_rows=int(col("N_ROWS")[i]), n_columns=int(col("N_COLUMNS")[i]),
                row_ref=float(col("ROW_REF")[i]), disp_pitch=float(col("DISP_PITCH")[i]),
                disp_open=float(col("DISP_OPEN")[i]), cross_pitch=float(col("CROSS_PITCH")[i]),
                wavelength_coeffs=_trimmed(col("WAVELENGTH_COEFFS")[i]), trace_coeffs=_trimmed(col("TRACE_COEFFS")[i]),
                sigma_px=float(col("SIGMA_PX")[i]), d_range=(int(col("D_FIRST")[i]), int(col("D_LAST")[i]) + 1),
                dispaxis=int(col("DISPAXIS")[i]))
            if q.quadrant in quadrants:
                raise ValueError(f"quadrant {q.quadrant} is listed twice")
            quadrants[q.quadrant] = q
    except ValueError as exc:
        raise CorruptFileError(f"{source}: {exc}") from exc
    return MsaGeometry(quadrants)


# ---------------------------------------------------------------------------------------------- the metadata


@dataclass(frozen=True, slots=True, kw_only=True)
class MsaSource:
    """A SOURCE_INFO row."""

    source_id: int
    name: str
    alias: str
    ra: float
    dec: float
    stellarity: float
    preimage_id: str = "NONE"


@dataclass(frozen=True, slots=True, kw_only=True)
class MsaSlitlet:
    """The open shutters of one slitlet at one dither point: a run of columns in one row of one quadrant.

    ``source_id`` is 0 for an empty (background-only) slitlet; ``primary_column`` is the column of the shutter
    holding the primary source and ``source_x``/``source_y`` its position in that shutter (0…1)."""

    slitlet_id: int
    quadrant: int
    row: int
    columns: tuple[int, ...]
    source_id: int
    primary_column: int
    source_x: float = 0.5
    source_y: float = 0.5

    @property
    def has_source(self) -> bool:
        return self.source_id > 0

    @property
    def shutter_state(self) -> str:
        """jwst's SHUTSTA: one character per shutter along the slitlet, ``x`` the source's, ``1`` open."""
        return "".join("x" if self.has_source and c == self.primary_column else "1" for c in self.columns)


@dataclass(frozen=True, slots=True, kw_only=True)
class MsaConfiguration:
    """What an exposure's MSA metadata says: its slitlets (for its MSAMETID and dither point) and the sources."""

    msa_metadata_id: int
    dither_point: int
    slitlets: tuple[MsaSlitlet, ...]
    sources: dict[int, MsaSource]
    program: int = 0

    def source(self, slitlet: MsaSlitlet) -> MsaSource | None:
        """The slitlet's source (None for an empty slitlet)."""
        return self.sources.get(slitlet.source_id) if slitlet.has_source else None


def write_msa_metadata(path: str | os.PathLike[str],
                       config: MsaConfiguration | Sequence[MsaConfiguration]) -> Path:
    """Write an MSA metadata file (SHUTTER_INFO and SOURCE_INFO, jwst's columns), atomically.

    ``config`` may be the configurations of several dither points (one MSA configuration nodded: the same
    sources, each point's shutter rows under its ``dither_point_index``); SOURCE_INFO comes from the first."""
    configs = (config,) if isinstance(config, MsaConfiguration) else tuple(config)
    if not configs:
        raise ValueError("no MSA configuration to write")
    shutters = [row for c in configs for row in _shutter_rows(c)]
    config = configs[0]
    sources = np.zeros(len(config.sources), SOURCE_INFO_DTYPE)
    for i, src in enumerate(config.sources[k] for k in sorted(config.sources)):
        sources[i] = (config.program, src.source_id, src.name.encode(), src.alias.encode(), src.ra, src.dec,
                      src.preimage_id.encode(), src.stellarity)
    return write_fits(Path(path), primary={"TELESCOP": "JWST", "INSTRUME": "NIRSPEC", "ORIGIN": "STREAMCAL"},
                      extensions=[Extension("SHUTTER_INFO", np.concatenate(shutters)),
                                  Extension("SOURCE_INFO", sources)])


def _shutter_rows(config: MsaConfiguration) -> list[np.ndarray]:
    shutters = []
    for s in config.slitlets:
        for column in s.columns:
            row = np.zeros(1, SHUTTER_INFO_DTYPE)
            primary = s.has_source and column == s.primary_column
            row["slitlet_id"], row["msa_metadata_id"] = s.slitlet_id, config.msa_metadata_id
            row["shutter_quadrant"], row["shutter_row"], row["shutter_column"] = s.quadrant, s.row, column
            row["source_id"] = s.source_id
            row["background"] = b"N" if primary else b"Y"
            row["shutter_state"] = b"OPEN"
            row["estimated_source_in_shutter_x"] = s.source_x if primary else np.nan
            row["estimated_source_in_shutter_y"] = s.source_y if primary else np.nan
            row["dither_point_index"], row["primary_source"] = config.dither_point, b"Y" if primary else b"N"
            shutters.append(row)
    return shutters


#: MSA metadata file names (jwst's are ``jw<program><observation><visit>_<n>_msa.fits``): ``*_msa.fits``, so
#: MSAMETFL can name no product.
_MSA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,120}_msa\.fits")


def msa_metadata_path(header: Mapping[str, object], exposure: str | os.PathLike[str]) -> Path:
    """The MSA metadata file an exposure names (MSAMETFL), in the exposure's own folder.

    The keyword comes from a file, so it is not trusted: it must be a bare file name of jwst's MSA metadata form
    (``*_msa.fits``: it can name no product), and the file must be a regular file next to the exposure, not a
    symbolic link (which could bring in a file from anywhere).

    Raises
    ------
    MissingKeywordError
        No MSAMETFL. Not retriable.
    BadKeywordValueError
        MSAMETFL is a path rather than a file name. Not retriable.
    InvalidInputError
        The file is not next to the exposure. Not retriable (the exposure cannot be calibrated without it).
    """
    value = str(header.get("MSAMETFL", "") or "").strip()
    exposure_path = Path(exposure)
    if not value:
        raise MissingKeywordError("MSAMETFL", exposure_path.name, message=f"{exposure_path.name}: a MOS exposure "
                                  "needs MSAMETFL, the name of its MSA metadata file")
    if Path(value).name != value or value in (".", "..") or "/" in value or "\\" in value or "\x00" in value:
        raise BadKeywordValueError(f"{exposure_path.name}: MSAMETFL {value!r} must be a bare file name in the "
                                   "exposure's folder, not a path")
    if not _MSA_NAME.fullmatch(value):
        raise BadKeywordValueError(f"{exposure_path.name}: MSAMETFL {value[:80]!r} is not an MSA metadata file "
                                   "name (*_msa.fits)")
    path = exposure_path.parent / value
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        raise InvalidInputError(f"{exposure_path.name}: its MSA metadata file {value} (MSAMETFL) is missing from "
                                f"{exposure_path.parent}") from None
    if not stat.S_ISREG(mode):  # a link, a FIFO, a folder
        raise InvalidInputError(f"{exposure_path.name}: its MSA metadata file {value} (MSAMETFL) is not a regular "
                                f"file in {exposure_path.parent}")
    return path


def carry_msa_metadata(header: Mapping[str, object], exposure: str | os.PathLike[str],
                       out_dir: str | os.PathLike[str]) -> Path | None:
    """Copy the MSA metadata file an exposure names into ``out_dir`` (where its products go), atomically, so
    stage 2 finds it next to its input. None when the header names none or the file is not (validly) next to
    the exposure: stage 1 does not need it, and stage 2 reports that clearly.

    Raises
    ------
    OSError
        ``out_dir`` is not writable. Retriable if the storage comes back.
    """
    if not str(header.get("MSAMETFL", "") or "").strip():
        return None
    try:
        source = msa_metadata_path(header, exposure)
    except InvalidInputError:
        return None
    target = Path(out_dir) / source.name
    if target.exists() and target.resolve() == source.resolve():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    shutil.copyfile(source, partial)
    os.replace(partial, target)
    return target


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_msa_metadata(path: str | os.PathLike[str], *, msa_metadata_id: int, dither_point: int) -> MsaConfiguration:
    """The slitlets and sources of one exposure (its MSAMETID and PATT_NUM) in an MSA metadata file.

    Raises
    ------
    CorruptFileError
        A table or column missing, or a slitlet whose shutters disagree (two rows, quadrants or sources). Not
        retriable.
    InvalidInputError
        No open shutter for this MSAMETID and dither point. Not retriable.
    """
    p = Path(path)
    tables = read_extensions(p, ["SHUTTER_INFO", "SOURCE_INFO"])
    if "SHUTTER_INFO" not in tables or "SOURCE_INFO" not in tables:
        raise CorruptFileError(f"{p.name}: an MSA metadata file needs SHUTTER_INFO and SOURCE_INFO tables")
    shutters, sources = tables["SHUTTER_INFO"], tables["SOURCE_INFO"]
    for table, dtype, name in ((shutters, SHUTTER_INFO_DTYPE, "SHUTTER_INFO"),
                               (sources, SOURCE_INFO_DTYPE, "SOURCE_INFO")):
        missing = sorted(set(dtype.names or ()) - {n.lower() for n in table.dtype.names or ()})
        if missing:
            raise CorruptFileError(f"{p.name}: {name} has no column(s) {missing}")
    mine = shutters[(shutters["msa_metadata_id"] == msa_metadata_id)
                    & (shutters["dither_point_index"] == dither_point)
                    & np.char.startswith(np.char.upper(shutters["shutter_state"].astype("U6")), "OPEN")]
    if not len(mine):
        raise InvalidInputError(f"{p.name}: no open shutter for MSAMETID {msa_metadata_id} at dither point "
                                f"{dither_point}")
    slitlets = []
    for sid in sorted(set(int(v) for v in mine["slitlet_id"])):
        rows = mine[mine["slitlet_id"] == sid]
        if len({int(r) for r in rows["shutter_row"]}) != 1 or len({int(q) for q in rows["shutter_quadrant"]}) != 1:
            raise CorruptFileError(f"{p.name}: slitlet {sid} spans several shutter rows or quadrants")
        primary = rows[np.char.upper(rows["primary_source"].astype("U1")) == "Y"]
        if len(primary) > 1:
            raise CorruptFileError(f"{p.name}: slitlet {sid} has {len(primary)} primary shutters")
        columns = tuple(sorted(int(c) for c in rows["shutter_column"]))
        if len(primary):
            prim = primary[0]
            slitlets.append(MsaSlitlet(
                slitlet_id=sid, quadrant=int(prim["shutter_quadrant"]), row=int(prim["shutter_row"]), columns=columns,
                source_id=int(prim["source_id"]), primary_column=int(prim["shutter_column"]),
                source_x=float(prim["estimated_source_in_shutter_x"]),
                source_y=float(prim["estimated_source_in_shutter_y"])))
        else:
            slitlets.append(MsaSlitlet(slitlet_id=sid, quadrant=int(rows["shutter_quadrant"][0]),
                                       row=int(rows["shutter_row"][0]), columns=columns, source_id=0,
                                       primary_column=columns[len(columns) // 2]))
    catalogue = {int(r["source_id"]): MsaSource(
        source_id=int(r["source_id"]), name=_text(r["source_name"]), alias=_text(r["alias"]), ra=float(r["ra"]),
        dec=float(r["dec"]), stellarity=float(r["stellarity"]), preimage_id=_text(r["preimage_id"]))
        for r in sources}
    unknown = sorted({s.source_id for s in slitlets if s.has_source} - set(catalogue))
    if unknown:
        raise CorruptFileError(f"{p.name}: SHUTTER_INFO names source(s) {unknown} that SOURCE_INFO does not list")
    program = int(sources["program"][0]) if len(sources) else 0
    return MsaConfiguration(msa_metadata_id=msa_metadata_id, dither_point=dither_point, slitlets=tuple(slitlets),
                            sources=catalogue, program=program)
