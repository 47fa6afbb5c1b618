// Command bench is `make bench`'s end-to-end benchmark: starter latency, one
// termination alone, N concurrent terminations, the sequential baseline
// and the bare baseline (the same terminations without Temporal), on the
// real Temporal dev server, MariaDB, PowerDNS and the Proxmox simulator.
// See test/bench/README.md.
//
//	go run ./cmd/bench [-n 100,1000] [-starter-calls 200] [-out test/bench/results/latest.json] [-quick]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/test/bench"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var o bench.Options
	var sets, wenv multi
	ns := flag.String("n", "100,1000", "fleet sizes, comma-separated")
	out := flag.String("out", "test/bench/results/latest.json", "where to write the JSON report (empty: nowhere)")
	flag.IntVar(&o.StarterCalls, "starter-calls", 200, "starter latency sample")
	flag.IntVar(&o.SingleRuns, "single-runs", 3, "lone terminations (median reported)")
	flag.IntVar(&o.SeqSample, "seq-sample", 20, "sequential baseline sample (at most the largest N)")
	flag.StringVar(&o.Launch, "launch", "direct", "how fleet runs are clicked: direct (the starter's steps in-process) or starter (the binary)")
	flag.IntVar(&o.LaunchParallel, "launch-parallel", 0, "concurrent clicks while launching a fleet (default 32 direct, 4 starter)")
	flag.DurationVar(&o.StopMin, "stop-min", 2*time.Second, "fastest guest shutdown")
	flag.DurationVar(&o.StopMax, "stop-max", 10*time.Second, "slowest guest shutdown")
	flag.DurationVar(&o.Destroy, "destroy", time.Second, "qmdestroy task duration")
	flag.DurationVar(&o.PVELatency, "pve-latency", 10*time.Millisecond, "simulated Proxmox API latency")
	flag.DurationVar(&o.PVETaskLatency, "pve-task-latency", 50*time.Millisecond, "simulated latency of shutdown/stop/DELETE calls (they fork a worker task)")
	flag.DurationVar(&o.ImgDel, "imgdel", 0, "backup deletion task duration")
	flag.Int64Var(&o.Seed, "seed", 7, "random seed of the guests' shutdown times")
	flag.StringVar(&o.TemporalCLI, "temporal", "", "temporal CLI (default $TEMPORAL_CLI or bin/temporal)")
	tdb := flag.Bool("temporal-file-db", false, "dev server persists to a SQLite file instead of memory")
	flag.Var(&sets, "set", "config override key.path=value for worker and starter (repeatable), e.g. -set proxmox.0.node_limit=8")
	flag.IntVar(&o.NodeLimit, "node-limit", 0, "the per-node stop/DELETE limit the config sets: checked against the simulator's peaks")
	flag.BoolVar(&o.InterpolateParams, "interpolate-params", false, "experiment: interpolateParams=true in the DSN (one SQL round trip per statement)")
	flag.StringVar(&o.WorkerPkg, "worker-pkg", "./worker", "the worker's package: point it at a patched copy to measure a change")
	flag.Var(&wenv, "worker-env", "extra environment for the worker, e.g. GOGC=200 (repeatable)")
	flag.DurationVar(&o.PhaseTimeout, "phase-timeout", 10*time.Minute, "give up on a fleet after this long")
	flag.BoolVar(&o.Keep, "keep", false, "keep the scratch directory (configs, worker logs, PowerDNS database)")
	flag.StringVar(&o.PerfDir, "perf", "", "write perf profiles (starter, worker, dev server) and their reports to this directory")
	base := flag.Bool("baseline", true, "after each fleet, terminate as many VMs seeded the same way with a plain loop without Temporal (a -baseline-loop subprocess) and report durability_cpu_ratio")
	loop := flag.String("baseline-loop", "", "internal: run the baseline loop of this spec file (the bench starts it)")
	flag.BoolVar(&o.Quick, "quick", false, "CI-sized run: -n 50 -starter-calls 30 -single-runs 1 -seq-sample 5 (explicit flags win)")
	flag.Parse()
	if *loop != "" {
		os.Exit(bench.BaselineLoopMain(*loop))
	}
	o.NoBaseline = !*base

	given := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if o.Quick {
		if !given["n"] {
			*ns = "50"
		}
		if !given["starter-calls"] {
			o.StarterCalls = 30
		}
		if !given["single-runs"] {
			o.SingleRuns = 1
		}
		if !given["seq-sample"] {
			o.SeqSample = 5
		}
	}
	for _, s := range strings.Split(*ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: -n %q: want positive integers\n", *ns)
			os.Exit(2)
		}
		o.Ns = append(o.Ns, n)
	}
	if o.Launch != "direct" && o.Launch != "starter" {
		fmt.Fprintln(os.Stderr, "bench: -launch must be direct or starter")
		os.Exit(2)
	}
	if *tdb {
		o.TemporalDB = "file"
	}
	o.Sets, o.WorkerEnv = sets, wenv
	if o.PerfDir != "" {
		if abs, err := filepath.Abs(o.PerfDir); err == nil {
			o.PerfDir = abs
		}
	}
	start := time.Now()
	o.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Println()
	rep.PrintTable(os.Stdout)
	if *out != "" {
		if err := rep.WriteJSON(*out); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		fmt.Printf("\nwrote %s (%s)\n", *out, time.Since(start).Round(time.Second))
	}
}
