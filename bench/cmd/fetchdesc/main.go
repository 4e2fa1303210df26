// Command fetchdesc prints, as JSON, the intro points of an onion service's descriptor: the copies the
// HSDirs serve (fetched through a tor client's control port), or with -own the service's own current
// descriptor (asked of the tor that runs it).
//
//	fetchdesc -control 127.0.0.1:PORT -address ADDR.onion [-servers FP,FP] [-wait 10s]
//	fetchdesc -control 127.0.0.1:PORT -address ADDR.onion -own
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/obcluster/obcluster/bench/internal/probe"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fetchdesc:", err)
		os.Exit(1)
	}
}

// output is what fetchdesc prints.
type output struct {
	Address string       `json:"address"`
	Own     []string     `json:"own_intro_auth_keys,omitempty"`
	Copies  []probe.Copy `json:"hsdirs,omitempty"`
	Asked   int          `json:"hsdirs_asked,omitempty"`
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fetchdesc", flag.ContinueOnError)
	control := fs.String("control", os.Getenv("OB_CONTROL"), "tor control port (default $OB_CONTROL)")
	address := fs.String("address", "", "onion address (required)")
	own := fs.Bool("own", false, "print the service's own current descriptor (the tor at -control runs it)")
	servers := fs.String("servers", "", "comma-separated HSDir fingerprints (default: every HSDir in the consensus)")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for the HSDirs' answers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *control == "" || *address == "" {
		fs.Usage()
		return errors.New("-control and -address are required")
	}
	ctx, cancel := context.WithTimeout(ctx, *wait+30*time.Second)
	defer cancel()
	c, err := probe.Dial(ctx, *control, nil)
	if err != nil {
		return err
	}
	defer c.Close()

	o := output{Address: strings.TrimSuffix(*address, ".onion") + ".onion"}
	if *own {
		if o.Own, err = c.Own(ctx, *address, time.Now()); err != nil {
			return err
		}
	} else {
		var fps []string
		if *servers != "" {
			fps = strings.Split(*servers, ",")
		} else if fps, err = c.HSDirs(ctx); err != nil {
			return err
		}
		o.Asked = len(fps)
		if o.Copies, err = c.Fetch(ctx, *address, fps, *wait, time.Now); err != nil {
			return err
		}
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(o)
}
