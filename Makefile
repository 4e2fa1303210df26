# The two commands of README.md: `make demo` and `make test`.
.PHONY: demo demo-down test build

# Brings up a private Tor network, backends, etcd and the balancer on this machine and shows the
# public address answering.
demo:
	bash deploy/demo.sh

demo-down:
	bash deploy/demo.sh down

# Installs what the tests need (tor, python3-stem, etcd) if missing, then gofmt, go vet, go test -race, fuzz.
test:
	bash deploy/test.sh

build:
	mkdir -p bin
	go build -o bin/ ./cmd/...
