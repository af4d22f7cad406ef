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

# libssl3: the AES-GCM of at-rest encryption uses libcrypto.so.3 when present (faster than the fallback).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libcurl4 libssl3 libxml2 tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/wharf --create-home wharf
COPY --from=build /out/wharf /usr/local/bin/wharf
USER wharf
WORKDIR /var/lib/wharf
VOLUME ["/var/lib/wharf/storage"]
EXPOSE 5000
ENTRYPOINT ["wharf"]
CMD ["serve", "--listen", "0.0.0.0:5000", "--data-dir", "/var/lib/wharf/storage"]
