package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/obcluster/obcluster/obhost"
)

// runStatus prints the cluster's state as etcd holds it: leader, nodes, services, backends and the
// last uploads per HSDir. --json prints the same as one JSON document.
func runStatus(ctx context.Context, args []string, e env) int {
	var o opFlags
	var asJSON bool
	fs := newFlagSet("onionbalance status", e, "onionbalance status [--json] [-c config.yaml | --etcd-endpoints URL,...]")
	o.register(fs, e.getenv)
	fs.BoolVar(&asJSON, "json", false, "print JSON instead of tables")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "onionbalance status: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cfg, cli, keys, err := o.open(ctx)
	if err != nil {
		return fail(e, "status", err)
	}
	defer cli.Close()
	st, err := obhost.GatherStatus(ctx, cli, keys, cfg.Cluster.Etcd.RequestTimeout.D(), time.Now())
	if err != nil {
		return fail(e, "status", err)
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return fail(e, "status", err)
		}
		return exitOK
	}
	writeStatusText(e.stdout, st)
	return exitOK
}

// writeStatusText renders the status as tables.
func writeStatusText(w io.Writer, st *obhost.ClusterStatus) {
	if st.Leader != nil {
		fmt.Fprintf(w, "Leader:   %s (epoch %d)\n", st.Leader.Name, st.Leader.Epoch)
	} else {
		fmt.Fprintf(w, "Leader:   none\n")
	}
	switch {
	case st.ConfigError != "":
		fmt.Fprintf(w, "Config:   %s/config revision %d is INVALID: %s\n", st.Prefix, st.ConfigRevision, st.ConfigError)
	case st.ConfigRevision != 0:
		fmt.Fprintf(w, "Config:   %s/config revision %d\n", st.Prefix, st.ConfigRevision)
	default:
		fmt.Fprintf(w, "Config:   none in etcd (nodes use their own config files)\n")
	}

	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tROLE\tEPOCH\tHEARTBEAT\tTOR\tVERSION\tPROBES\tLAST ERROR")
	if len(st.Nodes) == 0 {
		fmt.Fprintln(tw, "(no live node)\t\t\t\t\t\t\t")
	}
	for _, n := range st.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s ago\t%d%% %s\t%s\t%s\t%s\n", n.Name, dash(n.Role), epochText(n.Epoch),
			roundAge(n.HeartbeatAge), n.TorBootstrap, n.TorState, dash(n.Version), probesText(n.Probes), dash(n.LastError))
	}
	tw.Flush()

	for _, s := range st.Services {
		fmt.Fprintln(w)
		key := s.Key
		switch s.Key {
		case obhost.KeyFromConfigFile:
			key = "not in etcd: read from the node's config file"
		case "missing":
			key = "MISSING from etcd, which lists the service"
		}
		if s.KeyKEKID != "" {
			key += ", key-encryption key " + s.KeyKEKID
		}
		note := ""
		if !s.InConfig && st.ConfigRevision != 0 {
			note = ", not in the cluster configuration"
		}
		fmt.Fprintf(w, "Service %s.onion (master key: %s%s)\n", s.Address, key, note)
		if s.AuthorizedClients > 0 {
			fmt.Fprintf(w, "  Restricted discovery: %d authorized clients\n", s.AuthorizedClients)
		}
		for _, bad := range s.BadRecords {
			fmt.Fprintf(w, "  BAD RECORD, left out: %s\n", bad)
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  BACKEND\tNAME\tRECEIVED\tAGE\tINTRO POINTS\tREVISION\tBY\tHEALTH")
		for _, b := range s.Backends {
			received, age := "never", "-"
			if b.Age != nil {
				received, age = b.ReceivedAt.UTC().Format(time.DateTime), roundAge(*b.Age)
			}
			name := dash(b.Name)
			if !b.InConfig && st.ConfigRevision != 0 {
				name += " (removed)"
			}
			fmt.Fprintf(tw, "  %s.onion\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", b.Address, name, received, age, b.IntroPoints,
				b.DescriptorRevision, byText(b.Node, b.Epoch), healthText(b))
		}
		tw.Flush()
		writeProbes(w, s.Backends)
		for _, d := range s.Descriptors {
			ok, failed, pending := 0, 0, 0
			for _, h := range d.HSDirs {
				switch h.Status {
				case "uploaded":
					ok++
				case "failed":
					failed++
				default:
					pending++
				}
			}
			fmt.Fprintf(w, "  Descriptor %s… period %d: revision %d uploaded %s by %s, %d intro points; HSDirs %d ok, %d failed, %d pending\n",
				d.Slot[:min(16, len(d.Slot))], d.PeriodNum, d.RevisionCounter, d.UploadedAt.UTC().Format(time.DateTime),
				byText(d.Node, d.Epoch), d.IntroPoints, ok, failed, pending)
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			for _, h := range d.HSDirs {
				fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", h.Fingerprint, h.Status, h.At.UTC().Format(time.DateTime),
					backendNames(s.Backends, h.Backends), h.Reason)
			}
			tw.Flush()
		}
	}
}

// probesText summarises a node's probe report.
func probesText(p *obhost.NodeProbes) string {
	switch {
	case p == nil:
		return "-"
	case !p.TorReady:
		return fmt.Sprintf("tor not ready (%s ago)", roundAge(p.Age))
	default:
		return fmt.Sprintf("%d results, %s ago", p.Results, roundAge(p.Age))
	}
}

// healthText is a backend's health as the leader judged it.
func healthText(b obhost.BackendStatus) string {
	if b.Health == nil {
		return "-"
	}
	text := b.Health.State
	if b.Health.Reason != "" {
		text += ": " + b.Health.Reason
	}
	return text
}

// writeProbes lists each node's last probe of each backend, one line per backend.
func writeProbes(w io.Writer, backends []obhost.BackendStatus) {
	for _, b := range backends {
		if len(b.Probes) == 0 {
			continue
		}
		var parts []string
		for _, p := range b.Probes {
			lat := time.Duration(p.LatencyMS) * time.Millisecond
			part := fmt.Sprintf("%s: %s %s, %s ago", p.Node, p.Outcome, lat, roundAge(p.Age))
			if !p.Counted {
				part += " (not counted: tor not ready)"
			}
			parts = append(parts, part)
		}
		name := b.Name
		if strings.TrimSpace(name) == "" {
			name = b.Address[:min(16, len(b.Address))] + "…"
		}
		fmt.Fprintf(w, "  last probes of %s: %s\n", name, strings.Join(parts, "; "))
	}
}

// backendNames lists the backends of one HSDir's descriptor by configured name (address when unnamed).
func backendNames(all []obhost.BackendStatus, addrs []string) string {
	if len(addrs) == 0 {
		return "-"
	}
	names := map[string]string{}
	for _, b := range all {
		names[b.Address] = b.Name
	}
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a
		if n := strings.TrimSpace(names[a]); n != "" {
			out[i] = n
		}
	}
	return strings.Join(out, ",")
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func epochText(e int64) string {
	if e == 0 {
		return "-"
	}
	return fmt.Sprint(e)
}

func byText(node string, epoch int64) string {
	if node == "" {
		return "-"
	}
	return fmt.Sprintf("%s (epoch %d)", node, epoch)
}

// roundAge prints seconds as a short duration ("1.2s", "3m4s").
func roundAge(secs float64) string {
	d := time.Duration(secs * float64(time.Second))
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
