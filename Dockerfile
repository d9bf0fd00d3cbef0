# One image for the three crossalert services; the compose file picks the service with
# `command: ["serve", "<service>"]`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY services ./services
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --create-home crossalert \
    && install -d -o crossalert -m 0700 /data/keys

USER crossalert
WORKDIR /data
ENTRYPOINT ["crossalert"]
CMD ["--help"]
