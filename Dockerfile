# One image per service, built from the repository root:
#   docker build --build-arg SERVICE=claims-api -t krafa/claims-api .
FROM python:3.11-slim AS base
ARG SERVICE
# EXTRA adds more local packages, e.g. ./tools/krafa for the provider sink image.
ARG EXTRA=""
ENV PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY constraints.txt requirements.in ./
COPY libs ./libs
COPY services ./services
COPY tools ./tools
RUN pip install --no-cache-dir -c constraints.txt ./libs/events ./libs/law ./libs/kit ./libs/iobws "./services/${SERVICE}" ${EXTRA} \
    && useradd --system --uid 10001 krafa
USER krafa
ENV KRAFA_HTTP_HOST=0.0.0.0 SERVICE=${SERVICE}
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
    CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"KRAFA_HTTP_PORT\",\"8000\")}/healthz')"
CMD ["sh", "-c", "exec python -m krafa_$(echo $SERVICE | tr - _)"]
