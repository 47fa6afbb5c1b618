// Command demo runs the main job end to end on embedded defaults: the
// Temporal dev server (Web UI on :8233), the Proxmox simulator with a seeded
// VM that has backups on two storages, DNS records on PowerDNS (the real
// pdns_server when installed, else an in-process server speaking its API),
// an embedded SQLite database seeded with a WHMCS service, the worker, and
// then `starter terminate --follow`. It stops what it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/dbmodel/whmcsschema"
	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns/pdnsfake"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns/pdnstest"
	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// The spec's example service.
const (
	serviceID = 5546
	vmid      = 2003
	node      = "pve-wew2"
	fqdn      = "5546-1776530141.puqcloud.com"
	ipv4      = "192.168.130.6"
	ipv6      = "2001:db8:130::6"
)

func main() {
	temporalCLI := flag.String("temporal", "bin/temporal", "the temporal CLI (make bin/temporal)")
	dir := flag.String("dir", ".demo", "scratch directory")
	hold := flag.Bool("hold", false, "keep everything running after the run (Ctrl-C to stop), to explore the Web UI")
	flag.Parse()
	// SIGINT (Ctrl-C) and SIGTERM stop everything the demo started, at any
	// point of the run, not only while it holds: the dev server, PowerDNS,
	// the simulator, the worker and the starter.
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigc
		say("%s: stopping everything", s)
		code := 1
		if held.Load() {
			code = 0
		}
		stops.run()
		os.Exit(code)
	}()
	err := run(*temporalCLI, *dir, *hold)
	stops.run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// stops holds what the demo started, stopped in reverse order once, either
// at the end of the run or on a signal.
var stops cleanups

// held is true once the run succeeded and the demo holds for the Web UI.
var held atomic.Bool

type cleanups struct {
	mu   sync.Mutex
	fns  []func()
	done bool
}

func (c *cleanups) add(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, f)
}

func (c *cleanups) run() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.done = true
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
}

func say(format string, args ...any) { fmt.Printf("demo: "+format+"\n", args...) }

