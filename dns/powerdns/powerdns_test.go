package powerdns_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/dnstest"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns/pdnsfake"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns/pdnstest"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

// server is what pdnstest.Server and pdnsfake.Server have in common.
type server interface {
	CreateZone(name string, rrsets ...powerdns.RRset) error
	AddRecord(zone, name, rtype, content string, ttl int) error
	Records(zone string) ([]powerdns.RRset, error)
	Config(name string) core.ProviderConfig
}

type backend struct {
	s   server
	url string
}

func (b backend) URL() string { return b.url }

func (b backend) Config(name, url string) core.ProviderConfig {
	c := b.s.Config(name)
	c.URL = url
	return c
}

func (b backend) BadAuth(c core.ProviderConfig) core.ProviderConfig {
	c.APIKey = "wrong-" + c.APIKey
	return c
}

func (b backend) CreateZone(t testing.TB, zone string) {
	t.Helper()
	if err := b.s.CreateZone(zone); err != nil {
		t.Fatalf("create zone %s: %v", zone, err)
	}
}

func (b backend) AddRecord(t testing.TB, zone, name, rtype, content string) {
	t.Helper()
	if err := b.s.AddRecord(zone, name, rtype, content, 300); err != nil {
		t.Fatalf("add %s %s %s: %v", name, rtype, content, err)
	}
}

func (b backend) Records(t testing.TB, zone string) []dnstest.Rec {
	t.Helper()
	rrsets, err := b.s.Records(zone)
	if err != nil {
		t.Fatalf("records of %s: %v", zone, err)
	}
	var out []dnstest.Rec
	for _, rs := range rrsets {
		if rs.Type == "SOA" || rs.Type == "NS" {
			continue
		}
		for _, r := range rs.Records {
			out = append(out, dnstest.Canonical(rs.Name, rs.Type, r.Content))
		}
	}
	return out
}

// Read names the zone a GET /api/v1/servers/{id}/zones/{zone} reads.
func (b backend) Read(r dnstest.Seen) string {
	_, zone, ok := strings.Cut(r.URL.Path, "/zones/")
	if r.Method != http.MethodGet || !ok || !strings.HasPrefix(r.URL.Path, "/api/v1/servers/") {
		return ""
	}
	return "GET zone " + zone
}

func TestProviderRealPowerDNS(t *testing.T) {
	srv := pdnstest.Start(t)
	dnstest.Run(t, backend{s: srv, url: srv.URL})
}

func TestProviderFakePowerDNS(t *testing.T) {
	srv := pdnsfake.Start(t)
	dnstest.Run(t, backend{s: srv, url: srv.URL})
}

