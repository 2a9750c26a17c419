"""A parameter file that names a step or a parameter its pipeline does not have stops a service at startup —
`streamcal serve worker` exits with one line naming the file, the step and the key — instead of dead-lettering
every exposure (issue 9). Run through the real command, in a subprocess, against a copy of the shipped
configuration folder with one typo (STREAMCAL_CONFIG_DIR, or --config)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streamcal.routing._config import default_config_dir


def _configs_with(tmp_path: Path, old: str, new: str) -> Path:
    folder = tmp_path / "configs"
    shutil.copytree(default_config_dir(), folder)
    pars = folder / "pars" / "pars-detector1pipeline.yaml"
    text = pars.read_text()
    assert old in text
    pars.write_text(text.replace(old, new, 1))
    return folder


def _serve_worker(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "services.cli", "serve", "worker", "--pipeline", "calwebb_detector1",
               "--ingest", str(tmp_path / "ingest"), "--products", str(tmp_path / "products"),
               "--refs", str(tmp_path / "refs"), *extra]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STREAMCAL_")} | (env or {})
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=environment, check=False)


@pytest.mark.parametrize(("old", "new", "named"), [
    ("rejection_threshold: 4.0", "rejection_treshold: 4.0",
     "pars-detector1pipeline.yaml: step jump has no parameter 'rejection_treshold'"),
    ("{name: dark_current, skip: false}", "{name: dark_curent, skip: false}",
     "pars-detector1pipeline.yaml: calwebb_detector1 has no step 'dark_curent'"),
])
def test_a_misspelled_step_or_parameter_stops_serve_worker_at_startup(tmp_path, old, new, named):
    result = _serve_worker(tmp_path, env={"STREAMCAL_CONFIG_DIR": str(_configs_with(tmp_path, old, new))})
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("streamcal serve: error: ") and named in line


def test_the_config_option_points_at_the_same_folder(tmp_path):
    folder = _configs_with(tmp_path, "n_pix_grow_sat: 1", "n_pix_grow: 1")
    result = _serve_worker(tmp_path, "--config", str(folder))
    assert result.returncode == 2 and "step saturation has no parameter 'n_pix_grow'" in result.stderr
