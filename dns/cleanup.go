package dns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
)

// Cleanup deletes the target's records on every provider: for each provider
// it lists the zones, and in every zone that matches the FQDN or an
// address's reverse name it deletes the A/AAAA records holding one of the
// target's addresses and the PTR records naming the FQDN. Records that point
// elsewhere are left alone and reported as SKIP. Each provider gets one
// Snapshot for the run, so a zone is read at most once (a failed read is
// tried again by the next record) and the deletes send only their writes.
//
// It never returns an error and never panics: every failure (provider down,
// authentication, 5xx, timeout, malformed answer) becomes a FAIL Result and
// the next record goes on. Providers run in parallel, each bounded by its
// Budget (and each HTTP call by its Timeout); results are returned in
// provider order, forward records before reverse ones.
func Cleanup(ctx context.Context, providers []Provider, t Target) []Result {
	return run(ctx, providers, t, false)
}

// Plan is a dry run of Cleanup: the same listing and matching, no change.
// Records Cleanup would delete are reported with Status PLAN; SKIP and FAIL
// lines are as Cleanup would report them before deleting.
func Plan(ctx context.Context, providers []Provider, t Target) []Result {
	return run(ctx, providers, t, true)
}

// target is the normalized Target.
type target struct {
	fqdn    string       // Canon form, "" when none or invalid
	display string       // fqdn as shown in lines
	ips     []netip.Addr // unmapped, zone-less, deduplicated, valid
	own     map[netip.Addr]bool
}

func normalize(t Target) (target, []Result) {
	var pre []Result
	n := target{own: map[netip.Addr]bool{}}
	raw := strings.TrimSpace(t.FQDN)
	if raw != "" {
		if reason := fqdnProblem(raw); reason != "" {
			pre = append(pre, Result{Op: OpForward, Status: StatusFail, Provider: "-", Zone: "-", Subject: raw, Reason: reason})
		} else {
			n.fqdn = core.Canon(raw)
			n.display = n.fqdn
		}
	}
	for _, ip := range t.IPs {
		if !ip.IsValid() {
			pre = append(pre, Result{Op: OpReverse, Status: StatusFail, Provider: "-", Zone: "-", Subject: "-", Reason: "invalid (zero) IP address in target"})
			continue
		}
		ip = ip.Unmap().WithZone("")
		if n.own[ip] {
			continue
		}
		n.own[ip] = true
		n.ips = append(n.ips, ip)
	}
	return n, pre
}

// fqdnProblem checks a domain name: ASCII (punycode for IDNs), labels of
// 1-63 letters, digits, '-' or '_', at most 253 characters.
func fqdnProblem(name string) string {
	c := core.Canon(name)
	if len(c) == 0 || len(c) > 253 {
		return "invalid domain name (length)"
	}
	for _, label := range strings.Split(c, ".") {
		if label == "" || len(label) > 63 {
			return "invalid domain name (empty or over-long label)"
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return "invalid domain name (use ASCII/punycode letters, digits, '-', '_')"
			}
		}
	}
	return ""
}

func run(ctx context.Context, providers []Provider, t Target, dry bool) []Result {
	tgt, pre := normalize(t)
	per := make([][]Result, len(providers))
	var wg sync.WaitGroup
	for i, p := range providers {
		if p == nil {
			per[i] = []Result{{Op: OpForward, Status: StatusFail, Provider: "-", Zone: "-", Subject: tgt.display, Reason: "nil provider"}}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			per[i] = runProvider(ctx, p, tgt, dry)
		}()
	}
	wg.Wait()

	out := pre
	touched := map[string]bool{} // subjects that got at least one line
	for _, rs := range per {
		for _, r := range rs {
			touched[r.Op+" "+r.Subject] = true
		}
		out = append(out, rs...)
	}
	// A subject no provider holds a zone for gets one line saying so.
	if tgt.fqdn != "" && !touched[OpForward+" "+tgt.display] {
		out = append(out, Result{Op: OpForward, Status: StatusSkip, Provider: "*", Zone: "-", Subject: tgt.display, Reason: "no matching zone on any provider"})
	}
	for _, ip := range tgt.ips {
		if !touched[OpReverse+" "+ip.String()] {
			out = append(out, Result{Op: OpReverse, Status: StatusSkip, Provider: "*", Zone: "-", Subject: ip.String(), Reason: "no matching zone on any provider"})
		}
	}
	return out
}

// worker runs one provider within its budget.
type worker struct {
	p      Provider
	tgt    target
	dry    bool
	label  string
	out    []Result
	redact func(string) string
	// snap is this run's copy of what the provider has read: every
	// Records and Delete call of the run shares it.
	snap *core.Snapshot
}

