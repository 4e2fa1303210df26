// Package dockertest runs docker-compose.yml, unchanged, on a private Tor network in containers
// (deploy/docker/compose.testnet.yaml) and drills it with real cuts: docker kill, docker pause and
// docker network disconnect of the leader, etcd members killed, a rolling restart. Each drill is
// measured (takeover time, client requests failed, uploads by a fenced leader, revision counters).
//
// It needs root, a docker engine (deploy/docker/engine.sh starts one), docker-compose, debootstrap,
// tor and tor-gencert, and runs only with OB_DOCKER=1:
//
//	OB_DOCKER=1 go test -count=1 -v -timeout 40m ./deploy/dockertest/
//
// deploy/test.sh (make test) runs it. The commands it runs are the docker-compose walkthrough of
// docs/operations.md.
package dockertest
