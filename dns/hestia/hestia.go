// Package hestia is the HestiaCP provider. It drives Hestia's REST API
// (web/api/index.php): a POST to {url}/api/ with cmd, arg1..argN and either
// an access key pair (access_key + secret_key, Hestia >= 1.6) or the legacy
// admin hash, and returncode=yes (the body is the command's exit code) or
// returncode=no (the body is the command's output).
//
// Commands used: v-list-dns-domains USER json, v-list-dns-records USER
// DOMAIN json (returncode=no; once per domain and core.Snapshot), and
// v-delete-dns-record USER DOMAIN ID
// (returncode=yes, so the exit code is known in both authentication modes).
// Exit codes are those of hestiacp func/main.sh; HTTP statuses those of
// exit_code_to_http_code in web/inc/helpers.php.
package hestia

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
)

// Hestia exit codes (func/main.sh; 21-22 from web/inc/helpers.php).
const (
	OK           = 0
	EArgs        = 1
	EInvalid     = 2
	ENotExist    = 3
	EExists      = 4
	ESuspended   = 5
	EUnsuspended = 6
	EInUse       = 7
	ELimit       = 8
	EPassword    = 9
	EForbidden   = 10
	EDisabled    = 11
	EParsing     = 12
	EDisk        = 13
	ELA          = 14
	EConnect     = 15
	EFTP         = 16
	EDB          = 17
	ERRD         = 18
	EUpdate      = 19
	ERestart     = 20
	EAPIDisabled = 21
	EBackup      = 22
)

var exitNames = map[int]string{
	EArgs: "E_ARGS", EInvalid: "E_INVALID", ENotExist: "E_NOTEXIST", EExists: "E_EXISTS",
	ESuspended: "E_SUSPENDED", EUnsuspended: "E_UNSUSPENDED", EInUse: "E_INUSE", ELimit: "E_LIMIT",
	EPassword: "E_PASSWORD", EForbidden: "E_FORBIDDEN", EDisabled: "E_DISABLED", EParsing: "E_PARSING",
	EDisk: "E_DISK", ELA: "E_LA", EConnect: "E_CONNECT", EFTP: "E_FTP", EDB: "E_DB", ERRD: "E_RRD",
	EUpdate: "E_UPDATE", ERestart: "E_RESTART", EAPIDisabled: "E_API_DISABLED", EBackup: "E_BACKUP",
}

// ExitName names a Hestia exit code ("E_NOTEXIST"), or "" when unknown.
func ExitName(code int) string { return exitNames[code] }

// HTTPStatus is Hestia's exit_code_to_http_code (web/inc/helpers.php):
// the status of an error answer in access-key mode with returncode=no.
func HTTPStatus(code int) int {
	switch code {
	case OK:
		return http.StatusOK
	case EArgs:
		return http.StatusBadRequest
	case EInvalid:
		return http.StatusUnprocessableEntity
	case EPassword, ESuspended, EUnsuspended, EForbidden, EAPIDisabled:
		return http.StatusUnauthorized
	case EDisabled:
		return http.StatusBadRequest
	}
	if code >= 100 {
		return code // api_error passes HTTP-like codes (405) through
	}
	return http.StatusBadRequest
}

// Provider deletes records through the HestiaCP API.
type Provider struct {
	core.Base
	endpoint string
	user     string
	// exactly one of (accessKey, secretKey) and hash is used
	accessKey, secretKey, hash string
}

// New builds the provider for a hestiacp config.
func New(cfg core.ProviderConfig, obs core.Observer) (*Provider, error) {
	if err := cfg.ValidateFor("hestia", core.KindHestia); err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.URL, "/")
	base = strings.TrimSuffix(base, "/api")
	return &Provider{
		Base:      core.NewBase(cfg, obs),
		endpoint:  base + "/api/",
		user:      cfg.User,
		accessKey: cfg.Secret("access_key"),
		secretKey: cfg.Secret("secret_key"),
		hash:      cfg.Secret("api_key"),
	}, nil
}

// Kind is "hestiacp".
func (p *Provider) Kind() string { return core.KindHestia }

// Result is the answer to one command.
type Result struct {
	HTTPStatus int
	// ExitCode is the command's exit code: from the body with returncode=yes,
	// from the Hestia-Exit-Code header otherwise (access-key mode), or -1
	// when unknown (legacy mode without returncode).
	ExitCode int
	Output   string
}

