// Package cloudflare is the Cloudflare v4 API provider: Bearer token
// authentication, GET /zones (by name when an allow-list is configured),
// GET /zones/{id}/dns_records?name= with page/per_page pagination and
// result_info, DELETE /zones/{id}/dns_records/{id}, and the
// {success, errors, messages, result} envelope.
//
// It is a small hand-written client rather than
// github.com/cloudflare/cloudflare-go v0.x: three endpoints do not justify
// the dependency tree, and v0's defaults (a 4 requests/second limiter and
// three retries with up to 30 s back-off) would break the per-provider time
// budget and the one-Observer-call-per-HTTP-call contract unless every
// default were overridden; v0 is also in maintenance only, and v4+ is not
// served by the module proxy here.
package cloudflare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
)

const (
	zonesPerPage   = 50  // the zones endpoint's maximum
	recordsPerPage = 100 // the dns_records endpoint's default
	maxPages       = 1000
)

// APIError is one entry of the envelope's errors array.
type APIError struct {
	Code    int        `json:"code"`
	Message string     `json:"message"`
	Chain   []APIError `json:"error_chain,omitempty"`
}

// ResultInfo is the envelope's pagination block.
type ResultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

type envelope struct {
	Success    bool            `json:"success"`
	Errors     []APIError      `json:"errors"`
	Messages   json.RawMessage `json:"messages"`
	Result     json.RawMessage `json:"result"`
	ResultInfo *ResultInfo     `json:"result_info"`
}

