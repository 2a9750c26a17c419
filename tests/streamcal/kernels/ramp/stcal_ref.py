"""Calls into stcal 1.20.0 with the exact dtypes it needs (see stcal_baseline.md "Exact API" and gotchas)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from streamcal.dq import Pixel

__all__ = ["DQFLAGS", "stcal_jump", "stcal_ramp_fit"]

DQFLAGS = {name: int(flag.value) for name, flag in Pixel.__members__.items()}


def stcal_jump(
    data: npt.NDArray[Any], groupdq: npt.NDArray[Any], gain: npt.NDArray[Any], readnoise: npt.NDArray[Any],
    *, nframes: int = 1,
) -> tuple[npt.NDArray[np.uint8], int]:
    """stcal ``detect_jumps_data`` with JWST defaults; returns a new GROUPDQ and stcal's primary-CR count."""
    from stcal.jump.jump import detect_jumps_data
    from stcal.jump.jump_class import JumpData

    jd = JumpData(gain2d=np.array(gain, np.float32), rnoise2d=np.array(readnoise, np.float32), dqflags=DQFLAGS)
    jd.init_arrays_from_arrays(np.array(data, np.float32), np.array(groupdq, np.uint8),
                               np.zeros(data.shape[2:], np.uint32))
    jd.nframes = nframes
    jd.dt_group = np.ones(1)
    jd.n_reads_groupdiff = np.ones(1) * 2 * nframes
    jd.set_detection_settings(4.0, 6.0, 5.0, 1000.0, 10.0, True)
    jd.set_after_jump(0.0, 0, 0.0, 0)
    jd.max_cores = "none"
    gdq, _pdq, n_primary, _n_extended = detect_jumps_data(jd)
    return gdq, int(n_primary)


def stcal_ramp_fit(
    data: npt.NDArray[Any], groupdq: npt.NDArray[Any], pixeldq: npt.NDArray[Any], gain: npt.NDArray[Any],
    readnoise: npt.NDArray[Any], *, frame_time: float, group_time: float, nframes: int = 1, groupgap: int = 0,
    suppress_one_group: bool = False,
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, npt.NDArray[Any]]]:
    """stcal OLS_C with optimal weighting; returns (image_info, integ_info) dicts."""
    from stcal.ramp_fitting.ramp_fit import ramp_fit_data
    from stcal.ramp_fitting.ramp_fit_class import RampData

    rd = RampData()
    rd.set_arrays(np.array(data, np.float32), np.array(groupdq, np.uint8), np.array(pixeldq, np.uint32),
                  np.zeros(data.shape[2:], np.float32), orig_gdq=None, zeroframe=None)
    rd.set_meta(name="NIRCAM", frame_time=frame_time, group_time=group_time, groupgap=groupgap, nframes=nframes,
                drop_frames1=None)
    rd.algorithm = "OLS_C"
    rd.set_dqflags(DQFLAGS)
    rd.start_row, rd.num_rows = 0, data.shape[2]
    rd.suppress_one_group_ramps = suppress_one_group and data.shape[1] > 1
    image, integ, _opt = ramp_fit_data(rd, False, np.array(readnoise, np.float32).copy(),
                                       np.array(gain, np.float32), "OLS_C", "optimal", "none")
    return image, integ
