// Command starter is the billing panel's entry point. `starter terminate
// --service-id N` validates the service, sends a fire-and-forget graceful
// shutdown to Proxmox, sets vm_status='terminate', starts TerminateWorkflow
// and prints "success" — well within a PHP request. Every failure is one
// line on stderr and a non-zero exit, with nothing written.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/internal/shortlived"
)

const usage = `usage:
  starter terminate     --service-id N [--now] [--follow] [--config FILE]   (--now: end the undo window, destroy now)
  starter restore       --service-id N [--config FILE]   (during the undo window: start the VM again, cancel the termination)
  starter status        --service-id N [--follow] [--config FILE]
  starter reset         --service-id N --to terminate|remove|ready|creation|set_ip|change_package|set_dns_records [--config FILE]
  starter delete-record --service-id N [--config FILE]
  starter plan          --service-id N [--json] [--config FILE]   (dry run: what a termination would do; changes nothing)
  starter adopt         --service-id N | --all [--dry-run] [--json] [--concurrency 8] [--config FILE]
  starter list          [--vm-status S] [--search TEXT] [--limit N [--offset N]] [--json] [--config FILE]
  starter log           --service-id N [--json] [--config FILE]   (the action log: one row per terminate attempt)`

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitWaiting = 3 // --follow: the run ended in error_terminate and waits for an admin
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type opts struct {
	cmd       string
	serviceID int
	follow    bool
	now       bool // terminate --now: skip the rest of the undo window
	to        string
	config    string
	timeout   time.Duration
	extra     extraOpts // adopt, list and --json (cli.go)
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parse(args)
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		if errors.Is(err, errUsage) {
			fmt.Fprintln(stderr, usage)
		}
		return exitUsage
	}
	if o.follow || o.cmd == "adopt" {
		// It outlives a request: the collector back (internal/shortlived).
		shortlived.Restore()
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if o.follow {
		ctx = context.Background() // following has no deadline: it ends with the run
	}
	s, err := newSession(ctx, o.config)
	if err != nil {
		fmt.Fprintln(stderr, "error:", oneLine(err.Error()))
		return exitError
	}
	defer s.close()
	code, err := s.dispatch(ctx, o, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "error:", oneLine(s.redact(err.Error())))
		if code == exitOK {
			code = exitError
		}
	}
	return code
}

var errUsage = errors.New("bad usage")

func parse(args []string) (opts, error) {
	var o opts
	if len(args) == 0 {
		return o, fmt.Errorf("%w: no command", errUsage)
	}
	o.cmd = args[0]
	if o.cmd == "-h" || o.cmd == "--help" || o.cmd == "help" {
		return o, fmt.Errorf("%w: help", errUsage)
	}
	if _, ok := commands[o.cmd]; !ok {
		return o, fmt.Errorf("%w: unknown command %q", errUsage, o.cmd)
	}
	fs := flag.NewFlagSet(o.cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	id := fs.String("service-id", "", "WHMCS service id (tblhosting.id)")
	fs.BoolVar(&o.follow, "follow", false, "stream the run's live lines until it ends or waits for an admin")
	fs.StringVar(&o.to, "to", "", "reset: the target vm_status")
	fs.BoolVar(&o.now, "now", false, "terminate: skip the rest of the run's undo window")
	fs.StringVar(&o.config, "config", "", "config file")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Second, "overall deadline (not with --follow)")
	o.extra.flags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if err := o.extra.check(fs, &o, *id); err != nil || o.extra.noServiceID {
		return o, err
	}
	n, err := parseServiceID(*id)
	if err != nil {
		return o, err
	}
	o.serviceID = n
	if o.cmd == "reset" && o.to == "" {
		return o, fmt.Errorf("%w: reset needs --to", errUsage)
	}
	if o.cmd != "reset" && o.to != "" {
		return o, fmt.Errorf("%w: --to is only for reset", errUsage)
	}
	if o.now && o.cmd != "terminate" {
		return o, fmt.Errorf("%w: --now is only for terminate", errUsage)
	}
	if o.follow && o.cmd != "terminate" && o.cmd != "status" {
		return o, fmt.Errorf("%w: --follow is only for terminate and status", errUsage)
	}
	if o.timeout <= 0 {
		return o, fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	return o, nil
}

// parseServiceID accepts a positive decimal integer that fits WHMCS's int(10).
func parseServiceID(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: --service-id is required", errUsage)
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("--service-id %q is not a positive integer", s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("--service-id %q is not a positive integer below 2147483648", s)
	}
	return int(n), nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
