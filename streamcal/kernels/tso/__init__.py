"""Time-series kernels (calwebb_tso3, issue 12): the transit light-curve model and its fit, the temporal outlier
test and per-integration aperture photometry. No I/O; inputs are never modified."""

from streamcal.kernels.tso.outlier import TemporalOutliers, flag_temporal_outliers
from streamcal.kernels.tso.photometry import TsoPhotometry, tso_aperture_photometry
from streamcal.kernels.tso.transit import TransitFit, fit_transit, occulted_area, transit_flux

__all__ = ["TemporalOutliers", "TransitFit", "TsoPhotometry", "fit_transit", "flag_temporal_outliers",
           "occulted_area", "transit_flux", "tso_aperture_photometry"]
