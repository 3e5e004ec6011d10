# syntax=docker/dockerfile:1
# The DataProcessor in one container: Postfix (port $HVIEW_SMTP_PORT, default 25) piping to
# the mailhandler, and `dataprocessor serve` (REST API on 25025, workers, reaper), both as
# the service user `hview`. dpctl is on the PATH for `docker exec -it hview.data dpctl …`
# (run as root, it drops to `hview`, so nothing it creates blocks the service).
#
# scripts/image.sh builds this file with docker, or with podman where no registry is
# reachable (it then makes the Debian base with debootstrap and gives the `build` stage's
# binaries, built on the host against the same glibc, as a build context).

FROM rust:1.95-bookworm AS build
# The commit being built (the build context has no .git): `--version`, health and
# /metrics show it. scripts/image.sh passes it.
ARG REVISION=unknown
ENV DP_GIT_COMMIT=$REVISION
WORKDIR /src
COPY . .
# Cargo's registry and target directory persist between builds (BuildKit cache mounts): a
# one-line change rebuilds the crates it touches, not the dependencies.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
 && mkdir -p /out \
 && cp target/release/dataprocessor target/release/mailhandler target/release/dpctl /out/

FROM debian:bookworm-slim
# What `docker inspect` tells an operator (scripts/image.sh sets them from Cargo.toml and git).
ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="HView DataProcessor" \
      org.opencontainers.image.version=$VERSION \
      org.opencontainers.image.revision=$REVISION \
      org.opencontainers.image.created=$CREATED
RUN apt-get update \
 && echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      postfix ca-certificates tini util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --shell /usr/sbin/nologin hview
COPY mailhandler/postfix /etc/hview/postfix
COPY docker/entrypoint.sh /usr/local/bin/entrypoint.sh
# The default configuration; mount your own over it (compose does): no rebuild needed.
COPY config.json /etc/hview/config.json
COPY --from=build /out/ /usr/local/bin/
ENV DATAPROCESSOR_CONFIG=/etc/hview/config.json \
    DP__PATHS__SERVICE_USER=hview \
    HVIEW_SMTP_PORT=25
VOLUME ["/home/mailbox", "/var/log/hview"]
EXPOSE 25 25025
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["dpctl", "health"]
# No command: Postfix and serve. A command (`docker run … tar -czf …`, `… dpctl --version`)
# runs instead, under tini, and the container exits with its status.
ENTRYPOINT ["tini", "--", "/usr/local/bin/entrypoint.sh"]
