// Package dnstest is what the DNS provider tests and doubles share: the
// provider test table every backend runs (the real pdns_server, pdnsfake,
// hestiatest and cftest; the same cases against the real PowerDNS and its
// fake keep the fake honest), a fault-injecting proxy, and the doubles'
// HTTP server life cycle and random credentials.
package dnstest

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// Rec is a record in comparison form: Canon name, upper-case type, content
// as a canonical address (A/AAAA) or Canon name (PTR).
type Rec struct{ Name, Type, Content string }

func (r Rec) String() string { return r.Name + " " + r.Type + " " + r.Content }

// Canonical builds a Rec from raw provider values.
func Canonical(name, rtype, content string) Rec {
	rtype = strings.ToUpper(rtype)
	c := strings.TrimSpace(content)
	switch rtype {
	case "A", "AAAA":
		if ip, err := netip.ParseAddr(c); err == nil {
			c = ip.Unmap().String()
		}
	case "PTR", "CNAME", "NS":
		c = core.Canon(c)
	}
	return Rec{Name: core.Canon(name), Type: rtype, Content: c}
}

// Backend is one provider implementation under test.
type Backend interface {
	// URL is the base URL the provider config points at.
	URL() string
	// Config is a valid config for this backend, labelled name, at url.
	Config(name, url string) core.ProviderConfig
	// BadAuth returns cfg with credentials the backend refuses.
	BadAuth(cfg core.ProviderConfig) core.ProviderConfig
	// CreateZone creates an empty zone (plus whatever the backend always
	// adds, e.g. SOA/NS, or Hestia's default apex A record).
	CreateZone(t testing.TB, zone string)
	// AddRecord adds one record (name absolute, without trailing dot).
	AddRecord(t testing.TB, zone, name, rtype, content string)
	// Records lists the zone's records.
	Records(t testing.TB, zone string) []Rec
	// Read names the records a request (as a FaultProxy saw it) reads:
	// the zone for an API that answers with the whole zone, the zone and
	// the name (and the page) for one that asks by name; "" for a request
	// that reads no records (the zone list, a delete).
	Read(r Seen) string
}

// fixture is one case's zones and target. ip4b (in rev4 too) is in the
// target of the cases that say so only.
type fixture struct {
	fwd, rev4, rev6 string
	fqdn            string
	ip4, ip4b, ip6  netip.Addr
	rn4, rn4b, rn6  string
}

func newFixture(n int) fixture {
	f := fixture{
		fwd:  fmt.Sprintf("case%d.test", n),
		ip4:  netip.MustParseAddr(fmt.Sprintf("192.0.%d.10", n)),
		ip4b: netip.MustParseAddr(fmt.Sprintf("192.0.%d.11", n)),
		ip6:  netip.MustParseAddr(fmt.Sprintf("2001:db8:%x::10", n)),
	}
	f.fqdn = "vm." + f.fwd
	f.rn4 = core.Canon(core.ReverseName(f.ip4))
	f.rn4b = core.Canon(core.ReverseName(f.ip4b))
	f.rn6 = core.Canon(core.ReverseName(f.ip6))
	f.rev4 = fmt.Sprintf("%d.0.192.in-addr.arpa", n)
	labels := strings.Split(f.rn6, ".")
	f.rev6 = strings.Join(labels[len(labels)-14:], ".") // the /48: 12 nibbles + ip6.arpa
	return f
}

func (f fixture) target() dns.Target {
	return dns.Target{FQDN: f.fqdn, IPs: []netip.Addr{f.ip4, f.ip6}}
}

func (f fixture) zones(t testing.TB, b Backend) {
	b.CreateZone(t, f.fwd)
	b.CreateZone(t, f.rev4)
	b.CreateZone(t, f.rev6)
}

func (f fixture) populate(t testing.TB, b Backend) {
	f.zones(t, b)
	b.AddRecord(t, f.fwd, f.fqdn, "A", f.ip4.String())
	b.AddRecord(t, f.fwd, f.fqdn, "AAAA", f.ip6.String())
	b.AddRecord(t, f.fwd, "www."+f.fwd, "A", "198.51.100.1")
	b.AddRecord(t, f.rev4, f.rn4, "PTR", f.fqdn+".")
	b.AddRecord(t, f.rev6, f.rn6, "PTR", f.fqdn+".")
}

