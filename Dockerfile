# wandb_spreadsheet_sync as a detached container:
#   docker run -d --name wss -v $PWD/config.json:/app/config.json:ro -v $PWD/service_account.json:/secrets/sa.json:ro \
#     -e GCP_JSON=/secrets/sa.json -e WANDB_API_KEY -e WEBHOOK_SECRET -p 8080:8080 IMAGE --user_name alice --schedule_time 30
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WANDB_DIR=/tmp/wandb \
    WANDB_CONFIG_DIR=/tmp/wandb \
    WANDB_CACHE_DIR=/tmp/wandb \
    WSS_HEALTH_FILE=/tmp/wandb_spreadsheet_sync.health \
    LISTEN=0.0.0.0:8080 \
    PATH=/opt/venv/bin:$PATH

# Dependencies first, in their own layer: code changes do not reinstall them.
COPY requirements.txt /app/requirements.txt
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install -r /app/requirements.txt

COPY wandb_spreadsheet_sync.py /app/
COPY wandb_sheet_sync /app/wandb_sheet_sync
COPY config.json /app/config.json

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin wss \
    && mkdir -p /tmp/wandb && chown wss /tmp/wandb
USER wss
WORKDIR /app

# The service listens on LISTEN: POST /webhook (with WEBHOOK_SECRET), GET /healthz, /readyz, /metrics.
EXPOSE 8080
# --healthcheck asks GET /healthz on LISTEN's port (the loop is alive and no sync is stuck); with LISTEN unset it
# reads the loop's health file instead. Readiness (/readyz) is for an orchestrator's traffic, not for restarts.
HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=2 \
    CMD ["python3", "/app/wandb_spreadsheet_sync.py", "--healthcheck"]

# Python is PID 1 and handles SIGTERM itself: `docker stop` ends it cleanly (exit 0) within 10 s.
ENTRYPOINT ["python3", "/app/wandb_spreadsheet_sync.py"]
CMD ["--schedule_time", "30"]
