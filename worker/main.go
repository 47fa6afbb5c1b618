// Command worker runs the TerminateWorkflow and its activities on the
// proxmox-terminate task queue. It prints every pipeline line, flushed.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"go.temporal.io/sdk/worker"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/internal/app"
)

func main() {
	cfgPath := flag.String("config", "", "config file (default $"+config.EnvPath+" or ./config.yaml)")
	migrate := flag.Bool("migrate", true, "create/update this project's own tables (never WHMCS's)")
	flag.Parse()
	if err := run(*cfgPath, *migrate); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(cfgPath string, migrate bool) error {
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
	w := app.NewWorker(c, deps)
	slog.Info("worker started", "task_queue", cfg.Temporal.TaskQueue, "namespace", cfg.Temporal.Namespace, "temporal", cfg.Temporal.Address)
	return w.Run(worker.InterruptCh())
}