// threeA creates f's zones with one A rrset at f's name: ip4, ip4b and
// 198.51.100.9, which no target has.
func (f fixture) threeA(t testing.TB, b Backend) {
	f.zones(t, b)
	b.AddRecord(t, f.fwd, f.fqdn, "A", f.ip4.String())
	b.AddRecord(t, f.fwd, f.fqdn, "A", f.ip4b.String())
	b.AddRecord(t, f.fwd, f.fqdn, "A", "198.51.100.9")
}

// clean runs dns.Cleanup for f's target with a provider built from cfg.
func (f fixture) clean(t testing.TB, cfg core.ProviderConfig) []dns.Result {
	t.Helper()
	return dns.Cleanup(context.Background(), []dns.Provider{build(t, cfg, nil)}, f.target())
}

// fwdLine, rev4Line and rev6Line are the outcome lines for f's name and
// addresses; tail ("" or " : reason") follows the subject.
func (f fixture) fwdLine(status, tail string) string {
	return fmt.Sprintf("fwd-del %s [%s] %s ← %s%s", status, label, f.fwd, f.fqdn, tail)
}

func (f fixture) rev4Line(status, tail string) string {
	return fmt.Sprintf("rev-del %s [%s] %s ← %s%s", status, label, f.rev4, f.ip4, tail)
}

func (f fixture) rev6Line(status, tail string) string {
	return fmt.Sprintf("rev-del %s [%s] %s ← %s%s", status, label, f.rev6, f.ip6, tail)
}

func (f fixture) rev4bLine(status, tail string) string {
	return fmt.Sprintf("rev-del %s [%s] %s ← %s%s", status, label, f.rev4, f.ip4b, tail)
}

// found is what a run with status OK (Cleanup) or PLAN (Plan) says of
// populate's records of f's target: its A and AAAA and both PTR records.
func (f fixture) found(status string) []string {
	return []string{f.fwdLine(status, ""), f.fwdLine(status, ""), f.rev4Line(status, ""), f.rev6Line(status, "")}
}

// noRecords is what a cleanup that finds none of f's records says.
func (f fixture) noRecords() []string {
	return []string{f.fwdLine("SKIP", " : no record"), f.rev4Line("SKIP", " : no record"), f.rev6Line("SKIP", " : no record")}
}

// kept checks that f's name holds only an A record a and its IPv4 reverse
// name only a PTR record ptr.
func (f fixture) kept(t testing.TB, b Backend, a, ptr string) {
	t.Helper()
	sameRecs(t, "A kept", at(b.Records(t, f.fwd), f.fqdn), Rec{f.fqdn, "A", a})
	sameRecs(t, "PTR kept", at(b.Records(t, f.rev4), f.rn4), Rec{f.rn4, "PTR", ptr})
}

// intact checks that f's forward records (populate's) are all still there.
func (f fixture) intact(t testing.TB, b Backend) {
	t.Helper()
	sameRecs(t, "nothing deleted", at(b.Records(t, f.fwd), f.fqdn),
		Rec{f.fqdn, "A", f.ip4.String()}, Rec{f.fqdn, "AAAA", f.ip6.String()})
}

func build(t testing.TB, cfg core.ProviderConfig, obs dns.Observer) dns.Provider {
	t.Helper()
	p, err := dns.New(cfg, obs)
	if err != nil {
		t.Fatalf("building provider: %v", err)
	}
	return p
}

// at returns the records at name.
func at(recs []Rec, name string) []Rec {
	var out []Rec
	for _, r := range recs {
		if r.Name == core.Canon(name) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func lines(rs []dns.Result) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString("\n\t")
		b.WriteString(r.Line())
	}
	return b.String()
}

// expect checks that rs holds exactly the wanted lines (order-insensitive).
func expect(t testing.TB, rs []dns.Result, want ...string) {
	t.Helper()
	got := make([]string, 0, len(rs))
	for _, r := range rs {
		got = append(got, r.Line())
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("results:\n got:%s\nwant:\n\t%s", lines(rs), strings.Join(want, "\n\t"))
	}
}

func sameRecs(t testing.TB, what string, got []Rec, want ...Rec) {
	t.Helper()
	sort.Slice(want, func(i, j int) bool { return want[i].String() < want[j].String() })
	got = append([]Rec(nil), got...)
	sort.Slice(got, func(i, j int) bool { return got[i].String() < got[j].String() })
	g := fmt.Sprint(got)
	w := fmt.Sprint(want)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if g != w {
		t.Errorf("%s: records\n got %v\nwant %v", what, got, want)
	}
}

