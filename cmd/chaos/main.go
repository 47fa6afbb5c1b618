// Command chaos runs the chaos run and prints its verdict as one JSON
// line on stdout:
//
//	{"runs":N,"lost":0,"duplicate_activity_logs":0,"ips_cleared_while_vm_exists":0,"wrong_vm_actions":0,"undocumented_end_states":0,...}
//
// Each violation is explained on stderr. The exit status is 1 when any of
// those counters is not zero (or a refused click left a write behind), 2
// when the harness itself failed.
//
//	go run ./cmd/chaos -n 200            # by hand
//	go run ./cmd/chaos -n 40 -concurrency 16   # CI size
//	go run ./cmd/chaos -n 40 -cluster -workers 3   # the real server, three workers
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/test/chaos"
)

func main() {
	var o chaos.Options
	flag.IntVar(&o.N, "n", 200, "terminations")
	flag.IntVar(&o.Concurrency, "concurrency", 24, "terminations in flight at once")
	flag.Int64Var(&o.Seed, "seed", 0, "random seed (0: from the clock; printed)")
	flag.StringVar(&o.Dir, "dir", "", "scratch directory (default: a temporary one, removed)")
	flag.BoolVar(&o.Keep, "keep", false, "keep the scratch directory and the database")
	flag.StringVar(&o.Src, "src", "", "source tree to build the worker and starter from (default: this repository)")
	flag.StringVar(&o.TemporalCLI, "temporal", "", "temporal CLI (default $TEMPORAL_CLI or bin/temporal)")
	flag.DurationVar(&o.KillMin, "kill-min", 4*time.Second, "shortest time between worker SIGKILLs")
	flag.DurationVar(&o.KillMax, "kill-max", 12*time.Second, "longest time between worker SIGKILLs")
	flag.DurationVar(&o.DNSDownEvery, "dns-down-every", 15*time.Second, "mean time between DNS outages")
	flag.DurationVar(&o.DNSDownFor, "dns-down-for", 3*time.Second, "mean DNS outage")
	flag.Float64Var(&o.ReuseFraction, "reuse", 0.5, "fraction of deleted vmids reused by a new bystander VM")
	flag.Float64Var(&o.RequeueFraction, "requeue", 0.5, "fraction of liftable refusals the admin re-queues")
	flag.DurationVar(&o.Settle, "settle", 4*time.Minute, "how long runs may take to end after the last click")
	flag.DurationVar(&o.Timeout, "timeout", 30*time.Minute, "bound of the whole run")
	flag.BoolVar(&o.Cluster, "cluster", false, "run on the real Temporal server (make cluster-tools; PostgreSQL on 127.0.0.1:5432) instead of the dev server")
	flag.IntVar(&o.Workers, "workers", 1, "worker processes")
	verbose := flag.Bool("v", false, "print every violation as JSON on stderr (they are always printed as text)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := chaos.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	for _, v := range rep.Violations {
		if *verbose {
			b, _ := json.Marshal(v)
			fmt.Fprintln(os.Stderr, string(b))
			continue
		}
		fmt.Fprintf(os.Stderr, "chaos: VIOLATION %s service=%d: %s\n", v.Kind, v.ServiceID, v.Detail)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	fmt.Println(string(b))
	if rep.Failed() {
		os.Exit(1)
	}
}
