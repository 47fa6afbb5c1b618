package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// DevServerProc is `temporal server start-dev` as a child process, for runs
// that stop and restart it (on a file database every execution is kept) or
// scrape its metrics. Tests that only need a server use DevServer.
type DevServerProc struct {
	Addr        string // the frontend, host:port
	MetricsAddr string // Prometheus metrics, host:port
	Proc        *Proc
}

// DevServerOptions describe a DevServerProc.
type DevServerOptions struct {
	CLI    string // the temporal CLI; default TemporalCLI()
	Dir    string // the log (temporal.log) and the file database go here
	FileDB bool   // keep history in Dir/temporal.db, so that a restart keeps it
	NoLog  bool   // discard the output instead of writing Dir/temporal.log
	Group  bool   // own process group
}

// NewDevServerProc prepares a dev server on free loopback ports; Start runs it.
func NewDevServerProc(o DevServerOptions) (*DevServerProc, error) {
	cli := o.CLI
	if cli == "" {
		var err error
		if cli, err = TemporalCLI(); err != nil {
			return nil, err
		}
	}
	var ports [3]int
	for i := range ports {
		var err error
		if ports[i], err = FreePort(); err != nil {
			return nil, err
		}
	}
	args := []string{"server", "start-dev", "--headless", "--ip", "127.0.0.1",
		"--port", strconv.Itoa(ports[0]), "--http-port", strconv.Itoa(ports[1]), "--metrics-port", strconv.Itoa(ports[2]),
		"--log-level", "error"}
	if o.FileDB {
		args = append(args, "--db-filename", filepath.Join(o.Dir, "temporal.db"))
	}
	args = append(args, pipeline.DevServerArgs()...) // the run's search attributes
	p := &Proc{Name: "temporal dev server", Path: cli, Args: args, Group: o.Group}
	if !o.NoLog {
		p.Log = filepath.Join(o.Dir, "temporal.log")
	}
	return &DevServerProc{Addr: "127.0.0.1:" + strconv.Itoa(ports[0]), MetricsAddr: "127.0.0.1:" + strconv.Itoa(ports[2]), Proc: p}, nil
}

// Start starts the server and waits (up to 90s) until its frontend is healthy.
func (d *DevServerProc) Start(ctx context.Context) error {
	if err := d.Proc.Start(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	c, err := Dial(wctx, d.Addr, d.Proc.Done())
	if err != nil {
		return fmt.Errorf("temporal dev server on %s (log %s): %w", d.Addr, d.Proc.Log, err)
	}
	c.Close()
	return nil
}

// Stop stops the server with SIGTERM, SIGKILL after grace.
func (d *DevServerProc) Stop(grace time.Duration) { d.Proc.Stop(syscall.SIGTERM, grace) }

// Dial connects a client (namespace default, logging nothing) to the
// frontend at addr and waits until it is healthy, ctx ends or exited closes.
func Dial(ctx context.Context, addr string, exited <-chan struct{}) (client.Client, error) {
	quiet := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: "default", Logger: quiet})
		if err == nil {
			hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = c.CheckHealth(hctx, &client.CheckHealthRequest{})
			cancel()
			if err == nil {
				return c, nil
			}
			c.Close()
		}
		select {
		case <-exited:
			return nil, errors.New("the server exited during start-up")
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