// label is the provider label the table's outcome lines use.
const label = "p"

// Run runs the provider table against b.
func Run(t *testing.T, b Backend) {
	n := 0
	next := func() fixture { n++; return newFixture(n) }
	ctx := context.Background()

	t.Run("success deletes our records and keeps others", func(t *testing.T) {
		f := next()
		f.populate(t, b)
		var calls []dns.Call
		p := build(t, b.Config(label, b.URL()), func(c dns.Call) { calls = append(calls, c) })
		rs := dns.Cleanup(ctx, []dns.Provider{p}, f.target())
		expect(t, rs, f.found("OK")...)
		types := map[string]bool{}
		for _, r := range rs {
			if r.Op == dns.OpForward {
				types[r.RecordType+" "+r.Content] = true
			}
		}
		if !types["A "+f.ip4.String()] || !types["AAAA "+f.ip6.String()] {
			t.Errorf("forward results should name A %s and AAAA %s: %v", f.ip4, f.ip6, types)
		}
		fwd := b.Records(t, f.fwd)
		sameRecs(t, "fqdn", at(fwd, f.fqdn))
		sameRecs(t, "www kept", at(fwd, "www."+f.fwd), Rec{"www." + f.fwd, "A", "198.51.100.1"})
		sameRecs(t, "ptr4", at(b.Records(t, f.rev4), f.rn4))
		sameRecs(t, "ptr6", at(b.Records(t, f.rev6), f.rn6))
		if len(calls) == 0 {
			t.Fatal("observer saw no calls")
		}
		for _, c := range calls {
			if c.Provider != label || c.Method == "" || c.URL == "" || c.Status == 0 || c.Err != "" {
				t.Errorf("unexpected call record %+v", c)
			}
		}

		// Running again finds nothing left: every subject is "no record".
		expect(t, dns.Cleanup(ctx, []dns.Provider{p}, f.target()), f.noRecords()...)
	})

	t.Run("plan changes nothing", func(t *testing.T) {
		f := next()
		f.populate(t, b)
		before := b.Records(t, f.fwd)
		p := build(t, b.Config(label, b.URL()), nil)
		rs := dns.Plan(ctx, []dns.Provider{p}, f.target())
		expect(t, rs, f.found("PLAN")...)
		sameRecs(t, "forward zone unchanged", b.Records(t, f.fwd), before...)
		sameRecs(t, "ptr4 unchanged", at(b.Records(t, f.rev4), f.rn4), Rec{f.rn4, "PTR", f.fqdn})
	})

	t.Run("already absent", func(t *testing.T) {
		f := next()
		f.zones(t, b)
		expect(t, f.clean(t, b.Config(label, b.URL())), f.noRecords()...)
	})

	t.Run("records pointing elsewhere are left alone", func(t *testing.T) {
		f := next()
		f.zones(t, b)
		b.AddRecord(t, f.fwd, f.fqdn, "A", "198.51.100.7")
		b.AddRecord(t, f.rev4, f.rn4, "PTR", "other.example.net.")
		expect(t, f.clean(t, b.Config(label, b.URL())),
			f.fwdLine("SKIP", " : points elsewhere (198.51.100.7)"),
			f.rev4Line("SKIP", " : points elsewhere (other.example.net)"),
			f.rev6Line("SKIP", " : no record"),
		)
		f.kept(t, b, "198.51.100.7", "other.example.net")
	})

	t.Run("multi-record rrset keeps the other records", func(t *testing.T) {
		f := next()
		f.zones(t, b)
		b.AddRecord(t, f.fwd, f.fqdn, "A", f.ip4.String())
		b.AddRecord(t, f.fwd, f.fqdn, "A", "198.51.100.9")
		b.AddRecord(t, f.rev4, f.rn4, "PTR", strings.ToUpper(f.fqdn)+".") // case must not matter
		b.AddRecord(t, f.rev4, f.rn4, "PTR", "other.example.net.")
		expect(t, f.clean(t, b.Config(label, b.URL())),
			f.fwdLine("OK", ""),
			f.fwdLine("SKIP", " : points elsewhere (198.51.100.9)"),
			f.rev4Line("OK", ""),
			f.rev4Line("SKIP", " : points elsewhere (other.example.net)"),
			f.rev6Line("SKIP", " : no record"),
		)
		f.kept(t, b, "198.51.100.9", "other.example.net")
	})

	// A run reads each zone once (each name once, for an API that asks by
	// name), however many of its records it deletes, dry or not.
	t.Run("one read of each zone per run", func(t *testing.T) {
		for _, dry := range []bool{false, true} {
			f := next()
			f.populate(t, b)
			px := NewFaultProxy(b.URL())
			t.Cleanup(px.Close)
			p := build(t, b.Config(label, px.URL), nil)
			run, status := dns.Cleanup, "OK"
			if dry {
				run, status = dns.Plan, "PLAN"
			}
			expect(t, run(ctx, []dns.Provider{p}, f.target()), f.found(status)...)
			readOnce(t, b, px, fmt.Sprintf("dry=%v, A, AAAA and two PTR in three zones", dry), 3)
		}
	})

	// Two of the target's addresses in one rrset and one reverse zone: the
	// second delete of the rrset starts from what the first one left.
	t.Run("one read of each zone with two deletes in one rrset", func(t *testing.T) {
		f := next()
		f.threeA(t, b)
		b.AddRecord(t, f.fwd, f.fqdn, "AAAA", f.ip6.String())
		b.AddRecord(t, f.rev4, f.rn4, "PTR", f.fqdn+".")
		b.AddRecord(t, f.rev4, f.rn4b, "PTR", f.fqdn+".")
		b.AddRecord(t, f.rev6, f.rn6, "PTR", f.fqdn+".")
		px := NewFaultProxy(b.URL())
		t.Cleanup(px.Close)
		p := build(t, b.Config(label, px.URL), nil)
		tgt := dns.Target{FQDN: f.fqdn, IPs: []netip.Addr{f.ip4, f.ip4b, f.ip6}}
		expect(t, dns.Cleanup(ctx, []dns.Provider{p}, tgt),
			f.fwdLine("OK", ""), f.fwdLine("OK", ""), f.fwdLine("OK", ""),
			f.fwdLine("SKIP", " : points elsewhere (198.51.100.9)"),
			f.rev4Line("OK", ""), f.rev4bLine("OK", ""), f.rev6Line("OK", ""),
		)
		readOnce(t, b, px, "three A (two ours), AAAA, three PTR (two in one zone)", 3)
		sameRecs(t, "A kept, AAAA gone", at(b.Records(t, f.fwd), f.fqdn), Rec{f.fqdn, "A", "198.51.100.9"})
		sameRecs(t, "ptr4", at(b.Records(t, f.rev4), f.rn4))
		sameRecs(t, "ptr4b", at(b.Records(t, f.rev4), f.rn4b))
		sameRecs(t, "ptr6", at(b.Records(t, f.rev6), f.rn6))
	})

	// A delete that reaches the server but whose answer is lost leaves the
	// run not knowing the zone: the next delete in the rrset must not undo it.
	t.Run("a delete whose answer is lost is not undone by the next", func(t *testing.T) {
		f := next()
		f.threeA(t, b)
		px := NewFaultProxy(b.URL())
		t.Cleanup(px.Close)
		first := true
		var mu sync.Mutex
		px.SetLose(func(r *http.Request, body []byte) bool {
			mu.Lock()
			defer mu.Unlock()
			lose := first && isDelete(r, body)
			first = first && !lose
			return lose
		})
		c := b.Config(label, px.URL)
		c.Timeout = 500 * time.Millisecond
		rs := dns.Cleanup(ctx, []dns.Provider{build(t, c, nil)}, dns.Target{FQDN: f.fqdn, IPs: []netip.Addr{f.ip4, f.ip4b}})
		expect(t, rs,
			f.fwdLine("FAIL", " : no answer within 500ms (timeout)"), f.fwdLine("OK", ""),
			f.fwdLine("SKIP", " : points elsewhere (198.51.100.9)"),
			f.rev4Line("SKIP", " : no record"), f.rev4bLine("SKIP", " : no record"),
		)
		sameRecs(t, "A left", at(b.Records(t, f.fwd), f.fqdn), Rec{f.fqdn, "A", "198.51.100.9"})
	})

	t.Run("authentication failure", func(t *testing.T) {
		f := next()
		f.populate(t, b)
		allFail(t, f.clean(t, b.BadAuth(b.Config(label, b.URL()))), 3, "401", "403", "E_PASSWORD")
		f.intact(t, b)
	})

	faulty := func(t *testing.T, setup func(*FaultProxy), cfg func(*core.ProviderConfig), within time.Duration, reasons ...string) {
		t.Helper()
		f := next()
		f.populate(t, b)
		px := NewFaultProxy(b.URL())
		t.Cleanup(px.Close)
		setup(px)
		c := b.Config(label, px.URL)
		if cfg != nil {
			cfg(&c)
		}
		start := time.Now()
		rs := f.clean(t, c)
		if el := time.Since(start); el > within {
			t.Errorf("Cleanup took %s, bound %s", el, within)
		}
		allFail(t, rs, 3, reasons...)
		f.intact(t, b)
	}

	t.Run("server error", func(t *testing.T) {
		faulty(t, func(px *FaultProxy) { px.SetStatus(500, "text/plain", "Internal Server Error") }, nil, 10*time.Second, "500")
	})
	t.Run("malformed answer", func(t *testing.T) {
		faulty(t, func(px *FaultProxy) { px.SetStatus(200, "application/json", "{this is not json") }, nil, 10*time.Second, "malformed", "expected an exit code")
	})
	t.Run("timeout per call is bounded", func(t *testing.T) {
		faulty(t, func(px *FaultProxy) { px.SetHang() }, func(c *core.ProviderConfig) {
			c.Timeout, c.Budget = 200*time.Millisecond, 5*time.Second
		}, 3*time.Second, "timeout")
	})
	t.Run("budget per provider is bounded", func(t *testing.T) {
		faulty(t, func(px *FaultProxy) { px.SetHang() }, func(c *core.ProviderConfig) {
			c.Timeout, c.Budget = 5*time.Second, 300*time.Millisecond
		}, 2*time.Second, "budget")
	})
	t.Run("failed deletes do not stop the next record", func(t *testing.T) {
		f := next()
		f.populate(t, b)
		px := NewFaultProxy(b.URL())
		t.Cleanup(px.Close)
		px.SetMatch(isDelete, 500, "text/plain", "Internal Server Error")
		rs := f.clean(t, b.Config(label, px.URL))
		allFail(t, rs, 4, "500")
		if len(rs) == 4 && (rs[0].Op != dns.OpForward || rs[2].Subject != f.ip4.String() || rs[3].Subject != f.ip6.String()) {
			t.Errorf("every record should get its own line, in order:%s", lines(rs))
		}
		f.intact(t, b)
		// An error answer changed nothing: the zones need no second read.
		readOnce(t, b, px, "every delete answered 500", 3)
	})

	t.Run("provider down", func(t *testing.T) {
		f := next()
		c := b.Config(label, "http://"+testenv.Addr(t)) // nothing listens there
		c.Timeout = 2 * time.Second
		allFail(t, f.clean(t, c), 3, "refused")
	})
}

