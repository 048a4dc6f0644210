# mergebot: slim, non-root, data on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MERGEBOT_DATA_DIR=/data

RUN useradd --create-home --uid 10001 mergebot \
    && mkdir -p /data && chown mergebot:mergebot /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY compose ./compose
COPY adapters ./adapters
RUN pip install ".[servers]" && rm -rf /root/.cache

USER mergebot
VOLUME ["/data"]
# Slack HTTP mode listens here (SLACK_PORT); Socket Mode and Discord need no inbound port.
EXPOSE 3000
# SIGTERM (what `docker stop` and Kubernetes send) stops taking merges and lets running ones
# finish within MERGEBOT_SHUTDOWN_GRACE (25 s); give the container longer than that before the
# SIGKILL: `docker stop -t 30`, `stop_grace_period: 30s` (Compose), `terminationGracePeriodSeconds: 30`.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 CMD ["mergebot", "health"]
ENTRYPOINT ["mergebot"]
CMD ["run"]
