package cloudflare_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/proxmox-terminate/proxmox-terminate/dns/cloudflare"
	"github.com/proxmox-terminate/proxmox-terminate/dns/cloudflare/cftest"
	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/dnstest"
	"github.com/proxmox-terminate/proxmox-terminate/internal/testenv"
)

type backend struct {
	s     *cftest.Server
	token string
}

func newBackend(t *testing.T) *backend {
	s := cftest.Start(t)
	return &backend{s: s, token: s.AddToken()}
}

// URL is the double's root; Config appends the API path, so that fault
// proxies in front of the root work the same way.
func (b *backend) URL() string { return strings.TrimSuffix(b.s.URL, "/client/v4") }

func (b *backend) Config(name, u string) core.ProviderConfig {
	return core.ProviderConfig{Kind: "cloudflare", Name: name, URL: u + "/client/v4", Token: b.token}
}

func (b *backend) BadAuth(c core.ProviderConfig) core.ProviderConfig {
	c.Token = strings.Repeat("Z", 40)
	return c
}

func (b *backend) CreateZone(t testing.TB, zone string) { b.s.CreateZone(zone) }

func (b *backend) AddRecord(t testing.TB, zone, name, rtype, content string) {
	t.Helper()
	if _, err := b.s.AddRecord(zone, name, rtype, content, 300); err != nil {
		t.Fatal(err)
	}
}

func (b *backend) Records(t testing.TB, zone string) []dnstest.Rec {
	var out []dnstest.Rec
	for _, r := range b.s.Records(zone) {
		out = append(out, dnstest.Canonical(r.Name, r.Type, r.Content))
	}
	return out
}

// Read names the zone, name and page a GET /zones/{id}/dns_records reads.
func (b *backend) Read(r dnstest.Seen) string {
	if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/dns_records") {
		return ""
	}
	q := r.URL.Query()
	return fmt.Sprintf("GET %s name=%s page=%s", r.URL.Path, q.Get("name"), q.Get("page"))
}

func TestProvider(t *testing.T) {
	dnstest.Run(t, newBackend(t))
}

func TestZonePaginationAndAllowList(t *testing.T) {
	b := newBackend(t)
	for i := 0; i < 120; i++ {
		b.s.CreateZone(fmt.Sprintf("z%03d.test", i))
	}
	b.s.CreateZone("twin.test")
	b.s.CreateZone("twin.test") // same name twice (e.g. two accounts)
	var calls []string
	p, err := cloudflare.New(b.Config("cf", b.URL()), func(c core.Call) { calls = append(calls, c.URL) })
	if err != nil {
		t.Fatal(err)
	}
	zs, err := p.Zones(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(zs) != 122 || len(calls) != 3 {
		t.Errorf("got %d zones in %d calls, want 122 in 3", len(zs), len(calls))
	}

	c := b.Config("cf", b.URL())
	c.Zones = []string{"twin.test.", "z007.test"}
	calls = nil
	p, err = cloudflare.New(c, func(c core.Call) { calls = append(calls, c.URL) })
	if err != nil {
		t.Fatal(err)
	}
	zs, err = p.Zones(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(zs) != 3 || len(calls) != 2 || !strings.Contains(calls[0], "name=twin.test") {
		t.Errorf("allow-list: zones %v via %v", zs, calls)
	}
}

func TestRecordPagination(t *testing.T) {
	b := newBackend(t)
	b.s.CreateZone("many.test")
	for i := 0; i < 230; i++ {
		b.AddRecord(t, "many.test", "vm.many.test", "A", fmt.Sprintf("192.0.%d.%d", i/200, i%200+1))
	}
	b.AddRecord(t, "many.test", "other.many.test", "A", "198.51.100.1")
	n := 0
	p, err := cloudflare.New(b.Config("cf", b.URL()), func(core.Call) { n++ })
	if err != nil {
		t.Fatal(err)
	}
	zs, _ := p.Zones(context.Background())
	n = 0
	recs, err := p.Records(context.Background(), nil, zs[0], "VM.many.test.")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 230 || n != 3 {
		t.Errorf("got %d records in %d calls, want 230 in 3", len(recs), n)
	}
}

func TestDeleteMissingRecordIsNotFound(t *testing.T) {
	b := newBackend(t)
	id := b.s.CreateZone("gone.test")
	p, err := cloudflare.New(b.Config("cf", b.URL()), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Delete(context.Background(), nil, core.Zone{ID: id, Name: "gone.test"}, core.Record{ID: "0123456789abcdef0123456789abcdef", Type: "A"})
	if err == nil || !strings.Contains(err.Error(), "81044") || !strings.Contains(err.Error(), core.ErrNotFound.Error()) {
		t.Errorf("got %v", err)
	}
}

// TestDoubleEnvelope checks the double answers in the published envelope.
func TestDoubleEnvelope(t *testing.T) {
	b := newBackend(t)
	b.s.CreateZone("env.test")
	get := func(path, auth string) (int, map[string]json.RawMessage) {
		req, _ := http.NewRequest(http.MethodGet, b.s.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, body := testenv.Do(t, req)
		var env map[string]json.RawMessage
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("%s: not JSON: %s", path, body)
		}
		for _, k := range []string{"success", "errors", "messages", "result"} {
			if _, ok := env[k]; !ok {
				t.Errorf("%s: envelope lacks %q: %s", path, k, body)
			}
		}
		return resp.StatusCode, env
	}
	st, env := get("/zones?name=env.test", "Bearer "+b.token)
	if st != 200 || string(env["success"]) != "true" || env["result_info"] == nil {
		t.Errorf("zones: %d %s", st, env["result_info"])
	}
	if st, env = get("/zones", "Bearer "+strings.Repeat("Q", 40)); st != 403 || !strings.Contains(string(env["errors"]), "10000") {
		t.Errorf("bad token: %d %s", st, env["errors"])
	}
	if st, env = get("/zones", ""); st != 400 || !strings.Contains(string(env["errors"]), "9106") {
		t.Errorf("no header: %d %s", st, env["errors"])
	}
	if st, _ = get("/zones?per_page=51", "Bearer "+b.token); st != 400 {
		t.Errorf("per_page 51: %d", st)
	}
}
