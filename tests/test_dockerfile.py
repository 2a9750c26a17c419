"""The image is built from the wheel and runs as the chart's non-root user (issue 14), checked on the Dockerfile's
text because CI has no docker:

1. the last stage is the runtime: it installs streamcal's wheel from the build stage, which built it;
2. no source enters the runtime stage (no COPY or ADD from the build context);
3. it runs as a numeric non-root USER equal to the chart's securityContext runAsUser/runAsGroup;
4. HOME and TMPDIR are under /tmp (the chart's emptyDir: the root filesystem is read-only);
5. the entry point is `streamcal` in exec form (PID 1 gets SIGTERM).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


class Instruction(NamedTuple):
    keyword: str
    args: str


class Stage(NamedTuple):
    name: str
    instructions: list[Instruction]

    def of(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


def _stages(text: str) -> list[Stage]:
    """The Dockerfile's stages: line continuations joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    stages: list[Stage] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            name = args.split(" AS ")[-1].strip() if " AS " in args.upper() else str(len(stages))
            stages.append(Stage(name.lower(), []))
        else:
            stages[-1].instructions.append(Instruction(keyword, " ".join(args.split())))
    return stages


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return _stages((ROOT / "Dockerfile").read_text())


@pytest.fixture(scope="module")
def security_context() -> dict[str, object]:
    return yaml.safe_load((ROOT / "helm" / "streamcal" / "values.yaml").read_text())["securityContext"]


def test_the_runtime_stage_installs_the_wheel_the_build_stage_built(stages):
    *builders, runtime = stages
    assert builders, "a multi-stage build: the wheel is built in a stage of its own"
    build = {s.name: s for s in builders}
    wheel_builds = [r for s in builders for r in s.of("RUN") if "pip wheel" in r and "--no-deps" in r]
    assert wheel_builds, "a build stage runs `pip wheel --no-deps` on the source"
    installs = [r for r in runtime.of("RUN") if "pip install" in r]
    assert installs and all("-e " not in r and "--editable" not in r for r in installs)
    [install] = installs
    mounted = re.search(r"--mount=type=bind,from=(\w+),source=(\S+),target=(\S+)", install)
    copied = [c for c in runtime.of("COPY") if c.startswith("--from=")]
    assert mounted or copied, "the wheels come from the build stage"
    if mounted:
        assert mounted.group(1) in build
    assert "--no-index" in install and "streamcal" in shlex.split(install.split("pip install", 1)[1])


def test_no_source_enters_the_runtime_stage(stages):
    runtime = stages[-1]
    assert not runtime.of("ADD")
    from_context = [c for c in runtime.of("COPY") if not c.startswith("--from=")]
    assert not from_context, f"the runtime stage copies from the build context: {from_context}"
    assert not any(w.startswith("/app") or w.startswith("/src") for w in runtime.of("WORKDIR"))


def test_it_runs_as_the_charts_non_root_user(stages, security_context):
    [user] = stages[-1].of("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric, so Kubernetes can verify runAsNonRoot"
    assert int(uid) == security_context["runAsUser"]
    assert gid and int(gid) == security_context["runAsGroup"]
    assert security_context["readOnlyRootFilesystem"] is True


def test_caches_and_temporary_files_live_under_tmp(stages):
    env = " ".join(stages[-1].of("ENV"))
    settings = dict(re.findall(r"(\w+)=(\S+)", env))
    for name in ("HOME", "TMPDIR", "MPLCONFIGDIR"):
        assert settings.get(name, "").startswith("/tmp"), name


def test_the_entry_point_is_streamcal_in_exec_form(stages):
    [entrypoint] = stages[-1].of("ENTRYPOINT")
    assert json.loads(entrypoint) == ["streamcal"]
