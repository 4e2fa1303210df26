package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/obcluster/obcluster/cmd/internal/buildinfo"
)

type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func run(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("onionbalance-config", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	version := fs.Bool("version", false, "print the version")
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "onionbalance-config %s: generate the master key, config.yaml and backend folders\n\nUsage: onionbalance-config [flags]\n\nFlags:\n", buildinfo.Version())
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(e.stderr)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *version {
		fmt.Fprintln(e.stdout, "onionbalance-config", buildinfo.Version())
		return exitOK
	}
	_ = ctx
	fmt.Fprintln(e.stderr, "onionbalance-config: generation is not wired yet")
	return exitError
}
