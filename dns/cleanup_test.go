package dns_test

import (
	"context"
	"errors"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/cloudflare/cftest"
	"github.com/proxmox-terminate/proxmox-terminate/dns/hestia/hestiatest"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns/pdnsfake"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

var (
	vmIP4 = netip.MustParseAddr("192.0.2.10")
	vmIP6 = netip.MustParseAddr("2001:db8::10")
	vm    = dns.Target{FQDN: "vm.example.test", IPs: []netip.Addr{vmIP4, vmIP6}}
)

const (
	rev4 = "2.0.192.in-addr.arpa"
	rev6 = "8.b.d.0.1.0.0.2.ip6.arpa"
)

func lineSet(rs []dns.Result) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Line())
	}
	return out
}

func wantLines(t *testing.T, rs []dns.Result, want ...string) {
	t.Helper()
	got := lineSet(rs)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// populatePDNS puts the VM's records in forward and reverse zones.
func populatePDNS(t *testing.T, s *pdnsfake.Server) {
	for _, z := range []string{"example.test", rev4, rev6} {
		must(t, s.CreateZone(z))
	}
	must(t, s.AddRecord("example.test", "vm.example.test", "A", vmIP4.String(), 300))
	must(t, s.AddRecord("example.test", "vm.example.test", "AAAA", vmIP6.String(), 300))
	must(t, s.AddRecord(rev4, dns.ReverseName(vmIP4), "PTR", "vm.example.test.", 300))
	must(t, s.AddRecord(rev6, dns.ReverseName(vmIP6), "PTR", "vm.example.test.", 300))
}

// One provider is down, another holds the same zone: the down one gets
// FAIL lines, the other deletes, and Cleanup completes.
func TestCleanupOneProviderDownOtherHoldsSameZone(t *testing.T) {
	up := pdnsfake.Start(t)
	populatePDNS(t, up)
	down := dns.ProviderConfig{Kind: "powerdns", Name: "pdns-down", URL: "http://" + testenv.Addr(t), APIKey: "k", Timeout: time.Second}
	ps, err := dns.Build([]dns.ProviderConfig{down, up.Config("pdns-up")}, nil)
	must(t, err)
	start := time.Now()
	rs := dns.Cleanup(context.Background(), ps, vm)
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
	wantLines(t, rs,
		"fwd-del FAIL [pdns-down] - ← vm.example.test : list zones: request failed: dial tcp "+strings.TrimPrefix(down.URL, "http://")+": connect: connection refused",
		"rev-del FAIL [pdns-down] - ← 192.0.2.10 : list zones: request failed: dial tcp "+strings.TrimPrefix(down.URL, "http://")+": connect: connection refused",
		"rev-del FAIL [pdns-down] - ← 2001:db8::10 : list zones: request failed: dial tcp "+strings.TrimPrefix(down.URL, "http://")+": connect: connection refused",
		"fwd-del OK [pdns-up] example.test ← vm.example.test",
		"fwd-del OK [pdns-up] example.test ← vm.example.test",
		"rev-del OK [pdns-up] "+rev4+" ← 192.0.2.10",
		"rev-del OK [pdns-up] "+rev6+" ← 2001:db8::10",
	)
	// Provider order is kept: the down provider's lines come first.
	if rs[0].Provider != "pdns-down" || rs[len(rs)-1].Provider != "pdns-up" {
		t.Errorf("order: %v", lineSet(rs))
	}
}

// The same zones on all three kinds: every matching zone on every
// provider is cleaned.
func TestCleanupEveryProviderEveryZone(t *testing.T) {
	p := pdnsfake.Start(t)
	populatePDNS(t, p)

	h := hestiatest.Start(t)
	ak, sk := h.AddAccessKey("admin")
	h.CreateZone("bob", "example.test", "198.51.100.250")
	h.CreateZone("bob", rev4, "")
	_, err := h.AddRecord("bob", "example.test", "vm", "A", vmIP4.String())
	must(t, err)
	_, err = h.AddRecord("bob", rev4, "10", "PTR", "vm.example.test")
	must(t, err)

	c := cftest.Start(t)
	tok := c.AddToken()
	c.CreateZone("example.test")
	c.CreateZone(rev6)
	_, err = c.AddRecord("example.test", "vm", "AAAA", vmIP6.String(), 1)
	must(t, err)
	_, err = c.AddRecord(rev6, dns.ReverseName(vmIP6), "PTR", "vm.example.test", 1)
	must(t, err)

	var calls []dns.Call
	ps, err := dns.Build([]dns.ProviderConfig{
		p.Config("powerdns"),
		{Kind: "hestiacp", URL: h.URL, User: "bob", AccessKey: ak, SecretKey: sk},
		{Kind: "cloudflare", URL: c.URL, Token: tok},
	}, func(c dns.Call) { calls = append(calls, c) })
	must(t, err)
	rs := dns.Cleanup(context.Background(), ps, vm)
	wantLines(t, rs,
		"fwd-del OK [powerdns] example.test ← vm.example.test",
		"fwd-del OK [powerdns] example.test ← vm.example.test",
		"rev-del OK [powerdns] "+rev4+" ← 192.0.2.10",
		"rev-del OK [powerdns] "+rev6+" ← 2001:db8::10",
		"fwd-del OK [hestiacp] example.test ← vm.example.test",
		"rev-del OK [hestiacp] "+rev4+" ← 192.0.2.10",
		"fwd-del OK [cloudflare] example.test ← vm.example.test",
		"rev-del OK [cloudflare] "+rev6+" ← 2001:db8::10",
	)
	seen := map[string]bool{}
	for _, c := range calls {
		seen[c.Provider] = true
	}
	if len(seen) != 3 {
		t.Errorf("observer saw providers %v", seen)
	}
}

func TestCleanupMatchingDetails(t *testing.T) {
	s := pdnsfake.Start(t)
	must(t, s.CreateZone("example.test"))
	must(t, s.CreateZone("sub.example.test"))
	must(t, s.CreateZone("0/26.2.0.192.in-addr.arpa"))
	must(t, s.CreateZone("db8.0.1.0.0.2.ip6.arpa"))
	must(t, s.AddRecord("sub.example.test", "vm.sub.example.test", "A", "192.0.2.10", 300))
	ps, err := dns.Build([]dns.ProviderConfig{s.Config("pdns")}, nil)
	must(t, err)
	target := dns.Target{
		FQDN: "VM.Sub.Example.Test.",
		IPs: []netip.Addr{
			netip.MustParseAddr("::ffff:192.0.2.10"), // IPv4-mapped: the same as 192.0.2.10
			netip.MustParseAddr("192.0.2.10"),        // duplicate
			netip.MustParseAddr("192.0.2.100"),       // outside the /26
			netip.MustParseAddr("2001:db8::1"),
		},
	}
	rs := dns.Cleanup(context.Background(), ps, target)
	wantLines(t, rs,
		// Both zones holding the name are looked at.
		"fwd-del SKIP [pdns] example.test ← vm.sub.example.test : no record",
		"fwd-del OK [pdns] sub.example.test ← vm.sub.example.test",
		// Classless and nibble-unaligned zones are reported, never matched.
		"rev-del SKIP [pdns] 0/26.2.0.192.in-addr.arpa ← 192.0.2.10 : classless (RFC 2317) or malformed reverse zone 0/26.2.0.192.in-addr.arpa is unsupported; PTR not checked",
		"rev-del SKIP [pdns] db8.0.1.0.0.2.ip6.arpa ← 2001:db8::1 : nibble-unaligned or malformed reverse zone db8.0.1.0.0.2.ip6.arpa is unsupported; PTR not checked",
		"rev-del SKIP [*] - ← 192.0.2.100 : no matching zone on any provider",
	)
}

func TestCleanupInvalidTargetAndNoZones(t *testing.T) {
	s := pdnsfake.Start(t)
	ps, err := dns.Build([]dns.ProviderConfig{s.Config("pdns")}, nil)
	must(t, err)
	rs := dns.Cleanup(context.Background(), ps, dns.Target{FQDN: "bad name!", IPs: []netip.Addr{{}, vmIP4}})
	wantLines(t, rs,
		"fwd-del FAIL [-] - ← bad name! : invalid domain name (use ASCII/punycode letters, digits, '-', '_')",
		"rev-del FAIL [-] - ← - : invalid (zero) IP address in target",
		"rev-del SKIP [*] - ← 192.0.2.10 : no matching zone on any provider",
	)
	rs = dns.Cleanup(context.Background(), nil, vm)
	wantLines(t, rs,
		"fwd-del SKIP [*] - ← vm.example.test : no matching zone on any provider",
		"rev-del SKIP [*] - ← 192.0.2.10 : no matching zone on any provider",
		"rev-del SKIP [*] - ← 2001:db8::10 : no matching zone on any provider",
	)
}

func TestCleanupWithoutFQDNLeavesPTRs(t *testing.T) {
	s := pdnsfake.Start(t)
	populatePDNS(t, s)
	ps, err := dns.Build([]dns.ProviderConfig{s.Config("pdns")}, nil)
	must(t, err)
	rs := dns.Cleanup(context.Background(), ps, dns.Target{IPs: []netip.Addr{vmIP4}})
	wantLines(t, rs, "rev-del SKIP [pdns] "+rev4+" ← 192.0.2.10 : points elsewhere (vm.example.test)")
}

func TestCleanupReadOnlyZone(t *testing.T) {
	s := pdnsfake.Start(t)
	must(t, s.CreateZone("example.test"))
	must(t, s.AddRecord("example.test", "vm.example.test", "A", vmIP4.String(), 300))
	p, err := powerdns.New(s.Config("pdns"), nil)
	must(t, err)
	ro := readOnly{p}
	rs := dns.Cleanup(context.Background(), []dns.Provider{ro}, dns.Target{FQDN: "vm.example.test", IPs: []netip.Addr{vmIP4}})
	wantLines(t, rs,
		"fwd-del SKIP [pdns] example.test ← vm.example.test : read-only zone (secondary zone; change the primary)",
		"rev-del SKIP [*] - ← 192.0.2.10 : no matching zone on any provider",
	)
}

// readOnly marks every zone of a provider as a secondary.
type readOnly struct{ *powerdns.Provider }

func (r readOnly) Zones(ctx context.Context) ([]dns.Zone, error) {
	zs, err := r.Provider.Zones(ctx)
	for i := range zs {
		zs[i].ReadOnly, zs[i].ReadOnlyReason = true, "secondary zone; change the primary"
	}
	return zs, err
}

// stub is a scripted provider for engine behaviour.
type stub struct {
	name    string
	zones   []dns.Zone
	records map[string][]dns.Record
	panicOn string
	delErr  error
	deleted []string
	snaps   []*dns.Snapshot // the snapshot of each Records and Delete call
}

func (s *stub) Name() string           { return s.name }
func (s *stub) Kind() string           { return "stub" }
func (s *stub) Budget() time.Duration  { return time.Second }
func (s *stub) Redact(v string) string { return strings.ReplaceAll(v, "TOPSECRET", "REDACTED") }
func (s *stub) Zones(context.Context) ([]dns.Zone, error) {
	return s.zones, nil
}

func (s *stub) Records(_ context.Context, snap *dns.Snapshot, z dns.Zone, name string) ([]dns.Record, error) {
	s.snaps = append(s.snaps, snap)
	if s.panicOn == name {
		panic("boom at " + name)
	}
	return s.records[name], nil
}

func (s *stub) Delete(_ context.Context, snap *dns.Snapshot, z dns.Zone, r dns.Record) error {
	s.snaps = append(s.snaps, snap)
	s.deleted = append(s.deleted, r.Content)
	return s.delErr
}

func TestCleanupSurvivesPanicsAndRedacts(t *testing.T) {
	bad := &stub{name: "bad", zones: []dns.Zone{{ID: "1", Name: "example.test"}}, panicOn: "vm.example.test"}
	odd := &stub{name: "odd", zones: []dns.Zone{{ID: "1", Name: "example.test"}, {ID: "2", Name: rev4}},
		records: map[string][]dns.Record{
			"vm.example.test":         {{Name: "vm.example.test", Type: "A", Content: "not-an-ip"}, {Name: "vm.example.test", Type: "A", Content: "192.0.2.10"}, {Type: "TXT", Content: "x"}},
			"10.2.0.192.in-addr.arpa": {{Type: "PTR", Content: "vm.example.test."}},
		},
		delErr: errors.New("backend said TOPSECRET"),
	}
	gone := &stub{name: "gone", zones: []dns.Zone{{ID: "1", Name: rev4}},
		records: map[string][]dns.Record{"10.2.0.192.in-addr.arpa": {{Type: "PTR", Content: "VM.EXAMPLE.TEST"}}},
		delErr:  dns.ErrNotFound,
	}
	rs := dns.Cleanup(context.Background(), []dns.Provider{bad, odd, gone, nil}, dns.Target{FQDN: "vm.example.test", IPs: []netip.Addr{vmIP4}})
	wantLines(t, rs,
		"fwd-del FAIL [bad] - ← vm.example.test : internal error: boom at vm.example.test",
		"fwd-del SKIP [odd] example.test ← vm.example.test : unparsable address (not-an-ip)",
		"fwd-del FAIL [odd] example.test ← vm.example.test : backend said REDACTED",
		"rev-del FAIL [odd] "+rev4+" ← 192.0.2.10 : backend said REDACTED",
		"rev-del SKIP [gone] "+rev4+" ← 192.0.2.10 : already absent",
		"fwd-del FAIL [-] - ← vm.example.test : nil provider",
	)
	if len(odd.deleted) != 2 {
		t.Errorf("deletes attempted: %v", odd.deleted)
	}
	plan := dns.Plan(context.Background(), []dns.Provider{odd}, dns.Target{FQDN: "vm.example.test", IPs: []netip.Addr{vmIP4}})
	wantLines(t, plan,
		"fwd-del SKIP [odd] example.test ← vm.example.test : unparsable address (not-an-ip)",
		"fwd-del PLAN [odd] example.test ← vm.example.test",
		"rev-del PLAN [odd] "+rev4+" ← 192.0.2.10",
	)
	if len(odd.deleted) != 2 {
		t.Errorf("Plan deleted: %v", odd.deleted)
	}
}

// Every Records and Delete call of one run shares one Snapshot per
// provider; the next run, and every other provider, gets its own.
func TestCleanupSharesOneSnapshotPerProviderAndRun(t *testing.T) {
	recs := map[string][]dns.Record{
		"vm.example.test":         {{Type: "A", Content: "192.0.2.10"}},
		"10.2.0.192.in-addr.arpa": {{Type: "PTR", Content: "vm.example.test."}},
	}
	zones := []dns.Zone{{ID: "1", Name: "example.test"}, {ID: "2", Name: rev4}}
	a := &stub{name: "a", zones: zones, records: recs}
	b := &stub{name: "b", zones: zones, records: recs}
	tgt := dns.Target{FQDN: "vm.example.test", IPs: []netip.Addr{vmIP4}}
	dns.Cleanup(context.Background(), []dns.Provider{a, b}, tgt)
	dns.Plan(context.Background(), []dns.Provider{a}, tgt)
	if len(a.snaps) != 6 || len(b.snaps) != 4 {
		t.Fatalf("calls: a %d, b %d; want 6 and 4", len(a.snaps), len(b.snaps))
	}
	run1, run2 := a.snaps[0], a.snaps[4]
	for i, s := range a.snaps {
		want := run1
		if i >= 4 {
			want = run2
		}
		if s == nil || s != want {
			t.Errorf("a call %d: snapshot %p, want %p", i, s, want)
		}
	}
	for i, s := range b.snaps {
		if s == nil || s != b.snaps[0] {
			t.Errorf("b call %d: snapshot %p, want %p", i, s, b.snaps[0])
		}
	}
	if run1 == run2 || run1 == b.snaps[0] {
		t.Error("a snapshot is shared across runs or providers")
	}
}

func TestCleanupHonoursCancelledContext(t *testing.T) {
	s := pdnsfake.Start(t)
	populatePDNS(t, s)
	ps, err := dns.Build([]dns.ProviderConfig{s.Config("pdns")}, nil)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rs := dns.Cleanup(ctx, ps, vm)
	if len(rs) != 3 {
		t.Fatalf("got %v", lineSet(rs))
	}
	for _, r := range rs {
		if r.Status != dns.StatusFail || !strings.HasSuffix(r.Reason, "cancelled") {
			t.Errorf("got %q", r.Line())
		}
	}
}

func TestResultLine(t *testing.T) {
	cases := []struct {
		r    dns.Result
		want string
	}{
		{dns.Result{Op: "rev-del", Status: "OK", Provider: "hestiacp", Zone: "130.168.192.in-addr.arpa", Subject: "192.168.130.6", RecordType: "PTR"},
			"rev-del OK [hestiacp] 130.168.192.in-addr.arpa ← 192.168.130.6"},
		{dns.Result{Op: "fwd-del", Status: "OK", Provider: "hestiacp", Zone: "puqcloud.com", Subject: "5546-1776530141.puqcloud.com", RecordType: "A", Content: "192.168.130.6"},
			"fwd-del OK [hestiacp] puqcloud.com ← 5546-1776530141.puqcloud.com"},
		{dns.Result{Op: "fwd-del", Status: "SKIP", Provider: "powerdns", Zone: "example.com", Subject: "vm.example.com", Reason: "points elsewhere (198.51.100.7)"},
			"fwd-del SKIP [powerdns] example.com ← vm.example.com : points elsewhere (198.51.100.7)"},
		{dns.Result{Op: "rev-del", Status: "FAIL", Provider: "cloudflare", Subject: "192.0.2.1", Reason: "HTTP 500: oops"},
			"rev-del FAIL [cloudflare] - ← 192.0.2.1 : HTTP 500: oops"},
		{dns.Result{Op: "rev-del", Status: "PLAN", Provider: "p", Zone: "z", Subject: "s", Reason: "dry run"},
			"rev-del PLAN [p] z ← s"},
	}
	for _, c := range cases {
		if got := c.r.Line(); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
		if c.r.String() != c.r.Line() {
			t.Error("String differs from Line")
		}
	}
}

func BenchmarkResultLine(b *testing.B) {
	r := dns.Result{Op: dns.OpReverse, Status: dns.StatusSkip, Provider: "powerdns", Zone: "130.168.192.in-addr.arpa",
		Subject: "192.168.130.6", Reason: "points elsewhere (other.example.net)"}
	b.ReportAllocs()
	for b.Loop() {
		sink = r.Line()
	}
}
