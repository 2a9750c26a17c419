"""jwst's own exposure-time bookkeeping of resample, as an oracle: stcal's ``Resample.update_time`` and
``finalize_time_info`` run over the inputs' metadata, mapped onto the product's keywords as jwst's
``ResampleImage.update_output_model`` does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from jwst.datamodels.utils import attrs_to_group_id
from stcal.resample import Resample

__all__ = ["jwst_exposure_times", "model_times"]


def model_times(model: Any) -> dict[str, object]:
    """The dictionary entries jwst's ``input_jwst_model_to_dict`` gives stcal for an opened input model."""
    exposure = model.meta.exposure
    return {"group_id": attrs_to_group_id(model.meta.observation), "exposure_time": exposure.exposure_time,
            "start_time": exposure.start_time, "end_time": exposure.end_time, "duration": exposure.duration,
            "measurement_time": exposure.measurement_time}


def jwst_exposure_times(models: Sequence[Mapping[str, object]]) -> dict[str, object]:
    """``meta.exposure`` attribute → value that jwst gives the resampled product of ``models``
    (:func:`model_times` of each input, in order)."""
    clock = SimpleNamespace(output_model={}, _output_model={"measurement_time": None}, _group_ids=[],
                            _n_res_models=len(models))
    Resample.init_time_counters(clock)
    for model in models:
        if model["group_id"] not in clock._group_ids:
            Resample.update_time(clock, model)
            clock._group_ids.append(model["group_id"])
    Resample.finalize_time_info(clock)
    out = clock._output_model
    return {"exposure_time": out["exposure_time"], "effective_exposure_time": out["exposure_time"],
            "start_time": out["start_time"], "end_time": out["end_time"], "duration": out["duration"],
            "elapsed_exposure_time": out["elapsed_exposure_time"], "measurement_time": out["measurement_time"]}