// ZoneInfo is a zone as the API lists it.
type ZoneInfo struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// DNSRecord is a DNS record as the API lists it.
type DNSRecord struct {
	ID       string `json:"id"`
	ZoneID   string `json:"zone_id,omitempty"`
	ZoneName string `json:"zone_name,omitempty"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Content  string `json:"content"`
	TTL      int    `json:"ttl"`
	Proxied  bool   `json:"proxied"`
}

// Provider deletes records through the Cloudflare API.
type Provider struct {
	core.Base
	base  string
	token string
}

// New builds the provider for a cloudflare config.
func New(cfg core.ProviderConfig, obs core.Observer) (*Provider, error) {
	if err := cfg.ValidateFor("cloudflare", core.KindCloudflare); err != nil {
		return nil, err
	}
	base := cfg.URL
	if base == "" {
		base = core.DefaultCloudflareURL
	}
	return &Provider{Base: core.NewBase(cfg, obs), base: strings.TrimRight(base, "/"), token: cfg.Secret("token")}, nil
}

// Kind is "cloudflare".
func (p *Provider) Kind() string { return core.KindCloudflare }

// do performs one call and unwraps the envelope into out.
func (p *Provider) do(ctx context.Context, method, path string, q url.Values, out any) (*ResultInfo, error) {
	u := p.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	resp, err := p.Client.Do(ctx, core.Request{Method: method, URL: u, Header: http.Header{
		"Authorization": {"Bearer " + p.token},
		"Accept":        {"application/json"},
	}})
	if err != nil {
		return nil, err
	}
	var env envelope
	if jerr := json.Unmarshal(resp.Body, &env); jerr != nil {
		if resp.Status < 200 || resp.Status > 299 {
			return nil, p.Client.Errorf(resp.Status, "HTTP %d: %s", resp.Status, core.Snippet(resp.Body))
		}
		return nil, p.Client.Errorf(resp.Status, "malformed response: %v", jerr)
	}
	if resp.Status < 200 || resp.Status > 299 || !env.Success {
		return nil, p.Client.Errorf(resp.Status, "HTTP %d: %s%s", resp.Status, describe(env.Errors), authHint(resp.Status))
	}
	if out != nil {
		if err := json.Unmarshal(env.Result, out); err != nil {
			return nil, p.Client.Errorf(resp.Status, "malformed result: %v", err)
		}
	}
	return env.ResultInfo, nil
}

func authHint(status int) string {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return " (check token and its Zone:Read, DNS:Edit permissions)"
	}
	return ""
}

// describe renders API errors as "[code] message; ..." with their chains.
func describe(errs []APIError) string {
	if len(errs) == 0 {
		return "request unsuccessful (no error detail)"
	}
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		s := fmt.Sprintf("[%d] %s", e.Code, e.Message)
		if len(e.Chain) > 0 {
			s += " (" + describe(e.Chain) + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// hasStatus reports whether err is an answer with this HTTP status.
func hasStatus(err error, status int) bool {
	var e *core.Error
	return errors.As(err, &e) && e.Status == status
}

// more decides whether another page follows, from whatever result_info
// carries (total_pages, else total_count, else a short page).
func more(ri *ResultInfo, page, perPage, got int) bool {
	switch {
	case ri == nil:
		return false
	case ri.TotalPages > 0:
		return page < ri.TotalPages
	case ri.TotalCount > 0:
		return page*perPage < ri.TotalCount
	}
	return got >= perPage
}

// ListZones lists zones, all of them or those named name.
func (p *Provider) ListZones(ctx context.Context, name string) ([]ZoneInfo, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", core.Canon(name))
	}
	return listPages[ZoneInfo](ctx, p, "/zones", q, zonesPerPage)
}

// ListRecords lists the records named name (all types) in a zone.
func (p *Provider) ListRecords(ctx context.Context, zoneID, name string) ([]DNSRecord, error) {
	q := url.Values{"name": {core.Canon(name)}}
	return listPages[DNSRecord](ctx, p, "/zones/"+url.PathEscape(zoneID)+"/dns_records", q, recordsPerPage)
}

// listPages GETs path with the query q, page by page (perPage each, at most
// maxPages), and returns the results of every page.
func listPages[T any](ctx context.Context, p *Provider, path string, q url.Values, perPage int) ([]T, error) {
	var all []T
	for page := 1; page <= maxPages; page++ {
		pq := url.Values{"page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(perPage)}}
		for k, v := range q {
			pq[k] = v
		}
		var items []T
		ri, err := p.do(ctx, http.MethodGet, path, pq, &items)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if !more(ri, page, perPage, len(items)) {
			break
		}
	}
	return all, nil
}

// Zones lists the token's zones: by name for each allow-listed zone, or
// every zone (paginated) without an allow-list.
func (p *Provider) Zones(ctx context.Context) ([]core.Zone, error) {
	var infos []ZoneInfo
	if len(p.Cfg.Zones) > 0 {
		for _, z := range p.Cfg.Zones {
			zs, err := p.ListZones(ctx, z)
			if err != nil {
				return nil, err
			}
			infos = append(infos, zs...)
		}
	} else {
		zs, err := p.ListZones(ctx, "")
		if err != nil {
			return nil, err
		}
		infos = zs
	}
	out := make([]core.Zone, 0, len(infos))
	seen := map[string]bool{}
	for _, z := range infos {
		if z.ID == "" || z.Name == "" {
			return nil, p.Client.Errorf(200, "malformed zone list: zone without id or name")
		}
		if seen[z.ID] || !p.Cfg.AllowsZone(z.Name) {
			continue
		}
		seen[z.ID] = true
		out = append(out, core.Zone{ID: z.ID, Name: z.Name})
	}
	return out, nil
}

// Records returns the records at name in zone. Each call asks for name
// only (GET dns_records?name=), and a run asks for each name of a zone
// once, so it keeps nothing in snap.
func (p *Provider) Records(ctx context.Context, _ *core.Snapshot, zone core.Zone, name string) ([]core.Record, error) {
	rs, err := p.ListRecords(ctx, zone.ID, name)
	if err != nil {
		return nil, err
	}
	want := core.Canon(name)
	out := make([]core.Record, 0, len(rs))
	for _, r := range rs {
		if core.Canon(r.Name) != want { // the filter is the server's; check anyway
			continue
		}
		out = append(out, core.Record{ID: r.ID, Name: r.Name, Type: strings.ToUpper(r.Type), Content: r.Content, TTL: r.TTL})
	}
	return out, nil
}

// Delete deletes one record by id (reading nothing); a 404 means it is
// already gone.
func (p *Provider) Delete(ctx context.Context, _ *core.Snapshot, zone core.Zone, rec core.Record) error {
	if rec.ID == "" {
		return fmt.Errorf("cloudflare: record has no id")
	}
	_, err := p.do(ctx, http.MethodDelete, "/zones/"+url.PathEscape(zone.ID)+"/dns_records/"+url.PathEscape(rec.ID), nil, nil)
	if err != nil && hasStatus(err, http.StatusNotFound) {
		return fmt.Errorf("%s: %w", err.Error(), core.ErrNotFound)
	}
	return err
}