func runProvider(ctx context.Context, p Provider, tgt target, dry bool) (out []Result) {
	w := &worker{p: p, tgt: tgt, dry: dry, label: safeName(p), redact: func(s string) string { return s }, snap: core.NewSnapshot()}
	if r, ok := p.(core.Redactor); ok {
		w.redact = r.Redact
	}
	defer func() {
		if v := recover(); v != nil {
			w.fail(OpForward, "-", tgt.display, "", "", fmt.Sprintf("internal error: %v", v))
			out = w.out
		}
	}()
	budget := p.Budget()
	if budget <= 0 {
		budget = core.DefaultBudget
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	w.run(ctx)
	return w.out
}

func safeName(p Provider) (name string) {
	defer func() {
		if recover() != nil {
			name = "?"
		}
	}()
	return p.Name()
}

func (w *worker) add(r Result) {
	r.Provider = w.label
	r.Reason = w.redact(r.Reason)
	r.Content = w.redact(r.Content)
	w.out = append(w.out, r)
}

func (w *worker) fail(op, zone, subject, rtype, content, reason string) {
	w.add(Result{Op: op, Status: StatusFail, Zone: zone, Subject: subject, RecordType: rtype, Content: content, Reason: reason})
}

func (w *worker) skip(op, zone, subject, rtype, content, reason string) {
	w.add(Result{Op: op, Status: StatusSkip, Zone: zone, Subject: subject, RecordType: rtype, Content: content, Reason: reason})
}

func (w *worker) run(ctx context.Context) {
	zones, err := w.p.Zones(ctx)
	if err != nil {
		reason := "list zones: " + err.Error()
		if w.tgt.fqdn != "" {
			w.fail(OpForward, "-", w.tgt.display, "", "", reason)
		}
		for _, ip := range w.tgt.ips {
			w.fail(OpReverse, "-", ip.String(), "", "", reason)
		}
		return
	}
	sort.SliceStable(zones, func(i, j int) bool { return core.Canon(zones[i].Name) < core.Canon(zones[j].Name) })

	if w.tgt.fqdn != "" {
		for _, z := range zones {
			if core.ZoneMatches(w.tgt.fqdn, z.Name) {
				w.forward(ctx, z)
			}
		}
	}
	for _, ip := range w.tgt.ips {
		rn := core.Canon(core.ReverseName(ip))
		for _, z := range zones {
			if reason, bad := core.ReverseZoneProblem(z.Name, ip); bad {
				w.skip(OpReverse, core.Canon(z.Name), ip.String(), "PTR", "", reason)
				continue
			}
			if core.ZoneMatches(rn, z.Name) {
				w.reverse(ctx, z, ip, rn)
			}
		}
	}
}

// forward handles the A/AAAA records at the FQDN in zone z.
func (w *worker) forward(ctx context.Context, z Zone) {
	zone, subject := core.Canon(z.Name), w.tgt.display
	recs, err := w.p.Records(ctx, w.snap, z, w.tgt.fqdn)
	if err != nil {
		w.fail(OpForward, zone, subject, "", "", "list records: "+err.Error())
		return
	}
	found := false
	for _, rec := range recs {
		typ := strings.ToUpper(rec.Type)
		if typ != "A" && typ != "AAAA" {
			continue
		}
		found = true
		ip, err := netip.ParseAddr(strings.TrimSpace(rec.Content))
		if err != nil {
			w.skip(OpForward, zone, subject, typ, rec.Content, fmt.Sprintf("unparsable address (%s)", rec.Content))
			continue
		}
		ip = ip.Unmap().WithZone("")
		if !w.tgt.own[ip] {
			w.skip(OpForward, zone, subject, typ, ip.String(), fmt.Sprintf("points elsewhere (%s)", ip))
			continue
		}
		w.delete(ctx, OpForward, z, subject, typ, ip.String(), rec)
	}
	if !found {
		w.skip(OpForward, zone, subject, "", "", "no record")
	}
}

// reverse handles the PTR records at rn (the reverse name of ip) in zone z.
func (w *worker) reverse(ctx context.Context, z Zone, ip netip.Addr, rn string) {
	zone, subject := core.Canon(z.Name), ip.String()
	recs, err := w.p.Records(ctx, w.snap, z, rn)
	if err != nil {
		w.fail(OpReverse, zone, subject, "PTR", "", "list records: "+err.Error())
		return
	}
	found := false
	for _, rec := range recs {
		if !strings.EqualFold(rec.Type, "PTR") {
			continue
		}
		found = true
		points := core.Canon(strings.TrimSpace(rec.Content))
		if w.tgt.fqdn == "" || points != w.tgt.fqdn {
			w.skip(OpReverse, zone, subject, "PTR", points, fmt.Sprintf("points elsewhere (%s)", points))
			continue
		}
		w.delete(ctx, OpReverse, z, subject, "PTR", points, rec)
	}
	if !found {
		w.skip(OpReverse, zone, subject, "PTR", "", "no record")
	}
}

func (w *worker) delete(ctx context.Context, op string, z Zone, subject, typ, content string, rec Record) {
	zone := core.Canon(z.Name)
	if z.ReadOnly {
		reason := "read-only zone"
		if z.ReadOnlyReason != "" {
			reason += " (" + z.ReadOnlyReason + ")"
		}
		w.skip(op, zone, subject, typ, content, reason)
		return
	}
	if w.dry {
		w.add(Result{Op: op, Status: StatusPlan, Zone: zone, Subject: subject, RecordType: typ, Content: content, Reason: "dry run"})
		return
	}
	err := w.p.Delete(ctx, w.snap, z, rec)
	switch {
	case err == nil:
		w.add(Result{Op: op, Status: StatusOK, Zone: zone, Subject: subject, RecordType: typ, Content: content})
	case errors.Is(err, core.ErrNotFound):
		w.skip(op, zone, subject, typ, content, "already absent")
	default:
		w.fail(op, zone, subject, typ, content, err.Error())
	}
}
