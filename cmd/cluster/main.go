// Command cluster runs the pinned Temporal server (tools.mod) on the local
// PostgreSQL for `make cluster`: both schemas, the server with all four
// services, the namespace and our search attributes, as production sets
// them up. It returns once the server is ready and leaves it running;
// `cluster down` stops it. Test tooling, not part of the product.
//
//	cluster up   [--dir .cluster] [--database temporal_cluster]
//	cluster down [--dir .cluster] [--drop]   (--drop: also drop its databases)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/internal/cluster"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || (args[0] != "up" && args[0] != "down") {
		return errors.New("usage: cluster up|down [--dir DIR] [--database NAME]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	dir := fs.String("dir", ".cluster", "config, log and pid file")
	db := fs.String("database", "temporal_cluster", "persistence database (visibility: NAME_visibility)")
	drop := fs.Bool("drop", false, "down: drop the server's databases too")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	pidFile := filepath.Join(*dir, "temporal-server.pid")
	dbFile := filepath.Join(*dir, "database")
	if args[0] == "down" {
		if err := down(pidFile); err != nil || !*drop {
			return err
		}
		name, err := os.ReadFile(dbFile)
		if err != nil {
			return fmt.Errorf("--drop: which databases: %w", err)
		}
		abs, _ := filepath.Abs(*dir)
		if err := cluster.Drop(context.Background(), cluster.Options{Dir: abs, Database: strings.TrimSpace(string(name))}); err != nil {
			return err
		}
		fmt.Printf("dropped %s and %s_visibility\n", strings.TrimSpace(string(name)), strings.TrimSpace(string(name)))
		return os.Remove(dbFile)
	}
	if pid, ok := running(pidFile); ok {
		return fmt.Errorf("a server already runs (pid %d): make cluster-down first", pid)
	}
	start := time.Now()
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	ctx := context.Background()
	s, err := cluster.New(ctx, cluster.Options{Dir: abs, Database: *db, Ports: &cluster.Ports{
		Frontend: 7233, FrontendHTTP: 7243, FrontendMembership: 6933, History: 7234, HistoryMembership: 6934,
		Matching: 7235, MatchingMembership: 6935, Worker: 7239, WorkerMembership: 6939, Metrics: 8000, PProf: 7936,
	}})
	if err != nil {
		return err
	}
	log, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := s.Command()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := os.WriteFile(dbFile, []byte(*db+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return err
	}
	if err := s.WaitReady(ctx, exited); err != nil {
		_ = cmd.Process.Kill()
		return err
	}
	fmt.Printf("Temporal %s on PostgreSQL is ready at %s (metrics http://%s/metrics) after %.1fs; log %s; `make cluster-down` stops it\n",
		cluster.Version, s.Addr, s.MetricsAddr, time.Since(start).Seconds(), s.Log)
	return nil
}

// running reads the pid file and reports whether that process is alive.
func running(pidFile string) (int, bool) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, syscall.Kill(pid, 0) == nil
}

func down(pidFile string) error {
	pid, ok := running(pidFile)
	if !ok {
		fmt.Println("no cluster server is running")
		_ = os.Remove(pidFile)
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 200 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) == nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = os.Remove(pidFile)
	fmt.Printf("stopped the cluster server (pid %d); its databases are kept\n", pid)
	return nil
}
