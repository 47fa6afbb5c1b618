package dns_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dns"
)

func TestValidate(t *testing.T) {
	t.Setenv("DNS_TEST_SET", "from-env-1234")
	t.Setenv("DNS_TEST_EMPTY", "")
	cases := []struct {
		name string
		cfg  dns.ProviderConfig
		want []string // substrings, one per expected problem; none = valid
	}{
		{"powerdns ok", dns.ProviderConfig{Kind: "powerdns", URL: "http://127.0.0.1:8081", APIKey: "k"}, nil},
		{"pdns alias, key from env", dns.ProviderConfig{Kind: "PDNS", URL: "https://ns.example.com/api/v1", APIKeyEnv: "DNS_TEST_SET"}, nil},
		{"hestia key pair", dns.ProviderConfig{Kind: "hestiacp", URL: "https://panel:8083", User: "bob", AccessKey: "a", SecretKeyEnv: "DNS_TEST_SET"}, nil},
		{"hestia legacy hash", dns.ProviderConfig{Kind: "hestia", URL: "https://panel:8083", User: "admin", APIKey: "h"}, nil},
		{"cloudflare default url", dns.ProviderConfig{Kind: "cloudflare", TokenEnv: "DNS_TEST_SET", Zones: []string{"example.com."}}, nil},
		{"no kind", dns.ProviderConfig{}, []string{"kind: required"}},
		{"unknown kind", dns.ProviderConfig{Kind: "route53"}, []string{`unknown kind "route53"`}},
		{"powerdns bare", dns.ProviderConfig{Kind: "powerdns"}, []string{"url: required", "api_key: required"}},
		{"bad url", dns.ProviderConfig{Kind: "powerdns", URL: "ftp://x", APIKey: "k"}, []string{"scheme must be http or https"}},
		{"url with credentials", dns.ProviderConfig{Kind: "powerdns", URL: "http://u:hunter2@x", APIKey: "k"}, []string{"must not carry credentials"}},
		{"both key and env", dns.ProviderConfig{Kind: "powerdns", URL: "http://x", APIKey: "k", APIKeyEnv: "DNS_TEST_SET"}, []string{"set api_key or api_key_env, not both"}},
		{"empty env", dns.ProviderConfig{Kind: "powerdns", URL: "http://x", APIKeyEnv: "DNS_TEST_EMPTY"}, []string{"environment variable DNS_TEST_EMPTY is unset or empty"}},
		{"bad env name", dns.ProviderConfig{Kind: "cloudflare", TokenEnv: "1-X"}, []string{"not a valid environment variable name"}},
		{"wrong field for kind", dns.ProviderConfig{Kind: "powerdns", URL: "http://x", APIKey: "k", Token: "t", User: "u"}, []string{"token: not used by powerdns", "user: not used by powerdns"}},
		{"hestia no user no auth", dns.ProviderConfig{Kind: "hestiacp", URL: "http://x"}, []string{"user: required", "access_key: required"}},
		{"hestia half pair", dns.ProviderConfig{Kind: "hestiacp", URL: "http://x", User: "bob", SecretKey: "s"}, []string{"access_key: required with secret_key"}},
		{"hestia both methods", dns.ProviderConfig{Kind: "hestiacp", URL: "http://x", User: "bob", AccessKey: "a", SecretKey: "s", APIKey: "h"}, []string{"not both"}},
		{"cloudflare no token", dns.ProviderConfig{Kind: "cloudflare", ServerID: "x"}, []string{"token: required", "server_id: not used"}},
		{"negative durations", dns.ProviderConfig{Kind: "cloudflare", Token: "t", Timeout: -1, Budget: -time.Second}, []string{"timeout: must not be negative", "budget: must not be negative"}},
		{"bad zone", dns.ProviderConfig{Kind: "cloudflare", Token: "t", Zones: []string{"a..b"}}, []string{"zones[0]: not a valid zone name"}},
		{"bad name", dns.ProviderConfig{Kind: "cloudflare", Name: "has space", Token: "t"}, []string{"name: must be"}},
		{"secret with spaces", dns.ProviderConfig{Kind: "cloudflare", Token: " t "}, []string{"token: has leading or trailing white space"}},
	}
	for _, c := range cases {
		err := c.cfg.Validate()
		if len(c.want) == 0 {
			if err != nil {
				t.Errorf("%s: unexpected error %v", c.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: want errors %q, got none", c.name, c.want)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
		var ce *dns.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%s: not a *ConfigError: %T", c.name, err)
		}
		for _, s := range []string{"from-env-1234", "hunter2", " t "} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error echoes a secret: %v", c.name, err)
			}
		}
	}
}

