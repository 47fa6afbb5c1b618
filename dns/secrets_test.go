package dns_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/cloudflare/cftest"
	"github.com/proxmox-terminate/proxmox-terminate/dns/hestia/hestiatest"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns/pdnsfake"
)

// echoServer answers every request with status and a dump of the request
// itself (headers and body), the way a misbehaving proxy or a verbose error
// page would leak credentials back.
func echoServer(t *testing.T, status int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dump, _ := httputil.DumpRequest(r, true)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, "%s\n%s", dump, url.QueryEscape(string(dump)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// leaks reports every secret spelling found in s.
func leaks(secrets []string, s string) []string {
	var out []string
	for _, sec := range secrets {
		for _, form := range []string{sec, url.QueryEscape(sec), url.PathEscape(sec)} {
			if strings.Contains(s, form) {
				out = append(out, form)
			}
		}
	}
	return out
}

func TestNoSecretInResultsCallsOrErrors(t *testing.T) {
	// Secrets with characters that URL and form encoding change.
	const (
		pdnsKey    = "pdns+Key/1=secret&more"
		hestiaAK   = "AKaaaaaaaaaaaaaaaa20"
		hestiaSK   = "s3cr3t+/=abcdefghijklmnopqrstuvwxyz01234"
		legacyHash = "legacy-hash-0123456789abcdef"
		cfToken    = "cf_token-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"
	)
	t.Setenv("TEST_HESTIA_AK", hestiaAK)
	t.Setenv("TEST_LEGACY_HASH", legacyHash)
	t.Setenv("TEST_CF_TOKEN", cfToken)
	configs := func(pdnsURL, hestiaURL, cfURL string) []dns.ProviderConfig {
		return []dns.ProviderConfig{
			{Kind: "powerdns", URL: pdnsURL, APIKey: pdnsKey},
			{Kind: "hestiacp", Name: "hestia-keys", URL: hestiaURL, User: "bob", AccessKeyEnv: "TEST_HESTIA_AK", SecretKey: hestiaSK},
			{Kind: "hestiacp", Name: "hestia-legacy", URL: hestiaURL, User: "bob", APIKeyEnv: "TEST_LEGACY_HASH"},
			{Kind: "cloudflare", URL: cfURL, TokenEnv: "TEST_CF_TOKEN"},
		}
	}
	secrets := dns.Secrets(configs("http://x", "http://x", "http://x"))
	if len(secrets) != 5 {
		t.Fatalf("Secrets found %d values, want 5: the literal and the env ones", len(secrets))
	}

	var texts []string // every string that leaves the package
	collect := func(rs []dns.Result, calls []dns.Call) {
		for _, r := range rs {
			texts = append(texts, r.Line(), r.Zone, r.Subject, r.Content, r.Reason, r.Provider)
		}
		for _, c := range calls {
			texts = append(texts, c.URL, c.Request, c.Response, c.Err, c.Provider)
		}
	}
	target := dns.Target{FQDN: "vm.example.test", IPs: []netip.Addr{netip.MustParseAddr("192.0.2.10")}}
	run := func(name string, cfgs []dns.ProviderConfig) []dns.Result {
		var calls []dns.Call
		ps, err := dns.Build(cfgs, func(c dns.Call) { calls = append(calls, c) })
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rs := dns.Cleanup(context.Background(), ps, target)
		rs = append(rs, dns.Plan(context.Background(), ps, target)...)
		collect(rs, calls)
		if len(calls) == 0 {
			t.Fatalf("%s: no calls observed", name)
		}
		return rs
	}

	// 1. Servers that echo the request back, as an error and as a 200.
	for _, status := range []int{500, 401, 200} {
		echo := echoServer(t, status)
		rs := run(fmt.Sprintf("echo %d", status), configs(echo, echo, echo))
		for _, r := range rs {
			if r.Status != dns.StatusFail {
				t.Errorf("echo %d: want FAIL, got %s", status, r.Line())
			}
		}
	}

	// 2. The doubles: pdnsfake accepts the key (success path), hestiatest and
	// cftest refuse theirs. The Hestia request body carries the keys and
	// must be logged redacted either way.
	p := pdnsfake.Start(t)
	p.APIKey = pdnsKey // before any request: the fake checks this field
	h := hestiatest.Start(t)
	c := cftest.Start(t)
	h.CreateZone("bob", "example.test", "198.51.100.250")
	if _, err := h.AddRecord("bob", "example.test", "vm", "A", "192.0.2.10"); err != nil {
		t.Fatal(err)
	}
	run("doubles", configs(p.URL, h.URL, c.URL))

	// 3. Configuration errors.
	bad := configs("ftp://u:"+pdnsKey+"@x", "", "")
	bad[0].Token = cfToken
	bad[1].SecretKeyEnv = "NOT_SET_ANYWHERE"
	bad = append(bad, dns.ProviderConfig{Kind: "nope", APIKey: pdnsKey, Token: " " + cfToken})
	_, err := dns.Build(bad, nil)
	if err == nil {
		t.Fatal("want configuration errors")
	}
	texts = append(texts, err.Error())
	for _, cfg := range bad {
		if err := cfg.Validate(); err != nil {
			texts = append(texts, err.Error())
		}
		texts = append(texts, cfg.String(), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg))
	}

	var checked int
	for _, s := range texts {
		checked += len(s)
		if l := leaks(secrets, s); len(l) > 0 {
			t.Errorf("secret %q leaked in: %.300s", l[0], s)
		}
	}
	if checked == 0 || !strings.Contains(strings.Join(texts, "\n"), "REDACTED") {
		t.Errorf("nothing was redacted: the test did not exercise leaking paths")
	}
}
