// Package powerdns is the PowerDNS Authoritative HTTP API provider.
//
// It lists zones (GET /api/v1/servers/{server}/zones), reads a zone's
// rrsets (GET .../zones/{id}, once per zone and core.Snapshot) and deletes
// one record with PATCH .../zones/{id}: changetype DELETE removes a whole
// rrset (name+type), so when other records remain in the rrset it is
// REPLACEd with them instead.
// Names are sent in canonical form (trailing dot). Authentication is the
// X-API-Key header. Tested against a real pdns_server 4.7 (see pdnstest).
package powerdns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
)

// RRset is an rrset as the API sends and takes it.
type RRset struct {
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	TTL        int       `json:"ttl,omitempty"`
	ChangeType string    `json:"changetype,omitempty"`
	Records    []Record  `json:"records,omitempty"`
	Comments   []Comment `json:"comments,omitempty"`
}

// Record is one record of an rrset.
type Record struct {
	Content  string `json:"content"`
	Disabled bool   `json:"disabled"`
}

// Comment is an rrset comment.
type Comment struct {
	Content    string `json:"content"`
	Account    string `json:"account"`
	ModifiedAt int64  `json:"modified_at"`
}

// ZoneInfo is a zone as listed (RRsets empty) or fetched (RRsets filled).
type ZoneInfo struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	URL         string   `json:"url,omitempty"`
	Serial      int64    `json:"serial,omitempty"`
	Nameservers []string `json:"nameservers,omitempty"`
	RRsets      []RRset  `json:"rrsets,omitempty"`
}

// Provider deletes records through the PowerDNS API.
type Provider struct {
	core.Base
	base string // .../api/v1/servers/{server}
	key  string
}

// New builds the provider for a powerdns config.
func New(cfg core.ProviderConfig, obs core.Observer) (*Provider, error) {
	if err := cfg.ValidateFor("powerdns", core.KindPowerDNS); err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.URL, "/")
	base = strings.TrimSuffix(base, "/api/v1")
	base = strings.TrimSuffix(base, "/api")
	sid := cfg.ServerID
	if sid == "" {
		sid = core.DefaultServerID
	}
	return &Provider{
		Base: core.NewBase(cfg, obs),
		base: base + "/api/v1/servers/" + url.PathEscape(sid),
		key:  cfg.Secret("api_key"),
	}, nil
}

// Kind is "powerdns".
func (p *Provider) Kind() string { return core.KindPowerDNS }

func (p *Provider) zoneURL(id string) string { return p.base + "/zones/" + url.PathEscape(id) }

// call performs one API call and decodes a JSON answer into out (when not
// nil). Error statuses become redacted errors in the API's own words.
func (p *Provider) call(ctx context.Context, method, u string, in, out any) error {
	req := core.Request{Method: method, URL: u, Header: http.Header{"X-API-Key": {p.key}, "Accept": {"application/json"}}}
	if in != nil {
		body, err := json.Marshal(in)
		if err != nil {
			return err
		}
		req.Body = body
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.Client.Do(ctx, req)
	if err != nil {
		return err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return p.statusError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return p.Client.Errorf(resp.Status, "malformed response from %s: %v", method, err)
	}
	return nil
}

// statusError words an error status: plain text for 401/404 (and 400 on
// unparsable JSON), {"error": "..."} for 422 and most others.
func (p *Provider) statusError(resp *core.Response) error {
	var e struct {
		Error string `json:"error"`
	}
	msg := ""
	if json.Unmarshal(resp.Body, &e) == nil && e.Error != "" {
		msg = e.Error
	} else {
		msg = core.Snippet(resp.Body)
	}
	switch resp.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return p.Client.Errorf(resp.Status, "HTTP %d %s (check api_key)", resp.Status, msg)
	}
	return p.Client.Errorf(resp.Status, "HTTP %d: %s", resp.Status, msg)
}

// ListZones returns every zone of the server (without rrsets).
func (p *Provider) ListZones(ctx context.Context) ([]ZoneInfo, error) {
	var zs []ZoneInfo
	if err := p.call(ctx, http.MethodGet, p.base+"/zones", nil, &zs); err != nil {
		return nil, err
	}
	return zs, nil
}

// GetZone fetches one zone with its rrsets.
func (p *Provider) GetZone(ctx context.Context, id string) (*ZoneInfo, error) {
	var z ZoneInfo
	if err := p.call(ctx, http.MethodGet, p.zoneURL(id), nil, &z); err != nil {
		return nil, err
	}
	return &z, nil
}

// Patch applies rrset changes (REPLACE or DELETE) to a zone.
func (p *Provider) Patch(ctx context.Context, id string, rrsets []RRset) error {
	return p.call(ctx, http.MethodPatch, p.zoneURL(id), map[string]any{"rrsets": rrsets}, nil)
}

// CreateZone creates a Native zone with the given nameservers and rrsets.
func (p *Provider) CreateZone(ctx context.Context, name string, nameservers []string, rrsets []RRset) (*ZoneInfo, error) {
	in := map[string]any{"name": core.Absolute(name), "kind": "Native", "nameservers": nameservers}
	if len(rrsets) > 0 {
		in["rrsets"] = rrsets
	}
	var z ZoneInfo
	if err := p.call(ctx, http.MethodPost, p.base+"/zones", in, &z); err != nil {
		return nil, err
	}
	return &z, nil
}