func TestBuildRejectsDuplicateLabelsAndCollectsAllErrors(t *testing.T) {
	_, err := dns.Build([]dns.ProviderConfig{
		{Kind: "powerdns", URL: "http://a", APIKey: "k1"},
		{Kind: "powerdns", URL: "http://b", APIKey: "k2"},
		{Kind: "cloudflare"},
	}, nil)
	if err == nil || !strings.Contains(err.Error(), `label "powerdns" used by providers #1 and #2`) || !strings.Contains(err.Error(), "token: required") {
		t.Fatalf("got %v", err)
	}
	ps, err := dns.Build([]dns.ProviderConfig{
		{Kind: "powerdns", Name: "pdns-a", URL: "http://a", APIKey: "k1"},
		{Kind: "pdns", Name: "pdns-b", URL: "http://b", APIKey: "k2"},
		{Kind: "hestia", URL: "http://h", User: "u", APIKey: "h"},
		{Kind: "cloudflare", Token: "t"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Name()+"/"+p.Kind())
	}
	if strings.Join(got, " ") != "pdns-a/powerdns pdns-b/powerdns hestiacp/hestiacp cloudflare/cloudflare" {
		t.Errorf("providers %v", got)
	}
	if ps[0].Budget() != 60*time.Second {
		t.Errorf("default budget %v", ps[0].Budget())
	}
}

func TestConfigDecodingAndPrinting(t *testing.T) {
	var cfgs []dns.ProviderConfig
	in := `[{"kind":"powerdns","name":"ns1","url":"http://127.0.0.1:8081","api_key":"s3cret-pdns","timeout":"2s","budget":30000000000},
	        {"kind":"hestiacp","url":"https://panel:8083","user":"bob","access_key":"AK","secret_key_env":"HESTIA_SECRET","zones":["example.com"],"insecure_tls":true}]`
	if err := json.Unmarshal([]byte(in), &cfgs); err != nil {
		t.Fatal(err)
	}
	if cfgs[0].Timeout != 2*time.Second || cfgs[0].Budget != 30*time.Second || cfgs[0].APIKey != "s3cret-pdns" {
		t.Errorf("decoded %#v", cfgs[0])
	}
	if !cfgs[1].InsecureTLS || cfgs[1].SecretKeyEnv != "HESTIA_SECRET" || cfgs[1].Zones[0] != "example.com" {
		t.Errorf("decoded %#v", cfgs[1])
	}
	out, err := json.Marshal(cfgs[0])
	if err != nil || !strings.Contains(string(out), `"timeout":"2s"`) {
		t.Errorf("marshal: %s %v", out, err)
	}
	var back dns.ProviderConfig
	if err := json.Unmarshal(out, &back); err != nil || back.Timeout != 2*time.Second || back.Budget != 30*time.Second {
		t.Errorf("round trip: %+v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"kind":"powerdns","timeout":"soon"}`), &back); err == nil {
		t.Error("want an error for a bad duration")
	}

	// Printing never shows secrets.
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("cfg", "provider", cfgs[0])
	for _, s := range []string{fmt.Sprint(cfgs[0]), fmt.Sprintf("%+v", cfgs[0]), fmt.Sprintf("%#v", cfgs[0]), fmt.Sprintf("%v", cfgs), logged.String()} {
		if strings.Contains(s, "s3cret-pdns") || !strings.Contains(s, "api_key=REDACTED") {
			t.Errorf("printed config: %s", s)
		}
	}
}
