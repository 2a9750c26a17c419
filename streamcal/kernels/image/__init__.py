"""Image kernels (stages 2 and 3): calibrated images and their WCS in, a named result out.

The distortion-free TAN WCS of ``jwst_spec.md`` §5.1 (:mod:`.wcs`), drizzle resampling and blotting
(:mod:`.resample`, STScI's ``drizzle``), outlier detection, sky matching, relative alignment (:mod:`.tweakreg`),
the source catalog (``photutils``), the WFS&C pair combination, and the image-2 calibrations
(:mod:`.calibrate`). No I/O; inputs are never modified.
"""

__all__: list[str] = []
