package hestia_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/hestia"
	"github.com/proxmox-terminate/proxmox-terminate/dns/hestia/hestiatest"
	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/dnstest"
)

const hUser = "vmowner"

// backend runs the provider table against hestiatest. legacy selects the
// legacy hash authentication instead of an access key pair.
type backend struct {
	s      *hestiatest.Server
	legacy bool
	ak, sk string
	hash   string
}

func newBackend(t *testing.T, legacy bool) *backend {
	s := hestiatest.Start(t)
	b := &backend{s: s, legacy: legacy}
	s.AddUser(hUser)
	if legacy {
		b.hash = s.AddLegacyHash()
	} else {
		// A user key limited to the DNS commands, as an operator would make.
		b.ak, b.sk = s.AddAccessKey(hUser, "v-list-dns-domains", "v-list-dns-records", "v-delete-dns-record")
	}
	return b
}

func (b *backend) URL() string { return b.s.URL }

func (b *backend) Config(name, u string) core.ProviderConfig {
	c := core.ProviderConfig{Kind: "hestiacp", Name: name, URL: u, User: hUser}
	if b.legacy {
		c.APIKey = b.hash
	} else {
		c.AccessKey, c.SecretKey = b.ak, b.sk
	}
	return c
}

func (b *backend) BadAuth(c core.ProviderConfig) core.ProviderConfig {
	if b.legacy {
		c.APIKey = "wrong" + c.APIKey
	} else {
		c.SecretKey = strings.Repeat("x", 40)
	}
	return c
}

func (b *backend) CreateZone(t testing.TB, zone string) {
	ip := ""
	if !strings.HasSuffix(zone, ".arpa") {
		ip = "198.51.100.250" // the default template's "@" and "www" A records
	}
	b.s.CreateZone(hUser, zone, ip)
}

func (b *backend) AddRecord(t testing.TB, zone, name, rtype, content string) {
	t.Helper()
	if _, err := b.s.AddRecord(hUser, zone, name, rtype, content); err != nil {
		t.Fatal(err)
	}
}

func (b *backend) Records(t testing.TB, zone string) []dnstest.Rec {
	var out []dnstest.Rec
	for _, r := range b.s.Records(hUser, zone) {
		if r.Type == "NS" {
			continue
		}
		owner := hestia.OwnerName(r.Record, zone)
		if r.Record == "@" || r.Record == "www" && r.Value == "198.51.100.250" {
			continue // template records
		}
		out = append(out, dnstest.Canonical(owner, r.Type, r.Value))
	}
	return out
}

// Read names the domain a v-list-dns-records USER DOMAIN json lists.
func (b *backend) Read(r dnstest.Seen) string {
	form, err := url.ParseQuery(string(r.Body))
	if err != nil || form.Get("cmd") != "v-list-dns-records" {
		return ""
	}
	return "v-list-dns-records " + form.Get("arg2")
}

func TestProviderAccessKey(t *testing.T) { dnstest.Run(t, newBackend(t, false)) }

func TestProviderLegacyHash(t *testing.T) { dnstest.Run(t, newBackend(t, true)) }

func TestLastARecordIsRefused(t *testing.T) {
	b := newBackend(t, false)
	b.s.CreateZone(hUser, "lonely.test", "")
	b.AddRecord(t, "lonely.test", "vm.lonely.test", "A", "192.0.2.77")
	p, err := dns.New(b.Config("hestiacp", b.URL()), nil)
	if err != nil {
		t.Fatal(err)
	}
	rs := dns.Cleanup(context.Background(), []dns.Provider{p}, dns.Target{FQDN: "vm.lonely.test", IPs: []netip.Addr{netip.MustParseAddr("192.0.2.77")}})
	var line string
	for _, r := range rs {
		if r.Op == dns.OpForward {
			line = r.Line()
		}
	}
	want := "fwd-del FAIL [hestiacp] lonely.test ← vm.lonely.test : v-delete-dns-record: exit 2 (E_INVALID): HestiaCP refuses to delete the last A record of zone lonely.test"
	if line != want {
		t.Errorf("got  %q\nwant %q", line, want)
	}
	if len(b.s.Records(hUser, "lonely.test")) != 3 { // two NS and the A record
		t.Errorf("record should remain: %+v", b.s.Records(hUser, "lonely.test"))
	}
}

