# sockgate container image: a release build on Debian, run on a slim
# Debian base as an unprivileged user.
#
#   docker build -t sockgate .
#   docker run --rm -p 3000:3000 --ulimit nofile=1048576:1048576 sockgate
#
# Mount your own config at /etc/sockgate/gateway.toml; pass secrets as
# SOCKGATE_API_KEYS, SOCKGATE_JWT_HS256_SECRET, SOCKGATE_WEBHOOK_SECRET,
# SOCKGATE_REDIS_URL (docs/configuration.md).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sockgate

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/sockgate /usr/local/bin/sockgate
# The production example: no demo page, JSON logs, the proxy trusted.
COPY examples/production/gateway.toml /etc/sockgate/gateway.toml
USER 65534:65534
EXPOSE 3000
# Graceful shutdown on SIGTERM (give `docker stop -t` more than server.shutdown_timeout).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sockgate", "--config", "/etc/sockgate/gateway.toml"]
# In a container the proxy is another host: listen on every address.
CMD ["--listen", "0.0.0.0:3000"]
