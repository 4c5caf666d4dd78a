# Agora's image: both binaries, static, on distroless as a non-root user.
#
#   make docker-build docker-push IMG=ghcr.io/agora-sched/agora:0.1.0
#
# The chart runs /usr/local/bin/agora-controller (Deployment) and /usr/local/bin/agora-executor
# (DaemonSet) from this one image. It needs a Docker (BuildKit) engine, which the project's dev
# machines do not have; `make build` builds the same binaries without one.

# The build stage runs on the builder's own platform and cross-compiles (CGO off: no C toolchain
# for the target needed), so a multi-platform build does not emulate the Go compiler.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer stays cached while only Agora's code changes.
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY pkg/ pkg/
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/agora-controller ./cmd/agora-executor

# distroless/static: CA certificates, tzdata and /etc/passwd with the nonroot user (65532);
# no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/agora-controller /out/agora-executor /usr/local/bin/
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/agora-controller"]
