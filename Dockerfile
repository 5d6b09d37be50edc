# keyway's container image, for machines with Docker or another builder
# that reads Dockerfiles. Without one, `make image` builds the same layout
# (binary, its shared libraries, the CA bundle, user 65532) from this
# machine's Debian packages: see docs/deployment.md.
#
#   docker build -t keyway:dev --build-arg VERSION=dev .

FROM golang:1.26-bookworm AS build
ARG VERSION=dev
WORKDIR /src
COPY . .
# cgo stays on: the pkcs11 CA backend loads an HSM's module at run time.
RUN go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/keyway ./cmd/keyway

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 keyway \
 && useradd --uid 65532 --gid 65532 --home-dir /var/lib/keyway --shell /usr/sbin/nologin keyway \
 && mkdir -p /etc/keyway /var/lib/keyway \
 && chown keyway:keyway /var/lib/keyway \
 && chmod 0700 /var/lib/keyway
COPY --from=build /out/keyway /usr/local/bin/keyway
USER 65532:65532
WORKDIR /var/lib/keyway
ENV HOME=/var/lib/keyway
VOLUME /var/lib/keyway
ENTRYPOINT ["/usr/local/bin/keyway"]
CMD ["start", "-c", "/etc/keyway/keyway.hcl"]
