package main

import (
	"context"
	"fmt"

	"github.com/obcluster/obcluster/publisher/hsv3"
)

// runKeyShow prints the onion address of a key file; never the key itself.
func runKeyShow(_ context.Context, args []string, e env) int {
	fs := newFlagSet("onionbalance key show", e, "onionbalance key show FILE...")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	code := exitOK
	for _, path := range fs.Args() {
		k, err := hsv3.LoadIdentityKey(path)
		if err != nil {
			fmt.Fprintf(e.stderr, "onionbalance: %v\n", err)
			code = exitError
			continue
		}
		if fs.NArg() > 1 {
			fmt.Fprintf(e.stdout, "%s: ", path)
		}
		fmt.Fprintln(e.stdout, k.Address()+".onion")
	}
	return code
}
