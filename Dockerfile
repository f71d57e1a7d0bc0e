# Sitewatch service image: `sitewatch serve` by default, `sitewatch simulate` for the simulator.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY devices ./devices
COPY ingest ./ingest
COPY rules ./rules
COPY api ./api
RUN pip install . && rm -rf /app/build
COPY deploy/healthcheck.py /usr/local/lib/sitewatch/healthcheck.py

# Run unprivileged; the durable buffer and embedded files live in the data volume.
RUN useradd --system --uid 10001 --home-dir /var/lib/sitewatch sitewatch \
    && mkdir -p /var/lib/sitewatch \
    && chown sitewatch /var/lib/sitewatch
USER sitewatch
WORKDIR /var/lib/sitewatch
ENV SITEWATCH_DATA_DIR=/var/lib/sitewatch

EXPOSE 8000
CMD ["sitewatch", "serve"]
