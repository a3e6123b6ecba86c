# Build: SQLite, libpq and OpenSSL are compiled from source, so the runtime image needs only libc.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY src ./src
COPY migrations ./migrations
COPY seeds ./seeds
RUN cargo build --release --locked \
    && mkdir -p -m 700 /data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/kyodo /usr/local/bin/kyodo
COPY --from=build --chown=nonroot:nonroot /data /data
ENV BIND_ADDRESS=0.0.0.0:8080 \
    DATA_DIR=/data
USER nonroot
EXPOSE 8080
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/kyodo"]
