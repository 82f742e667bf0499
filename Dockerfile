# syntax=docker/dockerfile:1
# Same install steps as the README (`pip install .` into a virtualenv), in two stages.
FROM python:3.11-slim AS build
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY index ./index
COPY bot ./bot
RUN pip install --no-cache-dir --upgrade pip && pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 briefbot \
    && mkdir -p /data && chown briefbot:briefbot /data
COPY --from=build /opt/venv /opt/venv
COPY examples /app/examples
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BRIEFBOT_DATABASE_URL=sqlite+aiosqlite:////data/briefbot.db
WORKDIR /data
VOLUME ["/data"]
USER briefbot
# The Discord bot (`briefbot run`, token from BRIEFBOT_DISCORD_TOKEN).
CMD ["briefbot", "run"]
