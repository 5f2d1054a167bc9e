# The worker (and the escalator CLI) as a container image for docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY connection ./connection
COPY sla ./sla
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY starter ./starter
COPY policies ./policies
COPY store ./store
COPY migrations ./migrations
RUN pip install --no-cache-dir .
USER nobody
CMD ["python", "-m", "worker"]
