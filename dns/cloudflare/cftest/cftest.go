// Package cftest is an HTTP double of the part of the Cloudflare v4 API
// that package cloudflare uses, following the published API reference:
//
//   - GET /zones with name, page, per_page (5-50, default 20) and the
//     result_info block {page, per_page, count, total_count, total_pages};
//   - GET /zones/{zone_id}/dns_records with name (exact, case-insensitive),
//     type, content, page, per_page (default 100);
//   - DELETE /zones/{zone_id}/dns_records/{id} answering {"result":{"id":...}};
//   - "Authorization: Bearer <token>" authentication;
//   - the {success, errors, messages, result} envelope on every answer.
//
// The error codes and statuses of failures are not all published; the
// double's choices (and why) are listed in dns/README.md.
package cftest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/dnstest"
)

// Record is a DNS record held by the double.
type Record struct {
	ID      string
	Name    string // full name, lower case, no trailing dot
	Type    string
	Content string
	TTL     int
}

type zone struct {
	id, name string
	records  map[string]*Record
	created  time.Time
}

// Server is a running double.
type Server struct {
	// URL is the API base, like https://api.cloudflare.com/client/v4.
	URL string

	dnstest.Double
	mu     sync.Mutex
	zones  map[string]*zone // by id
	tokens map[string]bool
}

// NewServer starts a double. Close it when done.
func NewServer() *Server {
	s := &Server{zones: map[string]*zone{}, tokens: map[string]bool{}}
	s.URL = s.Serve(s.serve) + "/client/v4"
	return s
}

// Start starts a double for t and closes it in t.Cleanup.
func Start(t testing.TB) *Server { return dnstest.Start(t, NewServer) }

// AddToken creates an API token (40 characters) valid for every zone.
func (s *Server) AddToken() string {
	tok := dnstest.RandomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = true
	return tok
}

func newID() string { return dnstest.RandomHex(16) }

// CreateZone adds a zone and returns its id. Several zones may share a name
// (as pending/moved zones of different accounts can).
func (s *Server) CreateZone(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := &zone{id: newID(), name: core.Canon(name), records: map[string]*Record{}, created: time.Now()}
	s.zones[z.id] = z
	return z.id
}

func (s *Server) zoneByName(name string) *zone {
	var found *zone
	for _, z := range s.zones {
		if z.name == core.Canon(name) && (found == nil || z.created.Before(found.created)) {
			found = z
		}
	}
	return found
}

// AddRecord adds a record to the (first) zone named zoneName. name may be
// full or relative ("@" is the apex); content is normalized as the API
// does (addresses in canonical form, names without trailing dot).
func (s *Server) AddRecord(zoneName, name, rtype, content string, ttl int) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByName(zoneName)
	if z == nil {
		return "", fmt.Errorf("zone %s not found", zoneName)
	}
	full := core.Canon(name)
	switch {
	case name == "@":
		full = z.name
	case !core.ZoneMatches(full, z.name):
		full = full + "." + z.name
	}
	rtype = strings.ToUpper(rtype)
	c, err := normalizeContent(rtype, content)
	if err != nil {
		return "", err
	}
	if ttl == 0 {
		ttl = 1 // "automatic"
	}
	r := &Record{ID: newID(), Name: full, Type: rtype, Content: c, TTL: ttl}
	z.records[r.ID] = r
	return r.ID, nil
}

func normalizeContent(rtype, content string) (string, error) {
	switch rtype {
	case "A", "AAAA":
		ip, err := netip.ParseAddr(content)
		if err != nil || (rtype == "A") != ip.Is4() {
			return "", fmt.Errorf("content for %s record is invalid", rtype)
		}
		return ip.String(), nil
	case "PTR", "CNAME", "NS", "MX":
		return strings.TrimSuffix(content, "."), nil
	}
	return content, nil
}

// Records returns the records of the (first) zone named zoneName.
func (s *Server) Records(zoneName string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByName(zoneName)
	if z == nil {
		return nil
	}
	out := make([]Record, 0, len(z.records))
	for _, r := range z.records {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Content < out[j].Content
	})
	return out
}

// --- HTTP side ------------------------------------------------------------------

type apiErr struct {
	Code    int      `json:"code"`
	Message string   `json:"message"`
	Chain   []apiErr `json:"error_chain,omitempty"`
}

type envelope struct {
	Success    bool           `json:"success"`
	Errors     []apiErr       `json:"errors"`
	Messages   []apiErr       `json:"messages"`
	Result     any            `json:"result"`
	ResultInfo map[string]int `json:"result_info,omitempty"`
}