// Command runs one Hestia command through the API. With returnCode the
// body is the exit code; otherwise it is the command's output. A transport
// failure is an error; a failing command is reported in Result.
func (p *Provider) Command(ctx context.Context, returnCode bool, cmd string, args ...string) (*Result, error) {
	form := url.Values{}
	logForm := url.Values{}
	set := func(k, v string, secret bool) {
		form.Set(k, v)
		if secret {
			logForm.Set(k, "REDACTED")
		} else {
			logForm.Set(k, v)
		}
	}
	if p.hash != "" {
		set("hash", p.hash, true)
	} else {
		set("access_key", p.accessKey, true)
		set("secret_key", p.secretKey, true)
	}
	set("cmd", cmd, false)
	for i, a := range args {
		set("arg"+strconv.Itoa(i+1), a, false)
	}
	rc := "no"
	if returnCode {
		rc = "yes"
	}
	set("returncode", rc, false)

	resp, err := p.Client.Do(ctx, core.Request{
		Method:  http.MethodPost,
		URL:     p.endpoint,
		Header:  http.Header{"Content-Type": {"application/x-www-form-urlencoded"}},
		Body:    []byte(form.Encode()),
		LogBody: logForm.Encode(),
	})
	if err != nil {
		return nil, err
	}
	res := &Result{HTTPStatus: resp.Status, ExitCode: -1, Output: strings.TrimSpace(string(resp.Body))}
	if h := resp.Header.Get("Hestia-Exit-Code"); h != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(h)); err == nil {
			res.ExitCode = n
		}
	}
	if returnCode {
		if n, err := strconv.Atoi(res.Output); err == nil {
			res.ExitCode = n
		} else if res.ExitCode < 0 {
			return res, p.Client.Errorf(resp.Status, "%s: HTTP %d, expected an exit code, got: %s", cmd, resp.Status, core.Snippet(resp.Body))
		}
	}
	return res, nil
}

// failure words a failed command, or returns nil when it succeeded.
func (p *Provider) failure(cmd string, r *Result) error {
	failed := r.HTTPStatus >= 300 || r.ExitCode > 0 ||
		// legacy mode reports command errors only in the output text
		(r.ExitCode < 0 && strings.HasPrefix(strings.ToLower(r.Output), "error"))
	if !failed {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: ", cmd)
	if r.ExitCode > 0 {
		fmt.Fprintf(&b, "exit %d", r.ExitCode)
		if n := ExitName(r.ExitCode); n != "" {
			fmt.Fprintf(&b, " (%s)", n)
		}
	} else {
		b.WriteString("failed")
	}
	if r.HTTPStatus >= 300 {
		fmt.Fprintf(&b, ", HTTP %d", r.HTTPStatus)
	}
	if r.Output != "" {
		if _, err := strconv.Atoi(r.Output); err != nil {
			fmt.Fprintf(&b, ": %s", core.Snippet([]byte(r.Output)))
		}
	}
	switch r.ExitCode {
	case EPassword, EForbidden, EAPIDisabled:
		b.WriteString(" (check access_key/secret_key or api_key, and the key's permissions)")
	}
	return p.Client.Errorf(r.HTTPStatus, "%s", b.String())
}

// Domain is one entry of v-list-dns-domains USER json.
type Domain struct {
	IP        string `json:"IP"`
	TPL       string `json:"TPL"`
	TTL       string `json:"TTL"`
	SOA       string `json:"SOA"`
	Serial    string `json:"SERIAL"`
	Records   string `json:"RECORDS"`
	Suspended string `json:"SUSPENDED"`
}

// DNSRecord is one entry of v-list-dns-records USER DOMAIN json.
type DNSRecord struct {
	Record    string `json:"RECORD"`
	Type      string `json:"TYPE"`
	Priority  string `json:"PRIORITY"`
	Value     string `json:"VALUE"`
	ID        string `json:"ID"`
	Suspended string `json:"SUSPENDED"`
	TTL       string `json:"TTL,omitempty"`
}

func (p *Provider) listJSON(ctx context.Context, out any, cmd string, args ...string) error {
	r, err := p.Command(ctx, false, cmd, args...)
	if err != nil {
		return err
	}
	if err := p.failure(cmd, r); err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(r.Output), out); err != nil {
		return p.Client.Errorf(r.HTTPStatus, "%s: malformed answer (%v): %s", cmd, err, core.Snippet([]byte(r.Output)))
	}
	return nil
}

