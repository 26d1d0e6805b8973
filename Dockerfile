# The one image of paymesh's Python workloads: ledger_svc, identity_svc, gateway_svc, the
# provider sandbox and the one-shot jobs (dev PKI, Envoy config, first admin key).
# docker-compose.yml gives each its command; nothing here is specific to one service.
#
# A tag, not a digest: pin python:3.11-slim@sha256:... once a registry is reachable to
# resolve it (the venv, CI and this image all run CPython 3.11).
FROM python:3.11-slim

# PYTHONPATH: the code runs from /app as from the repo root (pyproject.toml: it is not an
# installed package), so `python -m ledger_svc` works from any working directory.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PIP_ROOT_USER_ACTION=ignore

# A fixed uid: the envoy container runs as the same uid (ENVOY_UID in docker-compose.yml)
# to read the 0600 keys this user writes into the shared pki volume. The directories are
# the named volumes' mount points: a new volume copies the ownership of the directory it
# is mounted over, so these make the volumes writable by paymesh.
RUN groupadd --system --gid 10001 paymesh \
    && useradd --system --uid 10001 --gid paymesh --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin paymesh \
    && mkdir -p /pki /etc/paymesh/envoy /var/lib/paymesh/identity /secrets \
    && chown paymesh:paymesh /pki /etc/paymesh/envoy /var/lib/paymesh/identity /secrets

WORKDIR /app

# Dependencies first, in a layer of their own: it is rebuilt only when the lock changes.
# Exactly as `make venv`: hash-checked, no resolution, so the image runs the packages CI
# tested. (The lock also holds the dev tools; a runtime-only lock would slim the image.)
COPY requirements.lock ./
RUN python -m pip install --quiet --require-hashes --no-deps -r requirements.lock

# Only what runs. Owned by root and not writable by paymesh: the code is read-only to
# the process that serves it.
COPY svc_kit ./svc_kit
COPY ledger_svc ./ledger_svc
COPY identity_svc ./identity_svc
COPY gateway_svc ./gateway_svc
COPY sandbox ./sandbox
COPY paymesh ./paymesh
COPY proto ./proto
COPY proto_vendor ./proto_vendor
COPY scripts ./scripts
COPY docker/healthcheck.py ./docker/healthcheck.py

USER paymesh:paymesh

# ledger 50061, identity 50062 (+ its ext_authz Check on 50063), gateway 50064,
# the provider sandbox 8444 (HTTPS).
EXPOSE 50061 50062 50063 50064 8444
