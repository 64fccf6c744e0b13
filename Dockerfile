# The SMA images; the compose file picks the command (worker queue, bot, dashboard).
#   docker build -t sma:latest .              target `cpu` (the default): every process but the GPU pool
#   docker build --target gpu -t sma:gpu .    target `gpu`: the sma-gpu worker, with the `gpu` extra
FROM python:3.11-slim AS base

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 SMA_DATA_DIR=/data \
    PUPPETEER_SKIP_DOWNLOAD=1 PUPPETEER_EXECUTABLE_PATH=/usr/bin/chromium
WORKDIR /app

# Mermaid diagrams: mermaid-cli (mmdc) on Node, driving Debian's chromium; a browser is never downloaded.
# Fonts: chromium only depends on fontconfig, and labels need a face to be drawn. Languages: espeak-ng is the
# voice floor for a project language no Piper voice speaks; Noto covers caption scripts DejaVu lacks (CJK, ...).
COPY scripts/install_mermaid.sh /tmp/install_mermaid.sh
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      chromium fonts-dejavu-core fonts-liberation nodejs npm espeak-ng fonts-noto-core fonts-noto-cjk \
 && /tmp/install_mermaid.sh /opt/mermaid \
 && ln -s /opt/mermaid/node_modules/.bin/mmdc /usr/local/bin/mmdc \
 && npm cache clean --force \
 && rm -rf /var/lib/apt/lists/* /tmp/install_mermaid.sh \
 && useradd --create-home --uid 1000 sma && mkdir -p /data && chown sma /data

COPY pyproject.toml README.md ./
COPY sma ./sma
COPY assets ./assets
COPY config ./config
COPY prompts ./prompts


# The sma-gpu worker: XTTS, MusicGen and Whisper on CUDA. torch from PyPI brings the CUDA runtime as
# nvidia-* wheels, so no CUDA base image is needed (the host needs the NVIDIA driver and container
# toolkit); CTranslate2 (faster-whisper) loads cuBLAS and cuDNN from the wheels of the `gpu` extra.
FROM base AS gpu
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    LD_LIBRARY_PATH=/usr/local/lib/python3.11/site-packages/nvidia/cublas/lib:/usr/local/lib/python3.11/site-packages/nvidia/cudnn/lib
RUN pip install -e '.[gpu]'
USER sma
VOLUME ["/data"]
ENTRYPOINT ["sma"]
CMD ["worker", "--queue", "sma-gpu"]


# Everything else (sma-workflows, sma-cpu, bot, dashboard, migrate). Last, so a plain build makes it.
FROM base AS cpu
RUN pip install -e .
USER sma
VOLUME ["/data"]
ENTRYPOINT ["sma"]
CMD ["--help"]