func run(cli, dir string, hold bool) error {
	start := time.Now()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dir, _ = filepath.Abs(dir)
	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))

	// 1. Temporal dev server, Web UI on :8233 when the ports are free.
	hostPort, uiPort := "127.0.0.1:7233", "8233"
	if !free(hostPort) || !free("127.0.0.1:"+uiPort) {
		hostPort, uiPort = "", ""
		say("ports 7233/8233 are taken: using free ports")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dev, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  cli,
		ClientOptions: &client.Options{HostPort: hostPort, Namespace: "default", Logger: quiet},
		EnableUI:      true, UIPort: uiPort, LogLevel: "error", ExtraArgs: pipeline.DevServerArgs(),
		Stdout: io.Discard, Stderr: io.Discard,
	})
	if err != nil {
		return fmt.Errorf("temporal dev server (%s): %w", cli, err)
	}
	stops.add(func() { _ = dev.Stop() })
	ui := "http://localhost:" + uiPort
	if uiPort == "" {
		ui = "(see `temporal server start-dev` output)"
	}
	say("Temporal dev server at %s, Web UI %s", dev.FrontendHostPort(), ui)

	// 2. DNS: the real PowerDNS when installed, else an in-process PowerDNS API.
	var dnsCfg dns.ProviderConfig
	var zoneSrv interface {
		CreateZone(string, ...powerdns.RRset) error
		Records(string) ([]powerdns.RRset, error)
	}
	if pdnstest.Available() {
		pdnsDir := filepath.Join(dir, "pdns")
		if err := os.MkdirAll(pdnsDir, 0o755); err != nil {
			return err
		}
		srv, err := pdnstest.StartServer(pdnsDir)
		if err != nil {
			return err
		}
		stops.add(func() { _ = srv.Stop() })
		dnsCfg, zoneSrv = srv.Config("powerdns"), srv
		say("DNS: real pdns_server (PowerDNS Authoritative) at %s", srv.URL)
	} else {
		srv := pdnsfake.NewServer()
		stops.add(srv.Close)
		dnsCfg, zoneSrv = srv.Config("powerdns"), srv
		say("DNS: pdns_server is not installed; using the in-process server that speaks the PowerDNS API at %s", srv.URL)
	}
	if err := seedDNS(zoneSrv); err != nil {
		return err
	}

	// 3. The WHMCS database, embedded SQLite.
	dbcfg := dbmodel.Config{Driver: "sqlite", DSN: filepath.Join(dir, "whmcs.db")}.WithDefaults()
	store, err := dbmodel.Open(dbcfg)
	if err != nil {
		return err
	}
	stops.add(func() { _ = store.Close() })
	if err := whmcsschema.Create(store.DB()); err != nil {
		return err
	}
	// Our own tables, as an operator creates them: `worker migrate` (the
	// worker itself only checks the schema version).
	rep, err := store.Migrate(context.Background())
	if err != nil {
		return err
	}
	for _, l := range rep.Lines {
		say("$ worker migrate: %s", l)
	}
	if err := stack.Seed(context.Background(), store, stack.Service{
		ID: serviceID, UserID: 77, Domain: fqdn, DedicatedIP: ipv4, AssignedIPs: ipv6 + "\n",
		VMID: vmid, Node: node, VMName: fqdn,
	}); err != nil {
		return err
	}
	say("WHMCS database: SQLite %s, service %d (%s, %s, %s), VM %d on %s", dbcfg.DSN, serviceID, fqdn, ipv4, ipv6, vmid, node)

	// 4. The simulator and the worker.
	fx := stack.Cluster()
	fx.Nodes = []pvesim.FixtureNode{{Name: node}, {Name: "pve-wew1"}}
	tm := pipeline.Timing{
		StopPoll: time.Second, StopWindow: 20 * time.Second, ProgressEvery: 3 * time.Second,
		ForceWindow: 10 * time.Second, TaskPoll: 250 * time.Millisecond, DeleteTaskWindow: time.Minute,
		DeleteAttempts: 3, DeleteBackoff: time.Second, BackupsWindow: time.Minute, DNSWindow: time.Minute,
	}
	workerLog, err := os.Create(filepath.Join(dir, "worker.log"))
	if err != nil {
		return err
	}
	stops.add(func() { _ = workerLog.Close() })
	st, err := stack.Start(stack.Options{
		Dir: dir, DB: dbcfg, TemporalHost: dev.FrontendHostPort(), Fixture: fx, DNS: []dns.ProviderConfig{dnsCfg},
		Timing: tm, WorkerOut: workerLog, Client: dev.Client(), PVETLS: true,
	})
	if err != nil {
		return err
	}
	stops.add(st.Stop)
	if err := stack.AddVMWithBackups(st.Sim, node, vmid, fqdn, 7*time.Second); err != nil {
		return err
	}
	say("Proxmox simulator at %s (HTTPS, fingerprint-pinned); VM %d running, backups: %s", st.SimURL, vmid, strings.Join(st.Sim.Backups(vmid), ", "))
	say("worker running (its log: %s); timing compressed: stop window %s, force window %s", workerLog.Name(), tm.StopWindow, tm.ForceWindow)

	// 5. The billing panel's click: the real starter binary.
	starter := filepath.Join(dir, "bin", "starter")
	build := exec.Command("go", "build", "-o", starter, "./starter")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build starter: %w", err)
	}
	say("$ starter terminate --service-id %d --follow", serviceID)
	cmd := exec.Command(starter, "terminate", "--service-id", fmt.Sprint(serviceID), "--follow", "--config", st.ConfigPath)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	runErr := cmd.Start()
	if runErr == nil {
		stops.add(func() { _ = cmd.Process.Kill() }) // a no-op once it has exited
		runErr = cmd.Wait()
	}

	// 6. What is left.
	svc, err := store.LoadService(context.Background(), serviceID)
	if err != nil {
		return err
	}
	say("after: VM %d exists on Proxmox: %t; backups left: %d", vmid, st.Sim.VMExists(vmid), len(st.Sim.Backups(vmid)))
	say("after: tblhosting dedicatedip=%q assignedips=%q domain=%q; vm_status=%s", svc.Hosting.DedicatedIP, strings.TrimSpace(svc.Hosting.AssignedIPs), svc.Hosting.Domain, svc.VM.VMStatus)
	logs, _ := store.ActivityLogs(context.Background(), 77)
	for _, l := range logs {
		say("after: activity log: %s", l.Description)
	}
	say("Web UI: %s/namespaces/default/workflows/%s", ui, pipeline.WorkflowID(serviceID))
	say("finished in %s", time.Since(start).Round(time.Second))
	if runErr != nil {
		return fmt.Errorf("starter: %w", runErr)
	}
	if svc.VM.VMStatus != dbmodel.StatusRemove || st.Sim.VMExists(vmid) {
		return errors.New("the termination did not complete")
	}
	if hold {
		held.Store(true)
		say("holding: everything keeps running; Ctrl-C or SIGTERM stops it")
		select {} // the signal handler in main stops everything and exits
	}
	return nil
}

func seedDNS(z interface {
	CreateZone(string, ...powerdns.RRset) error
}) error {
	rr := func(name, typ, content string) powerdns.RRset {
		return powerdns.RRset{Name: name, Type: typ, TTL: 300, Records: []powerdns.Record{{Content: content}}}
	}
	v4, v6 := mustAddr(ipv4), mustAddr(ipv6)
	if err := z.CreateZone("puqcloud.com", rr(fqdn+".", "A", ipv4), rr(fqdn+".", "AAAA", ipv6), rr("www.puqcloud.com.", "A", "198.51.100.80")); err != nil {
		return err
	}
	if err := z.CreateZone("130.168.192.in-addr.arpa", rr(dns.ReverseName(v4), "PTR", fqdn+".")); err != nil {
		return err
	}
	return z.CreateZone("0.3.1.0.8.b.d.0.1.0.0.2.ip6.arpa", rr(dns.ReverseName(v6), "PTR", fqdn+"."))
}

func free(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}
