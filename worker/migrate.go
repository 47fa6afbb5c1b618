package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/config"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
)

// migrateMain is `worker migrate --config FILE`: it brings our own tables
// to the schema version of this binary, printing what it did, and exits.
// It reads only the config's database section.
func migrateMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("config", "", "config file (default $"+config.EnvPath+" or ./config.yaml)")
	timeout := fs.Duration("timeout", 5*time.Minute, "overall deadline, waiting for another migration included")
	if err := fs.Parse(args); err != nil {
		fmt.Fprintln(stderr, "worker migrate:", err)
		fmt.Fprintln(stderr, "usage: worker migrate [--config FILE] [--timeout 5m]")
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "worker migrate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := migrate(*cfgPath, *timeout, stdout); err != nil {
		fmt.Fprintln(stderr, "worker migrate:", oneLine(err.Error()))
		return 1
	}
	return 0
}

func migrate(cfgPath string, timeout time.Duration, out io.Writer) error {
	cfg, err := config.LoadDatabase(cfgPath)
	if err != nil {
		return err
	}
	store, err := dbmodel.Open(cfg.Database)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := store.Ping(ctx); err != nil {
		return err
	}
	rep, err := store.Migrate(ctx)
	for _, l := range rep.Lines {
		fmt.Fprintln(out, l)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "schema version %d\n", dbmodel.SchemaVersion)
	return nil
}

// refuseMigrateFlag refuses the --migrate flag of earlier releases, which
// changed the schema at every start.
func refuseMigrateFlag(args []string) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "migrate" {
			return errors.New("--migrate is gone: the worker no longer changes the schema at start; run `" + dbmodel.MigrateCommand + "` once (and after each upgrade) before starting workers")
		}
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
