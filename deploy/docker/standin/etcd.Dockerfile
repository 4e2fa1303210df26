# Stand-in for quay.io/coreos/etcd:v3.5.17 (the etcd members of docker-compose.yml) where that registry
# cannot be reached: Debian's etcd-server and etcd-client (3.4.23 in bookworm), with the binaries where
# the upstream image has them (/usr/local/bin/etcd, /usr/local/bin/etcdctl). The compose file's
# ETCD_* environment and flags mean the same to 3.4 and 3.5. deploy/docker/base-images.sh builds it,
# tagged with the upstream name, only when `docker image inspect quay.io/coreos/etcd:v3.5.17` fails.
# Why a stand-in and not an image of our own: docs/operations.md ("docker-compose").
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends etcd-server etcd-client \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/bin/etcd /usr/local/bin/etcd \
 && ln -s /usr/bin/etcdctl /usr/local/bin/etcdctl
EXPOSE 2379 2380
CMD ["/usr/local/bin/etcd"]
