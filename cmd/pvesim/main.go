// Command pvesim serves the Proxmox VE API simulator (package pvesim) on a
// TCP port, for demos, manual testing and benchmarks.
//
//	pvesim --listen 127.0.0.1:8006 --fixture cmd/pvesim/example-fixture.json --tls
//
// Every request is logged to stderr. Besides the PVE API under /api2/json,
// a simulator-only control API lives under /_sim/ (see package pvesim).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pvesim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("pvesim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8006", "address to listen on")
	fixture := fs.String("fixture", "", "fixture JSON file describing the cluster (default: one node pve1, no VMs)")
	tlsOn := fs.Bool("tls", false, "serve HTTPS with a generated self-signed certificate")
	release := fs.String("release", "", "PVE release to impersonate, e.g. 7.4 or 8.2 (overrides the fixture; default 8.2)")
	quiet := fs.Bool("quiet", false, "do not log requests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := log.New(os.Stderr, "pvesim: ", log.LstdFlags|log.Lmicroseconds)
	opts := pvesim.Options{Release: *release}
	if !*quiet {
		opts.Logf = logger.Printf
	}
	sim := pvesim.New(opts)
	if *fixture != "" {
		f, err := pvesim.LoadFixtureFile(*fixture)
		if err != nil {
			return err
		}
		if *release != "" {
			f.Release = *release
		}
		if err := sim.LoadFixture(f); err != nil {
			return err
		}
	}
	url, err := sim.Start(*listen, *tlsOn)
	if err != nil {
		return err
	}
	logger.Printf("Proxmox VE %s API simulator listening on %s", sim.Release(), url)
	if fp := sim.CertFingerprintSHA256(); fp != "" {
		logger.Printf("TLS certificate SHA-256 fingerprint: %s", fp)
	}
	if *fixture == "" {
		logger.Printf("no fixture: token %s secret %s", pvesim.DefaultTokenID, pvesim.DefaultTokenSecret)
	}
	logger.Printf("simulator control API: %s/_sim/{calls,requests,vms,tasks,faults,nodes,backups}", url[:len(url)-len("/api2/json")])

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	logger.Printf("shutting down")
	done := make(chan error, 1)
	go func() { done <- sim.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		return fmt.Errorf("shutdown timed out")
	}
}
