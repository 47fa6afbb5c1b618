// Command worker runs the TerminateWorkflow and its activities on the
// proxmox-terminate task queue. It prints every pipeline line, flushed, and
// serves /healthz on --http-addr.
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

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/internal/app"
)

func main() {
	cfgPath := flag.String("config", "", "config file (default $"+config.EnvPath+" or ./config.yaml)")
	migrate := flag.Bool("migrate", true, "create/update this project's own tables (never WHMCS's)")
	httpAddr := flag.String("http-addr", "127.0.0.1:9090", "address of /healthz (empty: off)")
	flag.Parse()
	if err := run(*cfgPath, *migrate, *httpAddr); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(cfgPath string, migrate bool, httpAddr string) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	deps, err := app.Open(cfg, os.Stdout, migrate)
	if err != nil {
		return err
	}
	defer deps.Close()
	c, err := app.Dial(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = app.CheckSearchAttributes(ctx, c, cfg.Temporal.Namespace)
	cancel()
	if err != nil {
		return err
	}
	if httpAddr != "" {
		srv := &http.Server{Addr: httpAddr, Handler: healthHandler(c, deps.Store), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				slog.Error("http server", "addr", httpAddr, "error", err)
			}
		}()
		defer srv.Close()
	}
	w := app.NewWorker(c, deps)
	slog.Info("worker started", "task_queue", cfg.Temporal.TaskQueue, "namespace", cfg.Temporal.Namespace, "temporal", cfg.Temporal.Address)
	return w.Run(worker.InterruptCh())
}

// healthHandler answers 200 when Temporal and the database answer.
func healthHandler(c client.Client, store *dbmodel.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
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
	return mux
}
