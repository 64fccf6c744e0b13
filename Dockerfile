# One image for every SMA process; the compose file picks the command (worker queue, bot, dashboard).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 SMA_DATA_DIR=/data
WORKDIR /app

COPY pyproject.toml README.md ./
COPY sma ./sma
COPY assets ./assets
COPY config ./config
COPY prompts ./prompts
RUN pip install -e . && useradd --create-home --uid 1000 sma && mkdir -p /data && chown sma /data
USER sma
VOLUME ["/data"]

ENTRYPOINT ["sma"]
CMD ["--help"]
