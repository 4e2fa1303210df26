package main

import (
	"context"
	"fmt"
	"time"

	"github.com/obcluster/obcluster/obhost"
)

// runClusterStepDown asks the leader to hand over gracefully and waits for the next leader.
func runClusterStepDown(ctx context.Context, args []string, e env) int {
	var o opFlags
	var node string
	fs := newFlagSet("onionbalance cluster step-down", e,
		"onionbalance cluster step-down [-c config.yaml | --etcd-endpoints URL,...] [--node NAME] [--timeout 30s]")
	o.register(fs, e.getenv)
	fs.StringVar(&node, "node", "", "only step down if this node is the leader")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	const cmd = "cluster step-down"
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cfg, cli, keys, err := o.open(ctx)
	if err != nil {
		return fail(e, cmd, err)
	}
	defer cli.Close()
	res, err := obhost.StepDown(ctx, cli, keys, node, cfg.Cluster.Etcd.RequestTimeout.D(), operatorName())
	if err != nil {
		return fail(e, cmd, err)
	}
	if res.Next.Name == res.Old.Name {
		fmt.Fprintf(e.stdout, "%s (epoch %d) stepped down and was elected again (epoch %d) after %v: no other candidate\n",
			res.Old.Name, res.Old.Epoch, res.Next.Epoch, res.Took.Round(time.Millisecond))
		return exitOK
	}
	fmt.Fprintf(e.stdout, "%s (epoch %d) stepped down; %s leads now (epoch %d); hand-over took %v\n",
		res.Old.Name, res.Old.Epoch, res.Next.Name, res.Next.Epoch, res.Took.Round(time.Millisecond))
	return exitOK
}