func TestRRsetCommentsAndTTLSurviveReplace(t *testing.T) {
	for name, s := range map[string]server{"real": pdnstest.Start(t), "fake": pdnsfake.Start(t)} {
		t.Run(name, func(t *testing.T) {
			if err := s.CreateZone("keep.test", powerdns.RRset{Name: "vm.keep.test", Type: "A", TTL: 1234,
				Records:  []powerdns.Record{{Content: "192.0.2.1"}, {Content: "192.0.2.2", Disabled: true}},
				Comments: []powerdns.Comment{{Content: "owned by billing", Account: "ops"}}}); err != nil {
				t.Fatal(err)
			}
			p, err := powerdns.New(s.Config("p"), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			zones, err := p.Zones(ctx)
			if err != nil || len(zones) != 1 {
				t.Fatalf("zones %v %v", zones, err)
			}
			err = p.Delete(ctx, nil, zones[0], core.Record{Name: "vm.keep.test.", Type: "A", Content: "192.0.2.1"})
			if err != nil {
				t.Fatal(err)
			}
			rrsets, err := s.Records("keep.test")
			if err != nil {
				t.Fatal(err)
			}
			var got *powerdns.RRset
			for i := range rrsets {
				if rrsets[i].Type == "A" {
					got = &rrsets[i]
				}
			}
			if got == nil || got.TTL != 1234 || len(got.Records) != 1 || got.Records[0].Content != "192.0.2.2" || !got.Records[0].Disabled {
				t.Fatalf("remaining rrset %+v", got)
			}
			if len(got.Comments) != 1 || got.Comments[0].Content != "owned by billing" {
				t.Errorf("comments lost: %+v", got.Comments)
			}
			// Deleting it again reports not found.
			err = p.Delete(ctx, nil, zones[0], core.Record{Name: "vm.keep.test.", Type: "A", Content: "192.0.2.1"})
			if !strings.Contains(err.Error(), core.ErrNotFound.Error()) {
				t.Errorf("second delete: %v", err)
			}
		})
	}
}

// TestFakeMatchesRealServer sends the same raw requests to pdns_server and
// to pdnsfake and compares status, content type and (where stated) body.
func TestFakeMatchesRealServer(t *testing.T) {
	real := pdnstest.Start(t)
	fake := pdnsfake.Start(t)
	type step struct {
		name, method, path, key, body string
		compareBody                   bool
	}
	const z = "/api/v1/servers/localhost/zones"
	steps := []step{
		{"wrong key", "GET", z, "bad", "", true},
		{"missing zone", "GET", z + "/nothere.test.", "", "", true},
		{"unknown server", "GET", "/api/v1/servers/other/zones", "", "", true},
		{"create", "POST", z, "", `{"name":"parity.test.","kind":"Native","nameservers":["ns1.parity.test."]}`, false},
		{"create again", "POST", z, "", `{"name":"parity.test.","kind":"Native","nameservers":["ns1.parity.test."]}`, true},
		{"bad json", "PATCH", z + "/parity.test.", "", `{"rrsets":`, true},
		{"no rrsets", "PATCH", z + "/parity.test.", "", `{"rrsets":[]}`, true},
		{"not canonical", "PATCH", z + "/parity.test.", "", `{"rrsets":[{"name":"vm.parity.test","type":"A","changetype":"DELETE"}]}`, true},
		{"delete absent", "PATCH", z + "/parity.test.", "", `{"rrsets":[{"name":"nothere.parity.test.","type":"A","changetype":"DELETE"}]}`, true},
		{"delete out of zone", "PATCH", z + "/parity.test.", "", `{"rrsets":[{"name":"vm.other.test.","type":"A","changetype":"DELETE"}]}`, true},
		{"replace out of zone", "PATCH", z + "/parity.test.", "", `{"rrsets":[{"name":"vm.other.test.","type":"A","ttl":60,"changetype":"REPLACE","records":[{"content":"192.0.2.1","disabled":false}]}]}`, true},
		{"replace without ttl", "PATCH", z + "/parity.test.", "", `{"rrsets":[{"name":"vm.parity.test.","type":"A","changetype":"REPLACE","records":[{"content":"192.0.2.1","disabled":false}]}]}`, true},
		{"duplicate record", "PATCH", z + "/parity.test.", "", `{"rrsets":[{"name":"vm.parity.test.","type":"A","ttl":60,"changetype":"REPLACE","records":[{"content":"192.0.2.1","disabled":false},{"content":"192.0.2.1","disabled":false}]}]}`, true},
		{"bad changetype", "PATCH", z + "/parity.test.", "", `{"rrsets":[{"name":"vm.parity.test.","type":"A","ttl":60,"changetype":"BOGUS","records":[]}]}`, true},
		{"missing type", "PATCH", z + "/parity.test.", "", `{"rrsets":[{"name":"vm.parity.test.","changetype":"DELETE"}]}`, true},
		{"bad A content", "PATCH", z + "/parity.test.", "", `{"rrsets":[{"name":"vm.parity.test.","type":"A","ttl":60,"changetype":"REPLACE","records":[{"content":"1.2.3","disabled":false}]}]}`, false},
		{"PTR without dot", "PATCH", z + "/parity.test.", "", `{"rrsets":[{"name":"vm.parity.test.","type":"PTR","ttl":60,"changetype":"REPLACE","records":[{"content":"host.example","disabled":false}]}]}`, true},
		{"replace mixed case", "PATCH", z + "/parity.test.", "", `{"rrsets":[{"name":"VM.Parity.test.","type":"AAAA","ttl":60,"changetype":"REPLACE","records":[{"content":"2001:db8:0:0::10","disabled":false}]}]}`, true},
		{"patch missing zone", "PATCH", z + "/nothere.test.", "", `{"rrsets":[{"name":"a.nothere.test.","type":"A","changetype":"DELETE"}]}`, true},
		{"classless create", "POST", z, "", `{"name":"0/26.2.0.192.in-addr.arpa.","kind":"Native","nameservers":["ns1.parity.test."]}`, false},
		{"classless get by id", "GET", z + "/0=2F26.2.0.192.in-addr.arpa.", "", "", false},
	}
	do := func(base, key string, s step) (int, string, string) {
		if s.key != "" {
			key = s.key
		}
		req, err := http.NewRequest(s.method, base+s.path, strings.NewReader(s.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-API-Key", key)
		resp, b := testenv.Do(t, req)
		return resp.StatusCode, resp.Header.Get("Content-Type"), strings.TrimSpace(string(b))
	}
	for _, s := range steps {
		rs, rct, rb := do(real.URL, real.APIKey, s)
		fs, fct, fb := do(fake.URL, fake.APIKey, s)
		if rs != fs || rct != fct {
			t.Errorf("%s: real %d %q, fake %d %q\nreal body %s\nfake body %s", s.name, rs, rct, fs, fct, rb, fb)
			continue
		}
		if s.compareBody && rb != fb && !sameJSONError(rb, fb) {
			t.Errorf("%s: bodies differ\nreal %s\nfake %s", s.name, rb, fb)
		}
	}
	// Stored forms after the mixed-case AAAA REPLACE.
	aaaa := func(s server) string {
		rrsets, err := s.Records("parity.test")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rrsets {
			if r.Type == "AAAA" {
				return r.Name + " " + r.Records[0].Content
			}
		}
		return ""
	}
	if a, b := aaaa(real), aaaa(fake); a != b || a == "" {
		t.Errorf("stored AAAA: real %q fake %q", a, b)
	}
}

// sameJSONError compares {"error": ...} bodies regardless of spacing.
func sameJSONError(a, b string) bool {
	norm := func(s string) string { return strings.Join(strings.Fields(s), "") }
	return norm(a) == norm(b)
}

func TestNewRejectsOtherKinds(t *testing.T) {
	if _, err := powerdns.New(core.ProviderConfig{Kind: "cloudflare", Token: "x"}, nil); err == nil {
		t.Fatal("want error for a cloudflare config")
	}
	if _, err := powerdns.New(core.ProviderConfig{Kind: "powerdns", URL: "http://127.0.0.1:1"}, nil); err == nil {
		t.Fatal("want error for a missing api key")
	}
}

func TestSameContent(t *testing.T) {
	cases := []struct {
		typ, a, b string
		want      bool
	}{
		{"AAAA", "2001:db8:0:0::10", "2001:db8::10", true},
		{"AAAA", "2001:DB8::10", "2001:db8::10", true},
		{"A", "192.0.2.1", "::ffff:192.0.2.1", true},
		{"A", "192.0.2.1", "192.0.2.2", false},
		{"PTR", "VM.Example.com.", "vm.example.com", true},
		{"PTR", "vm.example.com.", "vm.example.org.", false},
		{"TXT", "\"a\"", "\"A\"", false},
	}
	for _, c := range cases {
		if got := powerdns.SameContent(c.typ, c.a, c.b); got != c.want {
			t.Errorf("SameContent(%s, %q, %q) = %v", c.typ, c.a, c.b, got)
		}
	}
}