func reply(w http.ResponseWriter, status int, env envelope) {
	if env.Errors == nil {
		env.Errors = []apiErr{}
	}
	if env.Messages == nil {
		env.Messages = []apiErr{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(env)
}

func fail(w http.ResponseWriter, status int, errs ...apiErr) {
	reply(w, status, envelope{Success: false, Errors: errs, Result: nil})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/client/v4")
	if !ok {
		fail(w, http.StatusNotFound, apiErr{Code: 7000, Message: "No route for that URI"})
		return
	}
	auth := r.Header.Get("Authorization")
	tok, bearer := strings.CutPrefix(auth, "Bearer ")
	switch {
	case auth == "":
		fail(w, http.StatusBadRequest, apiErr{Code: 9106, Message: "Missing X-Auth-Key, X-Auth-Email or Authorization headers"})
		return
	case !bearer || tok == "" || strings.ContainsAny(tok, " \t"):
		fail(w, http.StatusBadRequest, apiErr{Code: 6003, Message: "Invalid request headers",
			Chain: []apiErr{{Code: 6111, Message: "Invalid format for Authorization header"}}})
		return
	}
	s.mu.Lock()
	valid := s.tokens[tok]
	s.mu.Unlock()
	if !valid {
		fail(w, http.StatusForbidden, apiErr{Code: 10000, Message: "Authentication error"})
		return
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "zones" && r.Method == http.MethodGet:
		s.listZones(w, r)
	case len(parts) == 3 && parts[0] == "zones" && parts[2] == "dns_records" && r.Method == http.MethodGet:
		s.listRecords(w, r, parts[1])
	case len(parts) == 4 && parts[0] == "zones" && parts[2] == "dns_records" && r.Method == http.MethodDelete:
		s.deleteRecord(w, parts[1], parts[3])
	case len(parts) >= 1 && parts[0] == "zones":
		fail(w, http.StatusMethodNotAllowed, apiErr{Code: 10405, Message: "Method not allowed for this path"})
	default:
		fail(w, http.StatusNotFound, apiErr{Code: 7000, Message: "No route for that URI"})
	}
}

// paging reads page and per_page, answering 400 when out of range.
func paging(w http.ResponseWriter, r *http.Request, def, max int) (int, int, bool) {
	page, perPage := 1, def
	if v := r.URL.Query().Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail(w, http.StatusBadRequest, apiErr{Code: 1001, Message: "Invalid page: must be a positive integer"})
			return 0, 0, false
		}
		page = n
	}
	if v := r.URL.Query().Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > max {
			fail(w, http.StatusBadRequest, apiErr{Code: 1001, Message: fmt.Sprintf("Invalid per_page: must be between 5 and %d", max)})
			return 0, 0, false
		}
		perPage = n
	}
	return page, perPage, true
}

func pageOf[T any](items []T, page, perPage int) ([]T, map[string]int) {
	total := len(items)
	pages := (total + perPage - 1) / perPage
	lo := (page - 1) * perPage
	if lo > total {
		lo = total
	}
	hi := lo + perPage
	if hi > total {
		hi = total
	}
	out := items[lo:hi]
	return out, map[string]int{"page": page, "per_page": perPage, "count": len(out), "total_count": total, "total_pages": pages}
}

func (s *Server) listZones(w http.ResponseWriter, r *http.Request) {
	page, perPage, ok := paging(w, r, 20, 50)
	if !ok {
		return
	}
	name := r.URL.Query().Get("name")
	s.mu.Lock()
	var zs []*zone
	for _, z := range s.zones {
		if name == "" || z.name == core.Canon(name) {
			zs = append(zs, z)
		}
	}
	s.mu.Unlock()
	sort.Slice(zs, func(i, j int) bool {
		if zs[i].name != zs[j].name {
			return zs[i].name < zs[j].name
		}
		return zs[i].created.Before(zs[j].created)
	})
	items := make([]map[string]any, 0, len(zs))
	for _, z := range zs {
		items = append(items, map[string]any{"id": z.id, "name": z.name, "status": "active", "paused": false, "type": "full",
			"created_on": z.created.UTC().Format(time.RFC3339Nano)})
	}
	res, info := pageOf(items, page, perPage)
	reply(w, http.StatusOK, envelope{Success: true, Result: res, ResultInfo: info})
}

func badZone(w http.ResponseWriter, path string) {
	fail(w, http.StatusBadRequest, apiErr{Code: 7003, Message: "Could not route to " + path + ", perhaps your object identifier is invalid?"},
		apiErr{Code: 7000, Message: "No route for that URI"})
}

func (s *Server) listRecords(w http.ResponseWriter, r *http.Request, zoneID string) {
	page, perPage, ok := paging(w, r, 100, 5000000)
	if !ok {
		return
	}
	q := r.URL.Query()
	s.mu.Lock()
	z := s.zones[zoneID]
	var recs []Record
	if z != nil {
		for _, rec := range z.records {
			if n := q.Get("name"); n != "" && rec.Name != core.Canon(n) {
				continue
			}
			if t := q.Get("type"); t != "" && !strings.EqualFold(rec.Type, t) {
				continue
			}
			if c := q.Get("content"); c != "" && !strings.EqualFold(rec.Content, c) {
				continue
			}
			recs = append(recs, *rec)
		}
	}
	s.mu.Unlock()
	if z == nil {
		badZone(w, "/zones/"+zoneID+"/dns_records")
		return
	}
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Type != recs[j].Type {
			return recs[i].Type < recs[j].Type
		}
		return recs[i].Content < recs[j].Content
	})
	items := make([]map[string]any, 0, len(recs))
	for _, rec := range recs {
		items = append(items, map[string]any{
			"id": rec.ID, "zone_id": z.id, "zone_name": z.name, "name": rec.Name, "type": rec.Type,
			"content": rec.Content, "proxiable": rec.Type == "A" || rec.Type == "AAAA", "proxied": false,
			"ttl": rec.TTL, "locked": false, "meta": map[string]any{"auto_added": false}, "comment": nil, "tags": []string{},
		})
	}
	res, info := pageOf(items, page, perPage)
	reply(w, http.StatusOK, envelope{Success: true, Result: res, ResultInfo: info})
}

func (s *Server) deleteRecord(w http.ResponseWriter, zoneID, recID string) {
	s.mu.Lock()
	z := s.zones[zoneID]
	var found bool
	if z != nil {
		if _, found = z.records[recID]; found {
			delete(z.records, recID)
		}
	}
	s.mu.Unlock()
	switch {
	case z == nil:
		badZone(w, "/zones/"+zoneID+"/dns_records/"+recID)
	case !found:
		fail(w, http.StatusNotFound, apiErr{Code: 81044, Message: "Record does not exist."})
	default:
		reply(w, http.StatusOK, envelope{Success: true, Result: map[string]string{"id": recID}})
	}
}
