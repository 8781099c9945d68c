# The support-agent app image: stateless; state lives in PostgreSQL (and Redis for locks).
# The base image is pinned to an exact Python release on an exact Debian release, so a rebuild
# gets the same interpreter (bump it on purpose, with the tests).
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The dependencies first, in their own layer: it is rebuilt when pyproject.toml changes, not on
# every change to the code. streamlit[auth] brings Authlib, which OIDC sign-in (st.login) needs.
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; project = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(project['dependencies']))" > requirements.txt \
    && pip install -r requirements.txt "streamlit[auth]"

# Then the code, installed without touching the dependencies again.
COPY README.md ./
COPY agent ./agent
COPY ui ./ui
COPY exercises ./exercises
RUN pip install --no-deps .

# Run as a user of its own, not root. /app is its working folder: .streamlit/ (secrets.toml
# with the [auth] section is mounted there) and data/ for a single-container SQLite trial.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin support \
    && mkdir -p /app/data \
    && chown support:support /app/data
WORKDIR /app
USER support

EXPOSE 8501
HEALTHCHECK --interval=15s --timeout=5s --start-period=40s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
# Exec form, and `support-agent ui` execs Streamlit in its own place: `docker stop`'s SIGTERM
# reaches Streamlit itself, which shuts down cleanly.
CMD ["support-agent", "ui", "--port", "8501"]
