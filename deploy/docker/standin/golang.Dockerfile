# Stand-in for golang:1.26-bookworm (the build stage of deploy/docker/Dockerfile) where no registry
# can be reached: Debian bookworm plus this machine's Go toolchain and CA bundle (a build machine
# behind a TLS-inspecting proxy reaches the module proxy only with its own CAs).
# deploy/docker/base-images.sh builds it only when `docker image inspect golang:1.26-bookworm` fails,
# from a context holding go/ (a copy of GOROOT) and ca-certificates.crt (the machine's bundle).
FROM debian:bookworm-slim
# ca-certificates: go mod download speaks HTTPS to the module proxy.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git \
 && rm -rf /var/lib/apt/lists/*
COPY go /usr/local/go
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV GOPATH=/go PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /go