// readOnce checks that the run behind px read each thing it read once,
// and read records of zones zones (for an API that answers with whole
// zones; one that asks by name reads at least that many names).
func readOnce(t testing.TB, b Backend, px *FaultProxy, what string, zones int) {
	t.Helper()
	n := map[string]int{}
	total := 0
	for _, r := range px.Requests() {
		if k := b.Read(r); k != "" {
			n[k]++
			total++
		}
	}
	t.Logf("%s: %d record reads: %v", what, total, n)
	for k, c := range n {
		if c != 1 {
			t.Errorf("%s: %s read %d times, want once", what, k, c)
		}
	}
	if len(n) < zones {
		t.Errorf("%s: %d distinct reads %v, want at least %d", what, len(n), n, zones)
	}
}

// isDelete matches the requests that change records: PowerDNS PATCH,
// Cloudflare DELETE, HestiaCP v-delete-dns-record.
func isDelete(r *http.Request, body []byte) bool {
	return r.Method == http.MethodPatch || r.Method == http.MethodDelete ||
		strings.Contains(string(body), "cmd=v-delete-dns-record")
}

// allFail checks that rs are n FAIL lines whose reasons each contain one
// of the given words.
func allFail(t testing.TB, rs []dns.Result, n int, words ...string) {
	t.Helper()
	if len(rs) != n {
		t.Errorf("want %d results, got:%s", n, lines(rs))
	}
	for _, r := range rs {
		ok := r.Status == dns.StatusFail
		hit := false
		for _, w := range words {
			if strings.Contains(r.Reason, w) {
				hit = true
			}
		}
		if !ok || !hit {
			t.Errorf("want FAIL mentioning one of %q, got %q", words, r.Line())
		}
	}
}
