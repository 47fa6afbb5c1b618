package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// extraOpts are the flags of adopt and list, and --json.
type extraOpts struct {
	all         bool
	dryRun      bool
	json        bool
	concurrency int
	vmStatus    string
	search      string
	limit       int
	offset      int
	noServiceID bool // adopt --all and list take no --service-id
}

func (e *extraOpts) flags(fs *flag.FlagSet) {
	fs.BoolVar(&e.all, "all", false, "adopt: every active service")
	fs.BoolVar(&e.dryRun, "dry-run", false, "adopt: report what would be recorded; write nothing")
	fs.BoolVar(&e.json, "json", false, "status, plan, adopt, list: one JSON document on stdout")
	fs.IntVar(&e.concurrency, "concurrency", 8, "adopt: Proxmox reads in flight")
	fs.StringVar(&e.vmStatus, "vm-status", "", "list: only rows in this vm_status")
	fs.StringVar(&e.search, "search", "", "list: only rows whose service id is this, or whose domain, IP or VM name contains it")
	fs.IntVar(&e.limit, "limit", 0, "list: rows at most (0: all)")
	fs.IntVar(&e.offset, "offset", 0, "list: rows skipped (with --limit)")
}

// adoptTimeout is adopt's deadline unless --timeout says otherwise: it
// reads every VM's config of the cluster.
const adoptTimeout = time.Hour

// check validates the extra flags against the command. It returns with
// noServiceID set when the command takes no --service-id.
func (e *extraOpts) check(fs *flag.FlagSet, o *opts, id string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	only := func(name string, cmds ...string) error {
		if !set[name] {
			return nil
		}
		for _, c := range cmds {
			if c == o.cmd {
				return nil
			}
		}
		return fmt.Errorf("%w: --%s is only for %s", errUsage, name, strings.Join(cmds, ", "))
	}
	for _, err := range []error{
		only("all", "adopt"), only("dry-run", "adopt"), only("concurrency", "adopt"), only("vm-status", "list"),
		only("search", "list"), only("limit", "list"), only("offset", "list"),
		only("json", "status", "plan", "adopt", "list", "log"),
	} {
		if err != nil {
			return err
		}
	}
	if e.json && o.follow {
		return fmt.Errorf("%w: --json and --follow do not go together", errUsage)
	}
	switch o.cmd {
	case "adopt":
		if !set["timeout"] {
			o.timeout = adoptTimeout
		}
		if e.concurrency < 1 || e.concurrency > 64 {
			return fmt.Errorf("%w: --concurrency must be between 1 and 64", errUsage)
		}
		if e.all && id != "" {
			return fmt.Errorf("%w: give --service-id N or --all, not both", errUsage)
		}
		if set["to"] || o.follow {
			return fmt.Errorf("%w: adopt takes no --to or --follow", errUsage)
		}
		e.noServiceID = e.all
		if e.all && o.timeout <= 0 {
			return fmt.Errorf("%w: --timeout must be positive", errUsage)
		}
	case "list":
		if id != "" || set["to"] || o.follow {
			return fmt.Errorf("%w: list takes no --service-id, --to or --follow", errUsage)
		}
		if o.timeout <= 0 {
			return fmt.Errorf("%w: --timeout must be positive", errUsage)
		}
		if e.limit < 0 || e.limit > maxListLimit {
			return fmt.Errorf("%w: --limit must be between 0 and %d", errUsage, maxListLimit)
		}
		if e.offset < 0 || (e.offset > 0 && e.limit == 0) {
			return fmt.Errorf("%w: --offset must not be negative and needs --limit", errUsage)
		}
		if len(e.search) > 255 {
			return fmt.Errorf("%w: --search is longer than 255 characters", errUsage)
		}
		e.noServiceID = true
	}
	return nil
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// StatusJSON is `starter status --json`. Field names are stable (README).
type StatusJSON struct {
	ServiceID int        `json:"service_id"`
	Run       bool       `json:"run"`     // a termination run exists
	Running   bool       `json:"running"` // it is still open (working or waiting for an admin)
	Phase     string     `json:"phase"`
	VMStatus  string     `json:"vm_status"`
	Attempt   int        `json:"attempt"`
	LastError string     `json:"last_error"`
	Lines     []LineJSON `json:"lines"`
	// GraceUntil is the end of the undo window while the run waits in it.
	GraceUntil *time.Time `json:"grace_until,omitempty"`
}

// LineJSON is one live line.
type LineJSON struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

func (s *session) statusJSON(ctx context.Context, o opts, out io.Writer) (int, error) {
	rs, err := s.describe(ctx, o.serviceID)
	if err != nil {
		return exitError, err
	}
	res := StatusJSON{ServiceID: o.serviceID, Run: rs.exists, Running: rs.running, Lines: []LineJSON{}}
	if !rs.exists {
		svc, err := s.store.LoadService(ctx, o.serviceID)
		if err != nil {
			return exitError, err
		}
		res.VMStatus, res.Attempt, res.LastError = svc.VM.VMStatus, svc.VM.TerminateAttempts, svc.VM.LastError
		return exitOK, writeJSON(out, res)
	}
	st, err := s.query(ctx, o.serviceID)
	if err != nil {
		return exitError, err
	}
	res.Phase, res.VMStatus, res.Attempt, res.LastError, res.GraceUntil = st.Phase, st.VMStatus, st.Attempt, st.LastError, st.GraceUntil
	for _, l := range st.Lines {
		res.Lines = append(res.Lines, LineJSON{At: l.At.UTC(), Text: s.redact(l.Text)})
	}
	return exitOK, writeJSON(out, res)
}

// PlanJSON is `starter plan --json`: the plan's lines, and whether a
// termination would be refused.
type PlanJSON struct {
	ServiceID int      `json:"service_id"`
	Refused   string   `json:"refused"` // why a termination would be refused now, or ""
	Steps     []string `json:"steps"`   // the plan, one line each, as `starter plan` prints them
}

func (s *session) planJSON(ctx context.Context, o opts, out io.Writer) (int, error) {
	var buf bytes.Buffer
	code, err := s.plan(ctx, o, &buf)
	res := PlanJSON{ServiceID: o.serviceID, Steps: []string{}}
	for _, l := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		if l != "" {
			res.Steps = append(res.Steps, l)
		}
	}
	if err != nil {
		if len(res.Steps) == 0 {
			return code, err // nothing to plan (no such service, ...): one error line
		}
		res.Refused = oneLine(s.redact(err.Error()))
	}
	if werr := writeJSON(out, res); werr != nil {
		return exitError, werr
	}
	return code, nil
}
