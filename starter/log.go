package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// LogAttempt is one terminate attempt of `starter log --json`. Field names
// are stable (README).
type LogAttempt struct {
	Attempt    int       `json:"attempt"`
	Action     string    `json:"action"`
	StartedAt  time.Time `json:"started_at"`
	DurationMS int64     `json:"duration_ms"`
	Phase      string    `json:"phase"`  // last phase reached
	Result     string    `json:"result"` // success | error
	Errors     []string  `json:"errors"` // the failure reason first, then best-effort errors
	Lines      []string  `json:"lines"`  // the attempt's live lines
}

// LogJSON is `starter log --json`: a service's action log, oldest first.
type LogJSON struct {
	ServiceID int          `json:"service_id"`
	Attempts  []LogAttempt `json:"attempts"`
}

// log prints a service's action log (VM Management → Log). It reads the
// database only; a service with no VM row is an error.
func (s *session) log(ctx context.Context, o opts, out io.Writer) (int, error) {
	if _, ok, err := s.store.OwnRow(ctx, o.serviceID); err != nil {
		return exitError, err
	} else if !ok {
		return exitError, fmt.Errorf("service %d has no row in our VM table", o.serviceID)
	}
	rows, err := s.store.ActionLogs(ctx, o.serviceID)
	if err != nil {
		return exitError, err
	}
	res := LogJSON{ServiceID: o.serviceID, Attempts: make([]LogAttempt, 0, len(rows))}
	for _, r := range rows {
		res.Attempts = append(res.Attempts, LogAttempt{Attempt: r.Attempt, Action: r.Action, StartedAt: r.StartedAt.UTC(),
			DurationMS: r.DurationMS, Phase: r.Phase, Result: r.Result,
			Errors: s.redactLines(r.Errors), Lines: s.redactLines(r.Lines)})
	}
	if o.extra.json {
		return exitOK, writeJSON(out, res)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ATTEMPT\tSTARTED\tDURATION\tPHASE\tRESULT\tERROR")
	for _, a := range res.Attempts {
		first := ""
		if len(a.Errors) > 0 {
			first = a.Errors[0]
		}
		fmt.Fprintf(tw, "%d\t%s\t%.1fs\t%s\t%s\t%s\n", a.Attempt, a.StartedAt.Format("2006-01-02 15:04:05"),
			float64(a.DurationMS)/1000, a.Phase, a.Result, first)
	}
	return exitOK, tw.Flush()
}

// redactLines splits stored newline-joined text into redacted lines.
func (s *session) redactLines(text string) []string {
	out := []string{}
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, s.redact(l))
		}
	}
	return out
}