// readOnlyKinds are zone kinds whose records PowerDNS does not let the API
// change.
var readOnlyKinds = map[string]string{
	"slave":     "secondary zone; change the primary",
	"secondary": "secondary zone; change the primary",
	"consumer":  "catalog consumer zone",
}

// Zones lists the server's zones that pass the allow-list.
func (p *Provider) Zones(ctx context.Context) ([]core.Zone, error) {
	zs, err := p.ListZones(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]core.Zone, 0, len(zs))
	for _, z := range zs {
		if z.ID == "" || z.Name == "" {
			return nil, p.Client.Errorf(200, "malformed zone list: zone without id or name")
		}
		if !p.Cfg.AllowsZone(z.Name) {
			continue
		}
		why, ro := readOnlyKinds[strings.ToLower(z.Kind)]
		out = append(out, core.Zone{ID: z.ID, Name: z.Name, ReadOnly: ro, ReadOnlyReason: why})
	}
	return out, nil
}

// zone returns zone's rrsets: snap's copy, or a GET of the zone kept in snap.
func (p *Provider) zone(ctx context.Context, snap *core.Snapshot, zone core.Zone) (*ZoneInfo, error) {
	return core.SnapshotZone(snap, zone.ID, func() (*ZoneInfo, error) { return p.GetZone(ctx, zone.ID) })
}

// Records returns every record at name in zone, from snap's copy of the
// zone (one GET of the zone per snapshot).
func (p *Provider) Records(ctx context.Context, snap *core.Snapshot, zone core.Zone, name string) ([]core.Record, error) {
	zi, err := p.zone(ctx, snap, zone)
	if err != nil {
		return nil, err
	}
	want := core.Canon(name)
	var out []core.Record
	for _, rs := range zi.RRsets {
		if core.Canon(rs.Name) != want {
			continue
		}
		for _, r := range rs.Records {
			out = append(out, core.Record{Name: rs.Name, Type: strings.ToUpper(rs.Type), Content: r.Content, TTL: rs.TTL, Disabled: r.Disabled})
		}
	}
	return out, nil
}

// Delete removes rec from its rrset: it takes the rrset from snap's copy of
// the zone (read when snap has none, and always with a nil snap), drops the
// records equal to rec (addresses compared as addresses, names without case
// or trailing dot), and REPLACEs the rrset with what remains, or DELETEs it
// when nothing does. ErrNotFound when rec is no longer there.
//
// The PATCH is the only request when the zone has been read: once it
// succeeds, the copy is changed as the server's zone was; when it gets no
// answer (the change may or may not be made), the copy is dropped and the
// next call reads the zone again; an error answer leaves both unchanged.
func (p *Provider) Delete(ctx context.Context, snap *core.Snapshot, zone core.Zone, rec core.Record) error {
	zi, err := p.zone(ctx, snap, zone)
	if err != nil {
		return err
	}
	want := core.Canon(rec.Name)
	for i, rs := range zi.RRsets {
		if core.Canon(rs.Name) != want || !strings.EqualFold(rs.Type, rec.Type) {
			continue
		}
		keep := make([]Record, 0, len(rs.Records))
		for _, r := range rs.Records {
			if !SameContent(rs.Type, r.Content, rec.Content) {
				keep = append(keep, r)
			}
		}
		if len(keep) == len(rs.Records) {
			break
		}
		change := RRset{Name: rs.Name, Type: rs.Type, ChangeType: "DELETE"}
		if len(keep) > 0 {
			change = RRset{Name: rs.Name, Type: rs.Type, TTL: rs.TTL, ChangeType: "REPLACE", Records: keep}
		}
		if err := p.Patch(ctx, zone.ID, []RRset{change}); err != nil {
			if !answered(err) {
				snap.Forget(zone.ID)
			}
			return err
		}
		if len(keep) > 0 {
			zi.RRsets[i].Records = keep
		} else {
			zi.RRsets = append(zi.RRsets[:i:i], zi.RRsets[i+1:]...)
		}
		return nil
	}
	return fmt.Errorf("%s %s %s: %w", rec.Name, rec.Type, rec.Content, core.ErrNotFound)
}

// answered reports whether err is the server's error answer (a status of
// 300 or more), after which PowerDNS has made no change; any other error
// (no answer, an unreadable 2xx) leaves the outcome unknown.
func answered(err error) bool {
	var e *core.Error
	return errors.As(err, &e) && e.Status >= 300
}

// SameContent compares record data the way the DNS does: A/AAAA as
// addresses (so 2001:db8:0::1 equals 2001:db8::1), names without case or
// trailing dot, anything else byte for byte.
func SameContent(rtype, a, b string) bool {
	switch strings.ToUpper(rtype) {
	case "A", "AAAA":
		x, err1 := netip.ParseAddr(strings.TrimSpace(a))
		y, err2 := netip.ParseAddr(strings.TrimSpace(b))
		if err1 != nil || err2 != nil {
			return strings.TrimSpace(a) == strings.TrimSpace(b)
		}
		return x.Unmap() == y.Unmap()
	case "PTR", "CNAME", "NS":
		return core.Canon(strings.TrimSpace(a)) == core.Canon(strings.TrimSpace(b))
	}
	return a == b
}

// IsNotFound reports whether err is an HTTP 404 from the API.
func IsNotFound(err error) bool {
	var e *core.Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}
