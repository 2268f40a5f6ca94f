# gategraph: one image for the API (gunicorn), the Celery worker and `gategraph db upgrade`.
# Build: docker build -t gategraph .   (or `docker compose build`; see docker-compose.yml)
# No secrets in here: DATABASE_URL and BROKER_URL come from the environment at run time.
FROM python:3.11-slim

# NUMBA_CACHE_DIR: numba caches compiled kernels beside the package, which is read-only here.
# GATEGRAPH_HOME: only the embedded default (`gategraph serve`) writes there; compose sets
# DATABASE_URL and BROKER_URL instead.
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NUMBA_CACHE_DIR=/tmp/numba \
    GATEGRAPH_HOME=/var/lib/gategraph

WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY service ./service
COPY worker ./worker
COPY migrations ./migrations

# EXTRA_PACKAGES: optional extras for a variant image, e.g. "flower" for the monitoring profile.
ARG EXTRA_PACKAGES=""
RUN pip install -c constraints.txt . ${EXTRA_PACKAGES} \
    && install -D -m 0644 constraints.txt /opt/gategraph/constraints.txt \
    && rm -rf /src

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/gategraph gategraph \
    && install -d -o gategraph -g gategraph /var/lib/gategraph
USER 10001:10001
WORKDIR /var/lib/gategraph

EXPOSE 8000
# The API by default; docker-compose.yml gives each service its own command
# (`gategraph worker`, `gategraph db upgrade`, `gategraph keys create TENANT`).
CMD ["gunicorn", "service.wsgi:app", "--worker-class", "gthread", "--workers", "2", "--threads", "4", \
     "--bind", "0.0.0.0:8000", "--timeout", "120", "--graceful-timeout", "30", \
     "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-"]
