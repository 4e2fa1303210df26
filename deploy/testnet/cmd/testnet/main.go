// Command testnet starts, inspects and stops a private Tor network on
// 127.0.0.1 (see deploy/testnet/README.md).
//
//	testnet up -dir DIR [-backends N] [-master ADDR] [-management N] [-timeout 4m]
//	testnet status -dir DIR
//	testnet down -dir DIR
//	testnet backend stop|start K -dir DIR
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/obcluster/obcluster/deploy/testnet"
)

const usage = `usage:
  testnet up -dir DIR [-backends N] [-master ADDR.onion] [-management N] [-timeout 4m] [-no-memory-tuning] [-v]
  testnet status -dir DIR
  testnet down -dir DIR
  testnet backend stop|start K -dir DIR
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testnet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "up":
		return up(ctx, args[1:], out)
	case "down":
		return down(ctx, args[1:], out)
	case "status":
		return status(args[1:], out)
	case "backend":
		return backend(ctx, args[1:], out)
	case "serve-http": // hidden: the HTTP server behind an onion service
		return serveHTTP(ctx, args[1:])
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// parse parses flags that may come before, between or after positional
// arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func logger(verbose bool) hclog.Logger {
	level := hclog.Info
	if verbose {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: "testnet", Level: level, Output: os.Stderr})
}

func up(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	dir := fs.String("dir", "", "network directory (required)")
	backends := fs.Int("backends", 0, "number of OnionBalance-instance backends to start")
	master := fs.String("master", "", "master onion address the backends serve (generated when empty)")
	management := fs.Int("management", 0, "number of obhost management tors (control port only) to start")
	timeout := fs.Duration("timeout", 4*time.Minute, "bound on the wait for the network to be ready")
	noTuning := fs.Bool("no-memory-tuning", false, "leave out NumCPUs 1 and MALLOC_ARENA_MAX=2")
	verbose := fs.Bool("v", false, "log debug messages")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("up: -dir is required")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	began := time.Now()
	n, err := testnet.Up(ctx, testnet.Options{
		Dir:            *dir,
		Backends:       *backends,
		Master:         *master,
		ManagementTors: *management,
		ReadyTimeout:   *timeout,
		NoMemoryTuning: *noTuning,
		Detach:         true,
		HTTPCommand:    []string{exe, "serve-http"},
		Logger:         logger(*verbose),
	})
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	rss, err := n.TorRSS()
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	d := n.Description()
	fmt.Fprintf(out, "ready in %s; tor RSS %d MiB\n", time.Since(began).Round(time.Second), rss>>20)
	fmt.Fprintf(out, "socks %s, control %s\n", d.Client.Socks, d.Client.Control)
	if d.Master != nil {
		fmt.Fprintf(out, "master %s\n", d.Master.Address)
	}
	for _, name := range d.Backends {
		nd, _ := d.Node(name)
		fmt.Fprintf(out, "%s %s\n", name, nd.Onion)
	}
	for _, nd := range d.NodesWithRole(testnet.RoleManagement) {
		fmt.Fprintf(out, "%s control %s\n", nd.Name, nd.ControlAddr())
	}
	fmt.Fprintf(out, "description %s/%s; shell: . %s/%s\n", d.Dir, testnet.DescriptionFile, d.Dir, testnet.EnvFile)
	return nil
}

func open(args []string, name string) (*testnet.Network, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dir := fs.String("dir", "", "network directory (required)")
	verbose := fs.Bool("v", false, "log debug messages")
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if *dir == "" {
		return nil, nil, fmt.Errorf("%s: -dir is required", name)
	}
	n, err := testnet.Open(*dir, testnet.Options{Logger: logger(*verbose)})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return n, pos, nil
}

func down(ctx context.Context, args []string, out io.Writer) error {
	n, _, err := open(args, "down")
	if err != nil {
		return err
	}
	if err := n.Down(ctx); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	fmt.Fprintf(out, "stopped the network in %s\n", n.Dir())
	return nil
}

func status(args []string, out io.Writer) error {
	n, _, err := open(args, "status")
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tPID\tSTATE\tADDRESS")
	running := 0
	for _, st := range n.Status() {
		state := "stopped"
		if st.Alive {
			state = "running"
			running++
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", st.Name, st.Role, st.PID, state, address(st.Node))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	rss, err := n.TorRSS()
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	fmt.Fprintf(out, "%d of %d nodes running; tor RSS %d MiB\n", running, len(n.Status()), rss>>20)
	return nil
}

func address(nd testnet.Node) string {
	var parts []string
	if nd.Onion != "" {
		parts = append(parts, nd.Onion)
	}
	if p := nd.Ports[testnet.PortSocks]; p != 0 {
		parts = append(parts, fmt.Sprintf("socks 127.0.0.1:%d", p))
	}
	if a := nd.ControlAddr(); a != "" {
		parts = append(parts, "control "+a)
	}
	if nd.Listen != "" {
		parts = append(parts, "http "+nd.Listen)
	}
	return strings.Join(parts, ", ")
}

func backend(ctx context.Context, args []string, out io.Writer) error {
	n, pos, err := open(args, "backend")
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != "stop" && pos[0] != "start") {
		return errors.New("backend: want `backend stop|start K -dir DIR`")
	}
	name := pos[1]
	if k, err := strconv.Atoi(pos[1]); err == nil {
		name = fmt.Sprintf("backend%d", k)
	}
	if pos[0] == "stop" {
		err = n.StopNode(ctx, name)
	} else {
		err = n.StartNode(ctx, name)
	}
	if err != nil {
		return fmt.Errorf("backend %s: %w", pos[0], err)
	}
	nd, _ := n.Node(name)
	fmt.Fprintf(out, "%s %s: pid %d, %s\n", pos[0], name, nd.PID, nd.Onion)
	return nil
}

func serveHTTP(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve-http", flag.ContinueOnError)
	name := fs.String("name", "", "answer to GET /")
	listen := fs.String("listen", "", "host:port to listen on")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *name == "" || *listen == "" {
		return errors.New("serve-http: -name and -listen are required")
	}
	return testnet.ServeName(ctx, *name, *listen)
}
