# syntax=docker/dockerfile:1
# One image for every service: each Kubernetes Deployment runs `streamcal serve <service>` (helm/streamcal).
#
#   docker build -t streamcal .
#   docker run --rm -v $PWD/data:/data streamcal run --ingest /data/ingest --products /data/products --refs /data/refs
#
# Two stages (issue 14): `build` turns the source into wheels (streamcal's and its dependencies'); `runtime`
# installs them and holds no source tree. The routing and pipeline configs are package data in streamcal's wheel
# (streamcal/configs); STREAMCAL_CONFIG_DIR replaces them (the chart mounts a ConfigMap there).
# tests/test_dockerfile.py checks these rules, since CI has no docker.

FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Dependencies first, so code changes do not download them again: a stub package with the real pyproject.toml.
COPY pyproject.toml README.md ./
RUN mkdir -p streamcal services \
    && touch streamcal/__init__.py services/__init__.py \
    && pip wheel --wheel-dir /wheels . \
    && rm /wheels/streamcal-*.whl
# configs/ before streamcal/: streamcal/configs is a symlink to ../configs, followed when the wheel is built.
COPY configs ./configs
COPY streamcal ./streamcal
COPY services ./services
RUN pip wheel --no-deps --wheel-dir /wheels .


FROM python:3.11-slim AS runtime

# The root filesystem is read-only in the chart (readOnlyRootFilesystem): HOME, TMPDIR and the matplotlib and
# astropy caches live under /tmp, an emptyDir there.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/.cache \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1

# The wheels are bind-mounted from the build stage, so none of them stays in a layer of the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels streamcal \
    && groupadd --gid 10001 streamcal \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin streamcal \
    && mkdir -p /data && chown 10001:10001 /data

WORKDIR /data
# Numeric, so Kubernetes can check runAsNonRoot; the same UID/GID as the chart's securityContext (values.yaml).
USER 10001:10001
EXPOSE 9100
# Exec form: streamcal is PID 1 and receives SIGTERM itself (it drains, then exits 0).
ENTRYPOINT ["streamcal"]
CMD ["serve", "router"]
