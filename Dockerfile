# syntax=docker/dockerfile:1
# The medshare hub image: one static-ish binary, no shell needed at run time.
#   docker build -t medshare .
# Build stage: the workspace's pinned toolchain and lockfile. Without default features: the
# hub never reads documents, so Tesseract (OCR, for the practitioner's CLI) is left out.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p medshare-cli --no-default-features \
    && install -m 0755 target/release/medshare /usr/local/bin/medshare

# Run stage: Debian slim, CA certificates (S3 over HTTPS) and the PostgreSQL 15 client tools
# (`medshare backup`/`restore` run pg_dump/pg_restore; match the server's major version).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/medshare --shell /usr/sbin/nologin medshare \
    && install -d -m 0700 -o medshare -g medshare /var/lib/medshare
COPY --from=build /usr/local/bin/medshare /usr/local/bin/medshare
USER medshare
WORKDIR /var/lib/medshare
ENV MEDSHARE_DATA_DIR=/var/lib/medshare \
    MEDSHARE_LISTEN=0.0.0.0:8443 \
    MEDSHARE_LOG=info
EXPOSE 8443
VOLUME ["/var/lib/medshare"]
ENTRYPOINT ["/usr/local/bin/medshare"]
CMD ["serve"]
