"""streamcal as pip installs it (issue 14, "Done when": `pip install .` into a fresh venv, then `streamcal
simulate`, `run` and `calibrate` from another folder work).

1. In the source tree the shipped configuration is the repository's ``configs/``, reached through the
   ``streamcal/configs`` symlink (one copy in git), and ``package-data`` lists every file in it.
2. (slow) The wheel built from a copy of the source holds the configuration byte for byte and no build leftovers.
3. (slow) In a fresh venv holding only that wheel and its dependencies (from the package index, as a user gets
   them), run from a folder outside the repository: ``streamcal --version`` prints the wheel's version,
   streamcal is imported from the venv, and the configuration comes from the installed package;
   ``simulate --program imaging_dither`` writes raw files and references, ``calibrate`` writes stage-1
   products, ``run --until-idle`` takes the program through stage 3 (an i2d, no dead letters), and a
   ``STREAMCAL_CONFIG_DIR`` that does not exist is a one-line startup error.

Building takes ~3 s and installing ~20 s when pip's cache holds the dependencies (the first run downloads them:
the test needs the package index and fails, with pip's message, without it).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from streamcal.routing._config import default_config_dir

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: What a wheel is built from; everything else in the repository (tests, helm, .venv, build/) stays out.
SOURCES = ("pyproject.toml", "README.md", "configs", "streamcal", "services")


def _configs() -> list[Path]:
    return sorted(p.relative_to(ROOT / "configs") for p in (ROOT / "configs").rglob("*") if p.is_file())


def test_the_shipped_configuration_is_the_repositorys_configs_folder():
    link = ROOT / "streamcal" / "configs"
    assert link.is_symlink() and os.readlink(link) == "../configs"
    assert default_config_dir() == (ROOT / "configs").resolve()


def test_package_data_lists_every_configuration_file():
    """A new file type or subfolder in configs/ must be added to [tool.setuptools.package-data]."""
    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]
    for relative in _configs():
        package = ".".join(("streamcal", "configs", *relative.parent.parts))
        patterns = package_data.get(package, [])
        assert any(fnmatch.fnmatch(relative.name, p) for p in patterns), f"configs/{relative} is not shipped"


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def _clean_env() -> dict[str, str]:
    """The environment without anything that would point Python or streamcal at the source tree."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STREAMCAL_", "PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """streamcal's wheel, built (as `pip install .` does) from a copy of the sources, so no build/ or egg-info
    of the working tree leaks in or is left behind."""
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, src / name)
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", base / "dist", src,
         cwd=base, env=_clean_env())
    [built] = (base / "dist").glob("streamcal-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path) -> Path:
    """A fresh venv with the wheel and its dependencies, nothing from this one."""
    folder = wheel.parent.parent / "venv"
    _run(sys.executable, "-m", "venv", folder, cwd=wheel.parent, env=_clean_env())
    _run(folder / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, cwd=wheel.parent, env=_clean_env())
    return folder


@pytest.mark.slow
def test_the_wheel_holds_the_configuration_and_no_build_leftovers(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for relative in _configs():
            name = f"streamcal/configs/{relative.as_posix()}"
            assert name in names, f"{name} is not in the wheel"
            assert archive.read(name) == (ROOT / "configs" / relative).read_bytes()
    assert not any(n.startswith(("build/", "tests/", "configs/")) or "__pycache__" in n for n in names)
    assert wheel.name.startswith(f"streamcal-{PYPROJECT['project']['version']}-")


@pytest.mark.slow
def test_the_installed_command_line_works_from_another_folder(venv, tmp_path):
    bin_ = venv / "bin"
    env = _clean_env()
    work = tmp_path / "elsewhere"
    work.mkdir()

    # --version, and streamcal (configs included) is the installed one, not the source tree's
    version = _run(bin_ / "streamcal", "--version", cwd=work, env=env).stdout.strip()
    assert version == f"streamcal {PYPROJECT['project']['version']}"
    where = _run(bin_ / "python", "-c", "import streamcal, services; from streamcal.routing._config import "
                 "default_config_dir as d; print(streamcal.__file__, services.__file__, d(), sep='\\n')",
                 cwd=work, env=env).stdout.split()
    site = (venv / "lib").resolve()
    assert all(Path(p).resolve().is_relative_to(site) for p in where), where

    # simulate: raw exposures and their references
    _run(bin_ / "streamcal", "simulate", "--program", "imaging_dither", "--out", "ingest", "--refs", "refs",
         cwd=work, env=env)
    raws = sorted((work / "ingest").glob("*_uncal.fits"))
    assert len(raws) == 4 and any((work / "refs").glob("*.fits"))

    # calibrate one by hand (routing table and parameter files from the package data)
    _run(bin_ / "streamcal", "calibrate", raws[0].relative_to(work), "--refs", "refs", "--out", "cal",
         cwd=work, env=env)
    assert (work / "cal" / raws[0].name.replace("_uncal", "_rate")).is_file()

    # run: every service, through stage 3
    out = _run(bin_ / "streamcal", "run", "--ingest", "ingest", "--products", "products", "--refs", "refs",
               "--until-idle", "3", cwd=work, env=env).stdout
    products = work / "products"
    for raw in raws:
        assert (products / raw.name.replace("_uncal", "_cal")).is_file(), out
    assert len(list(products.glob("jw*-o*_i2d.fits"))) == 1, out
    assert not any(products.glob("deadletter/*")), out

    # the override still applies to the installed package
    bad = subprocess.run([str(bin_ / "streamcal"), "calibrate", str(raws[0]), "--refs", "refs", "--out", "cal"],
                         cwd=work, env={**env, "STREAMCAL_CONFIG_DIR": str(work / "no-such-folder")},
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no-such-folder" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
