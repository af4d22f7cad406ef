# Multi-stage build of wharf: compile with the official Swift toolchain image, run on a slim Debian base.
# (No Docker engine runs in Wharf's development environment, so this file is kept standard and is not built
# by the test suite.)
FROM swift:6.2-bookworm AS build
WORKDIR /src
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product wharf \
    && install -D "$(swift build -c release --show-bin-path)/wharf" /out/wharf

# What the binary still loads at run time. --static-swift-stdlib links the Swift runtime, Foundation and its
# bundled ICU into it, and the BoringSSL of swift-crypto and swift-nio-ssl (AES-GCM, SHA-256, JWT, TLS) is compiled
# in too: wharf does not load the system's libcrypto/libssl (libcurl4 still depends on libssl3 for its own https).
# Left as shared libraries:
#   libsqlite3-0     the metadata store, audit index and identity store (GRDB links the system SQLite)
#   libcurl4         FoundationNetworking, which the CLI's admin commands (gc, keys, audit) use to call the server
#   ca-certificates  the CA bundle libcurl checks an https --url against
# Already in the base image: libcrypt1 (bcrypt for htpasswd, through Sources/CCrypt), libstdc++6, libgcc-s1, libc6.
# Not needed: libxml2 (FoundationXML is not imported) and tzdata (audit records and JSON logs are in UTC; without
# zone data the text log's local time is UTC as well).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libcurl4 libsqlite3-0 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/wharf --create-home wharf
COPY --from=build /out/wharf /usr/local/bin/wharf
USER wharf
WORKDIR /var/lib/wharf
VOLUME ["/var/lib/wharf/storage"]
EXPOSE 5000
ENTRYPOINT ["wharf"]
CMD ["serve", "--listen", "0.0.0.0:5000", "--data-dir", "/var/lib/wharf/storage"]
