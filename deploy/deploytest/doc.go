// Package deploytest checks the deployment files and the operator documentation of the repository
// against the tools that consume them and against the code they describe:
//
//   - deploy/systemd: `systemd-analyze verify` and `systemd-analyze security --offline` on the unit,
//     `systemd-sysusers --dry-run` on the sysusers entry;
//   - deploy/torrc: `tor --verify-config` on the torrc templates;
//   - docker-compose.yml and deploy/docker: `docker-compose config`, build contexts, Dockerfile COPY
//     sources, the mounts of the files onionbalance-config generates, the container entrypoint;
//   - docs/: every config key, flag and environment variable, every etcd key and record field.
//
// The package has no code of its own: everything is in its tests. A test skips with a message only
// when the external tool it needs is not installed.
package deploytest