// post sends a raw form to the double.
func post(t *testing.T, base string, form url.Values) (int, http.Header, string) {
	t.Helper()
	resp, err := http.PostForm(base+"/api/", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestDoubleFollowsIndexPHP pins the double's answers to what
// web/api/index.php, v-check-access-key and the v-* scripts do.
func TestDoubleFollowsIndexPHP(t *testing.T) {
	s := hestiatest.Start(t)
	s.CreateZone(hUser, "example.test", "198.51.100.1")
	ak, sk := s.AddAccessKey(hUser, "v-list-dns-domains", "v-list-dns-records", "v-delete-dns-record")
	adminAK, adminSK := s.AddAccessKey("admin")
	hash := s.AddLegacyHash()
	txtID, err := s.AddRecord(hUser, "example.test", "note", "TXT", "hello")
	if err != nil {
		t.Fatal(err)
	}
	key := func(extra ...string) url.Values {
		v := url.Values{"access_key": {ak}, "secret_key": {sk}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	cases := []struct {
		name   string
		form   url.Values
		status int
		exit   string // Hestia-Exit-Code header, "" when absent
		body   string // exact, or prefix when ending in "…"
	}{
		{"no credentials", url.Values{"cmd": {"v-list-dns-domains"}}, 405, "405", "Error: data received is null or invalid, check https://hestiacp.com/docs/server-administration/rest-api.html"},
		{"list domains json", key("cmd", "v-list-dns-domains", "arg1", hUser, "arg2", "json"), 200, "0", "{\n    \"example.test\": {…"},
		{"hash holds the key pair", url.Values{"hash": {ak + ":" + sk}, "cmd": {"v-list-dns-domains"}, "arg1": {hUser}, "arg2": {"json"}}, 200, "0", "{…"},
		{"bad secret", url.Values{"access_key": {ak}, "secret_key": {strings.Repeat("y", 40)}, "cmd": {"v-list-dns-domains"}, "arg1": {hUser}}, 401, "9", "Error: Invalid secret key for key " + ak},
		{"bad secret, returncode", url.Values{"access_key": {ak}, "secret_key": {strings.Repeat("y", 40)}, "cmd": {"v-list-dns-domains"}, "arg1": {hUser}, "returncode": {"yes"}}, 401, "9", "9"},
		{"empty secret", url.Values{"access_key": {ak}, "secret_key": {""}, "cmd": {"v-list-dns-domains"}}, 401, "9", "Error: Authentication failed"},
		{"no command", key(), 422, "2", "Error: Command not provided"},
		{"command not permitted", key("cmd", "v-delete-user", "arg1", hUser), 401, "10", "Error: Command v-delete-user not found"},
		{"other user's argument", key("cmd", "v-list-dns-domains", "arg1", "admin"), 401, "10", `Error: Key ` + ak + ` - the "user" argument doesn\'t match the key\'s user`},
		{"unknown domain", key("cmd", "v-list-dns-records", "arg1", hUser, "arg2", "nothere.test", "arg3", "json"), 400, "3", "Error: dns domain nothere.test doesn't exist"},
		{"unknown id, returncode", key("cmd", "v-delete-dns-record", "arg1", hUser, "arg2", "example.test", "arg3", "99", "returncode", "yes"), 200, "3", "3"},
		{"missing id", key("cmd", "v-delete-dns-record", "arg1", hUser, "arg2", "example.test"), 400, "1", "Usage: v-delete-dns-record USER DOMAIN ID [RESTART]"},
		{"delete ok is 204", key("cmd", "v-delete-dns-record", "arg1", hUser, "arg2", "example.test", "arg3", "1"), 204, "0", ""},
		{"admin key any user", url.Values{"access_key": {adminAK}, "secret_key": {adminSK}, "cmd": {"v-list-dns-domains"}, "arg1": {hUser}, "arg2": {"json"}}, 200, "0", "{…"},
		{"legacy ok", url.Values{"hash": {hash}, "cmd": {"v-delete-dns-record"}, "arg1": {hUser}, "arg2": {"example.test"}, "arg3": {strconv.Itoa(txtID)}}, 200, "", "OK"},
		{"legacy last NS", url.Values{"hash": {hash}, "cmd": {"v-delete-dns-record"}, "arg1": {hUser}, "arg2": {"example.test"}, "arg3": {"2"}}, 200, "", "Error: at least one NS record should remain active\n"},
		{"legacy command error is HTTP 200", url.Values{"hash": {hash}, "cmd": {"v-list-dns-records"}, "arg1": {hUser}, "arg2": {"nothere.test"}}, 200, "", "Error: dns domain nothere.test doesn't exist\n"},
		{"legacy returncode", url.Values{"hash": {hash}, "cmd": {"v-delete-dns-record"}, "arg1": {hUser}, "arg2": {"example.test"}, "arg3": {"99"}, "returncode": {"yes"}}, 200, "", "3"},
		{"legacy bad hash", url.Values{"hash": {"nope"}, "cmd": {"v-list-dns-domains"}, "arg1": {hUser}}, 401, "9", "Error: authentication failed"},
	}
	for _, c := range cases {
		st, h, body := post(t, s.URL, c.form)
		if st != c.status || h.Get("Hestia-Exit-Code") != c.exit {
			t.Errorf("%s: status %d exit %q, want %d %q (body %q)", c.name, st, h.Get("Hestia-Exit-Code"), c.status, c.exit, body)
		}
		if p, ok := strings.CutSuffix(c.body, "…"); ok {
			if !strings.HasPrefix(body, p) {
				t.Errorf("%s: body %q, want prefix %q", c.name, body, p)
			}
		} else if body != c.body {
			t.Errorf("%s: body %q, want %q", c.name, body, c.body)
		}
	}

	// ids 3 and 4 are the template's "@" and "www" A records: the first
	// delete works, the second would leave the zone without an A record.
	st, h, body := post(t, s.URL, key("cmd", "v-delete-dns-record", "arg1", hUser, "arg2", "example.test", "arg3", "3"))
	if st != 204 || h.Get("Hestia-Exit-Code") != "0" {
		t.Errorf("first A delete: %d %q %q", st, h.Get("Hestia-Exit-Code"), body)
	}
	st, h, body = post(t, s.URL, key("cmd", "v-delete-dns-record", "arg1", hUser, "arg2", "example.test", "arg3", "4"))
	if st != 422 || h.Get("Hestia-Exit-Code") != "2" || body != "Error: at least one A record should remain active" {
		t.Errorf("last A delete: %d %q %q", st, h.Get("Hestia-Exit-Code"), body)
	}

	// v-list-dns-records json has the script's fields and a trailing-dot PTR value.
	s.CreateZone(hUser, "2.0.192.in-addr.arpa", "")
	if _, err := s.AddRecord(hUser, "2.0.192.in-addr.arpa", "10", "ptr", "vm.example.test"); err != nil {
		t.Fatal(err)
	}
	_, h, body = post(t, s.URL, key("cmd", "v-list-dns-records", "arg1", hUser, "arg2", "2.0.192.in-addr.arpa", "arg3", "json"))
	if !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Errorf("content type %q", h.Get("Content-Type"))
	}
	var recs map[string]map[string]string
	if err := json.Unmarshal([]byte(body), &recs); err != nil {
		t.Fatalf("json: %v\n%s", err, body)
	}
	r := recs["3"]
	for _, f := range []string{"RECORD", "TYPE", "PRIORITY", "VALUE", "ID", "SUSPENDED", "TIME", "DATE"} {
		if _, ok := r[f]; !ok {
			t.Errorf("field %s missing in %v", f, r)
		}
	}
	if r["RECORD"] != "10" || r["TYPE"] != "PTR" || r["VALUE"] != "vm.example.test." {
		t.Errorf("record %v", r)
	}
}

func TestAPIDisabledAndSuspendedUser(t *testing.T) {
	b := newBackend(t, false)
	b.s.CreateZone(hUser, "off.test", "198.51.100.1")
	p, err := hestia.New(b.Config("h", b.URL()), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	b.s.SetAPISystem(1) // admin keys only
	_, err = p.Zones(ctx)
	if err == nil || !strings.Contains(err.Error(), "exit 21 (E_API_DISABLED), HTTP 401") {
		t.Errorf("API_SYSTEM=1: %v", err)
	}
	b.s.SetAPISystem(2)
	b.s.SuspendUser(hUser)
	_, err = p.Zones(ctx)
	if err == nil || !strings.Contains(err.Error(), "exit 9 (E_PASSWORD)") {
		t.Errorf("suspended user: %v", err)
	}
}

func TestOwnerName(t *testing.T) {
	cases := map[[2]string]string{
		{"@", "example.test"}:                "example.test",
		{"www", "example.test."}:             "www.example.test",
		{"VM", "Example.TEST"}:               "vm.example.test",
		{"host.other.test.", "example.test"}: "host.other.test",
		{"10", "2.0.192.in-addr.arpa"}:       "10.2.0.192.in-addr.arpa",
	}
	for in, want := range cases {
		if got := hestia.OwnerName(in[0], in[1]); got != want {
			t.Errorf("OwnerName(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}

func TestExitCodesAndStatuses(t *testing.T) {
	// Values from hestiacp func/main.sh and web/inc/helpers.php.
	want := map[int]struct {
		name   string
		status int
	}{
		1: {"E_ARGS", 400}, 2: {"E_INVALID", 422}, 3: {"E_NOTEXIST", 400}, 4: {"E_EXISTS", 400},
		5: {"E_SUSPENDED", 401}, 6: {"E_UNSUSPENDED", 401}, 9: {"E_PASSWORD", 401}, 10: {"E_FORBIDDEN", 401},
		11: {"E_DISABLED", 400}, 20: {"E_RESTART", 400}, 21: {"E_API_DISABLED", 401}, 22: {"E_BACKUP", 400},
	}
	for code, w := range want {
		if hestia.ExitName(code) != w.name || hestia.HTTPStatus(code) != w.status {
			t.Errorf("code %d: %s %d, want %s %d", code, hestia.ExitName(code), hestia.HTTPStatus(code), w.name, w.status)
		}
	}
	if hestia.HTTPStatus(0) != 200 || hestia.HTTPStatus(405) != 405 {
		t.Error("0 and pass-through codes")
	}
}
