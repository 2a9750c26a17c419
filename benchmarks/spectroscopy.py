"""calwebb_spec2 on every single-trace mode: accuracy of the x1d against the injected spectrum, and time.

Runs the cases of tests/streamcal/pipelines/test_spectral_chain.py (raw ramps → calwebb_detector1 →
calwebb_spec2 → x1d) and prints per EXP_TYPE what the tests assert on:

    .venv/bin/python -m benchmarks.spectroscopy

Columns: the share of the band at S/N > 50 with a complete aperture, median flux / truth there, the pull width
(statistical errors), the worst emission-line centre offset in resolution elements (2 px), the points of the
spectrum and seconds for simulation + detector1 + spec2. There is no jwst baseline offline (its spec2 steps
need CRDS references), so the figures are absolute.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.streamcal.pipelines.test_spectral_chain import CASES, run_case, score


def main() -> None:
    print(f"{'EXP_TYPE':18s} {'S/N>50':>7s} {'flux/true':>9s} {'pull std':>8s} {'line off':>8s} {'points':>6s} "
          f"{'seconds':>7s}")
    with tempfile.TemporaryDirectory() as tmp:
        for exp_type, (ngroups, brightness) in CASES.items():
            started = time.perf_counter()
            case = run_case(Path(tmp) / exp_type.lower(), exp_type, ngroups, brightness)
            seconds = time.perf_counter() - started
            f = score(case)
            print(f"{exp_type:18s} {f['snr50']:7.1%} {f['flux_ratio']:9.4f} {f['pull_std']:8.3f} "
                  f"{f['line_offset_resel']:8.3f} {int(f['points']):6d} {seconds:7.1f}")


if __name__ == "__main__":
    main()