// Zones lists the user's DNS domains that pass the allow-list.
func (p *Provider) Zones(ctx context.Context) ([]core.Zone, error) {
	var doms map[string]Domain
	if err := p.listJSON(ctx, &doms, "v-list-dns-domains", p.user, "json"); err != nil {
		return nil, err
	}
	out := make([]core.Zone, 0, len(doms))
	for name := range doms {
		if p.Cfg.AllowsZone(name) {
			out = append(out, core.Zone{ID: name, Name: name})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// OwnerName turns a Hestia RECORD field into an absolute owner name: "@"
// is the zone apex, a name ending in "." is absolute, anything else is
// relative to the zone.
func OwnerName(record, zone string) string {
	z := core.Canon(zone)
	switch {
	case record == "@" || record == "":
		return z
	case strings.HasSuffix(record, "."):
		return core.Canon(record)
	}
	return core.Canon(record) + "." + z
}

// records returns the zone's records by key: snap's copy, or
// v-list-dns-records kept in snap.
func (p *Provider) records(ctx context.Context, snap *core.Snapshot, zone core.Zone) (map[string]DNSRecord, error) {
	return core.SnapshotZone(snap, zone.ID, func() (map[string]DNSRecord, error) {
		var recs map[string]DNSRecord
		if err := p.listJSON(ctx, &recs, "v-list-dns-records", p.user, zone.ID, "json"); err != nil {
			return nil, err
		}
		return recs, nil
	})
}

// Records returns the records at name in zone, from snap's copy of the
// zone (one v-list-dns-records per snapshot).
func (p *Provider) Records(ctx context.Context, snap *core.Snapshot, zone core.Zone, name string) ([]core.Record, error) {
	recs, err := p.records(ctx, snap, zone)
	if err != nil {
		return nil, err
	}
	want := core.Canon(name)
	var out []core.Record
	for key, r := range recs {
		if OwnerName(r.Record, zone.Name) != want {
			continue
		}
		id := r.ID
		if id == "" {
			id = key
		}
		ttl, _ := strconv.Atoi(r.TTL)
		out = append(out, core.Record{ID: id, Name: OwnerName(r.Record, zone.Name), Type: strings.ToUpper(r.Type), Content: r.Value, TTL: ttl})
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.Atoi(out[i].ID)
		b, _ := strconv.Atoi(out[j].ID)
		return a < b
	})
	return out, nil
}

// Delete runs v-delete-dns-record USER DOMAIN ID. Exit 3 (E_NOTEXIST)
// means the record (or its domain) is gone: ErrNotFound. Exit 2
// (E_INVALID) for an A record is Hestia refusing to delete the zone's last
// A record (is_dns_record_critical, which also guards NS records). It reads
// nothing: the id says which record; once the record is gone (deleted,
// exit 3, or exit 20), it is dropped from snap's copy of the zone too.
func (p *Provider) Delete(ctx context.Context, snap *core.Snapshot, zone core.Zone, rec core.Record) error {
	const cmd = "v-delete-dns-record"
	if _, err := strconv.Atoi(rec.ID); err != nil {
		return fmt.Errorf("%s: record has no numeric id", cmd)
	}
	r, err := p.Command(ctx, true, cmd, p.user, zone.ID, rec.ID)
	if err != nil {
		return err
	}
	switch {
	case r.HTTPStatus < 300 && r.ExitCode == OK:
		p.drop(snap, zone, rec.ID)
		return nil
	case r.ExitCode == ENotExist:
		p.drop(snap, zone, rec.ID)
		return fmt.Errorf("%s: id %s: %w", cmd, rec.ID, core.ErrNotFound)
	case r.ExitCode == EInvalid && (strings.EqualFold(rec.Type, "A") || strings.EqualFold(rec.Type, "NS")):
		return p.Client.Errorf(r.HTTPStatus, "%s: exit 2 (E_INVALID): HestiaCP refuses to delete the last %s record of zone %s", cmd, strings.ToUpper(rec.Type), core.Canon(zone.Name))
	case r.ExitCode == ERestart:
		p.drop(snap, zone, rec.ID)
		return p.Client.Errorf(r.HTTPStatus, "%s: exit 20 (E_RESTART): record removed from HestiaCP but the DNS server restart failed", cmd)
	}
	return p.failure(cmd, r)
}

// drop removes the record id from snap's copy of zone, if snap holds one.
func (p *Provider) drop(snap *core.Snapshot, zone core.Zone, id string) {
	recs, _ := core.SnapshotCopy[map[string]DNSRecord](snap, zone.ID)
	for key, r := range recs {
		if key == id || r.ID == id {
			delete(recs, key)
		}
	}
}
