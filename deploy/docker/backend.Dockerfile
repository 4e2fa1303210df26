# Backend image for docker-compose.yml: one onion service instance (tor in OnionBalance-instance
# mode, deploy/torrc/torrc-backend) in front of a tiny web server that names the backend.
#
# Build context: deploy/ (docker-compose.yml sets it):
#   docker build -f deploy/docker/backend.Dockerfile -t obcluster/backend deploy
# Mount one backend folder written by onionbalance-config (its hs/ subfolder) at /backend-hs:
#   docker run -e OB_BACKEND_NAME=node1 -v ./obconfig/node1/hs:/backend-hs:ro obcluster/backend
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends tor busybox \
 && rm -rf /var/lib/apt/lists/*
COPY torrc/torrc-backend /etc/tor/torrc
COPY docker/backend-entrypoint.sh /usr/local/bin/backend-entrypoint
ENTRYPOINT ["/usr/local/bin/backend-entrypoint"]
