// Command onionbalance balances the clients of Tor v3 onion services over many backend onion services,
// alone or as a highly available cluster on etcd. Run "onionbalance --help" for the commands.
//
// This package holds the flags, the commands and their printing; the running daemon and the logic of
// the operator commands are in package obhost.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}
