# One image for every service: each Kubernetes Deployment runs `streamcal serve <service>` (helm/streamcal).
#
#   docker build -t streamcal .
#   docker run --rm -v $PWD/data:/data streamcal run --ingest /data/ingest --products /data/products --refs /data/refs
#
# The project is installed editable from /app: the routing and pipeline configs are read from /app/configs
# (streamcal.routing finds configs/ next to the package).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1

WORKDIR /app
# Dependencies first, so code changes do not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p streamcal services \
    && touch streamcal/__init__.py services/__init__.py \
    && pip install . \
    && pip uninstall -y streamcal
COPY streamcal ./streamcal
COPY services ./services
COPY configs ./configs
RUN pip install --no-deps -e . \
    && useradd --uid 10001 --create-home --shell /usr/sbin/nologin streamcal \
    && mkdir -p /data && chown streamcal /data

USER 10001
EXPOSE 9100
# Exec form: streamcal is PID 1 and receives SIGTERM itself (it drains, then exits 0).
ENTRYPOINT ["streamcal"]
CMD ["serve", "router"]
