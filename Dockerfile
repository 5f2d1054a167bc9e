# The worker (and the escalator CLI: watchdog, codec server, temporal setup, db upgrade) as a
# container image for docker-compose.yml. Installed without the `local` extra: the Temporal dev
# server and test server binaries stay out of the image.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY connection ./connection
COPY intake ./intake
COPY sla ./sla
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY starter ./starter
COPY policies ./policies
COPY store ./store
COPY migrations ./migrations
RUN pip install --no-cache-dir . && ! command -v temporal
USER nobody
CMD ["python", "-m", "worker"]
