// Command worker runs the TerminateWorkflow and its activities on the
// proxmox-terminate task queue. It prints every pipeline line, flushed,
// logs structured JSON to stderr, and serves /healthz and /metrics on
// --http-addr. `worker migrate --config FILE` creates or updates our own
// tables; the worker itself never changes a schema and refuses to start
// on a database that is not migrated.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/app"
	"github.com/proxmox-terminate/proxmox-terminate/internal/metrics"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "migrate" {
		os.Exit(migrateMain(args[1:], os.Stdout, os.Stderr))
	}
	if err := refuseMigrateFlag(args); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	cfgPath := flag.String("config", "", "config file (default $"+config.EnvPath+" or ./config.yaml)")
	httpAddr := flag.String("http-addr", "127.0.0.1:9090", "address of /healthz and /metrics (empty: off)")
	flag.Parse()
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(*cfgPath, *httpAddr, logger); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", oneLine(err.Error()))
		os.Exit(1)
	}
}

// dialPatience is how long the worker keeps trying to reach Temporal at start.
const dialPatience = 2 * time.Minute

func run(cfgPath string, httpAddr string, logger *slog.Logger) error {
	start := time.Now()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	deps, err := app.Open(cfg, os.Stdout)
	if err != nil {
		return err
	}
	defer deps.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(
		// The runs that wait for an admin.
		statusGauge(deps.Store, dbmodel.StatusErrorTerminate, "terminate_waiting_for_admin", "VM rows in error_terminate, waiting for an admin"),
		// Stopped VMs waiting out their undo window (timing.destroy_delay).
		statusGauge(deps.Store, dbmodel.StatusGrace, "terminate_in_grace", "VM rows in grace: stopped, waiting out the undo window before they are destroyed"),
	)
	reg.MustRegister(deps.Collectors()...)
	// Temporal may come up after the worker (a restart, a compose start):
	// keep trying for a while before giving up to the supervisor.
	var c client.Client
	for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
		c, err = app.Dial(cfg, metrics.New(reg), logger)
		if err == nil {
			break
		}
		if time.Since(start) > dialPatience {
			return err
		}
		logger.Warn("temporal unreachable, retrying", "address", cfg.Temporal.Address, "error", err, "in", wait.String())
		time.Sleep(wait)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = app.CheckSearchAttributes(ctx, c, cfg.Temporal.Namespace)
	if err == nil && !cfg.Worker.ReconcileDisabled {
		err = app.EnsureSchedule(ctx, c, cfg.Temporal.TaskQueue, cfg.Worker.ReconcileEvery)
	}
	cancel()
	if err != nil {
		return err
	}
	if httpAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/healthz", healthHandler(c, deps.Store))
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Addr: httpAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("http server", "addr", httpAddr, "error", err)
			}
		}()
		defer srv.Close()
	}
	w := app.NewWorker(c, deps)
	logger.Info("worker started", "task_queue", cfg.Temporal.TaskQueue, "namespace", cfg.Temporal.Namespace, "temporal", cfg.Temporal.Address, "http", httpAddr)
	return w.Run(worker.InterruptCh())
}

// statusGauge reports how many VM rows are in status, read from the
// database at each scrape (-1 when the count fails).
func statusGauge(store *dbmodel.Store, status, name, help string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := store.CountStatus(ctx, status)
		if err != nil {
			return -1
		}
		return float64(n)
	})
}

// healthHandler answers 200 when Temporal and the database answer.
func healthHandler(c client.Client, store *dbmodel.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			http.Error(w, "temporal: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if err := store.Ping(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
}
