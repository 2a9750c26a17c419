"""calwebb_coron3 from raw ramps: a companion recovered by reference-star KLIP, per number of KL modes.

Runs the chain of tests/streamcal/pipelines/test_coron3_chain.py (an NRC_CORON science exposure with a companion
and an IS_PSF=T reference, raw ramps → calwebb_detector1 → calwebb_image2 → calwebb_coron3) and prints, per
separation (λ/D), contrast and KLIP ``truncate`` (K), what the test asserts on (the test's small SUB64P
subarray), then the test's case at full frame (SUB320A210R, 10 groups):

    .venv/bin/python -m benchmarks.coron3

Columns: K (modes used: the reference has 4 integrations), S/N (aperture of 0.8 FWHM, Mawet apertures on the
annulus), position error (px) and flux / truth of the forward-model fit (the model PSF through the run's own KLIP:
the throughput correction), KLIP's throughput in the aperture from that model and from a fake injected into the
``_calints`` at the fitted position with coron3 run again, and seconds for the coron3 run. There is no jwst
baseline offline (its coron3 needs CRDS PSFMASK references), so the figures are absolute.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.streamcal.pipelines.test_coron3_chain import CONTRAST, run_coron3, score, simulate_pair

CASES = ((3.0, 1e-4), (4.0, 1e-4), (6.0, 3e-5))
TRUNCATES = (1, 2, 3, 4)


def main() -> None:
    print(f"{'sep λ/D':>8} {'contrast':>9} {'K':>3} {'S/N':>7} {'Δpos px':>8} {'flux/true':>9} "
          f"{'thru model':>10} {'thru fake':>9} {'coron3 s':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (separation, contrast) in enumerate(CASES):
            chain = simulate_pair(Path(tmp) / f"case{i}", separation=separation, contrast=contrast)
            for k in TRUNCATES:
                started = time.perf_counter()
                run_coron3(chain.asn_path, chain.refs, Path(tmp) / f"time{i}{k}", truncate=k)
                seconds = time.perf_counter() - started
                s = score(chain, truncate=k, fakes_folder=Path(tmp) / f"fakes{i}{k}")
                print(f"{separation:8.1f} {contrast:9.0e} {s.n_modes:3d} {s.measurement.snr:7.1f} "
                      f"{s.position_error:8.3f} {s.flux_ratio:9.3f} {s.throughput:10.3f} "
                      f"{s.injected_throughput:9.3f} {seconds:8.2f}")
        # full frame (SUB320A210R, 10 groups): the pipeline's time at the size it meets in operations
        chain = simulate_pair(Path(tmp) / "full", size="full")
        started = time.perf_counter()
        run_coron3(chain.asn_path, chain.refs, Path(tmp) / "time_full")
        seconds = time.perf_counter() - started
        s = score(chain, fakes_folder=Path(tmp) / "fakes_full")
        print(f"{'full':>8} {CONTRAST:9.0e} {s.n_modes:3d} {s.measurement.snr:7.1f} {s.position_error:8.3f} "
              f"{s.flux_ratio:9.3f} {s.throughput:10.3f} {s.injected_throughput:9.3f} {seconds:8.2f}"
              f"   (3 λ/D, SUB320A210R)")


if __name__ == "__main__":
    main()
