# agentledger image: the API, the scheduler and the dashboard run from it (see docker-compose.yml).
# Dependencies come from the lock file (uv sync --frozen), as `make install` does on a workstation, without the
# chdb extra: the image talks to a ClickHouse server.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    PATH="/app/.venv/bin:$PATH"

RUN pip install --no-cache-dir uv

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

COPY agentledger ./agentledger
COPY core ./core
COPY ingest ./ingest
COPY warehouse ./warehouse
COPY analytics ./analytics
COPY alerts ./alerts
COPY app ./app
COPY ui ./ui
COPY sql ./sql
RUN uv sync --frozen --no-dev

# No key is baked into the image: every secret comes from the environment (.env, see .env.example).
RUN useradd --create-home --uid 10001 agentledger
USER agentledger

EXPOSE 4318 8501
CMD ["agentledger", "--help"]
