# The support-agent app image: stateless; state lives in PostgreSQL (and Redis for locks).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY agent ./agent
COPY ui ./ui
COPY exercises ./exercises
RUN pip install --no-cache-dir .
EXPOSE 8501
CMD ["support-agent", "ui", "--port", "8501"]
