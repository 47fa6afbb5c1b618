# syntax=docker/dockerfile:1
#
# proxmox-terminate worker image (see deploy/INSTALL.md).
#   build:   docker compose build worker     (or: docker build -t proxmox-terminate .)
#   result:  static binaries on distroless/static, running as uid 65532 (nonroot).
# No secret is ever baked in: the config file is mounted at run time and the
# secrets it names (*_env keys) come from the environment.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -ldflags='-s -w' -o /out/ ./worker ./starter ./deploy/healthcheck

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/starter /out/healthcheck /usr/local/bin/
ENV PROXMOX_TERMINATE_CONFIG=/etc/proxmox-terminate/config.yaml \
    HEALTHCHECK_URL=http://127.0.0.1:9090/healthz
USER 65532:65532
EXPOSE 9090
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/healthcheck"]
ENTRYPOINT ["/usr/local/bin/worker"]
CMD ["--http-addr=0.0.0.0:9090"]
