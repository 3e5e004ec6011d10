# The DataProcessor in one container: Postfix (port 25) piping to the mailhandler, and
# `dataprocessor serve` (REST API on 25025, workers, reaper). dpctl is on the PATH for
# `docker exec -it hview.data dpctl …`.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins

FROM debian:bookworm-slim
RUN apt-get update \
 && echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      postfix ca-certificates tini util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --shell /usr/sbin/nologin hview
COPY --from=build /src/target/release/dataprocessor /src/target/release/mailhandler /src/target/release/dpctl /usr/local/bin/
COPY config.json /etc/hview/config.json
COPY mailhandler/postfix /etc/hview/postfix
COPY docker/entrypoint.sh /usr/local/bin/entrypoint.sh
# Postfix is configured at start by entrypoint.sh with mailhandler/postfix/install.sh, the
# same script the end-to-end test runs.
ENV DATAPROCESSOR_CONFIG=/etc/hview/config.json
VOLUME ["/home/mailbox", "/var/log/hview"]
EXPOSE 25 25025
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["dpctl", "health"]
ENTRYPOINT ["tini", "--", "/usr/local/bin/entrypoint.sh"]
