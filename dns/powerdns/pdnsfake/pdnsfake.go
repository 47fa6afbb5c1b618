// Package pdnsfake is an in-process stand-in for the PowerDNS
// Authoritative HTTP API, for demos and tests where pdns_server is not
// installed. It speaks the subset package powerdns uses — list zones, get a
// zone with its rrsets, create a zone, PATCH rrsets with REPLACE/DELETE —
// with X-API-Key authentication and the status codes and error bodies
// pdns_server 4.7.3 gives (plain text for 400/401/404/405, {"error": ...}
// JSON for 409/422). The same provider tests run against it and against the
// real server (see dns/powerdns), and a parity test compares raw answers.
package pdnsfake

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
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns/pdnstest"
)

// Server is a running fake.
type Server struct {
	URL      string
	APIKey   string
	ServerID string // "localhost"

	dnstest.Double
	pdnstest.Client
	mu    sync.Mutex
	zones map[string]*zone // by canonical absolute name
}

type rrkey struct{ name, typ string }

type zone struct {
	name   string // absolute, lower case
	kind   string
	serial int64
	rrsets map[rrkey]*powerdns.RRset
}

// NewServer starts a fake on a loopback port with a random API key. Close
// (or Stop) it when done.
func NewServer() *Server {
	s := &Server{APIKey: dnstest.RandomHex(16), ServerID: "localhost", zones: map[string]*zone{}}
	s.URL = s.Serve(s.serve)
	c, err := pdnstest.NewClient(s.Config("pdnsfake"))
	if err != nil {
		panic(err) // the config built above is always valid
	}
	s.Client = c
	return s
}

// Start starts a fake for t and closes it in t.Cleanup.
func Start(t testing.TB) *Server { return dnstest.Start(t, NewServer) }

// Stop is Close, for symmetry with pdnstest.Server.
func (s *Server) Stop() error { s.Close(); return nil }

// Config returns a provider config for this fake, labelled name.
func (s *Server) Config(name string) core.ProviderConfig {
	return core.ProviderConfig{Kind: core.KindPowerDNS, Name: name, URL: s.URL, APIKey: s.APIKey, ServerID: s.ServerID}
}

// ZoneID encodes a zone name the way pdns_server makes zone ids: bytes
// other than letters, digits, '.', '-' and '_' become "=XX" ("/" → "=2F").
func ZoneID(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}

func zoneNameFromID(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		if id[i] == '=' && i+2 < len(id) {
			if v, err := strconv.ParseUint(id[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(id[i])
	}
	return b.String()
}

// --- HTTP side -------------------------------------------------------------

func plain(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}

func jsonOut(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, msg string) {
	jsonOut(w, status, map[string]string{"error": msg})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if !strings.HasPrefix(path, "/api") {
		plain(w, http.StatusNotFound, "Not Found")
		return
	}
	if r.Header.Get("X-API-Key") != s.APIKey {
		w.Header().Set("WWW-Authenticate", `X-API-Key realm="PowerDNS"`)
		plain(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	parts := strings.Split(strings.TrimPrefix(path, "/api/v1"), "/")
	// parts[0] == "" ; parts[1] == "servers" ; parts[2] == server ; parts[3] == "zones" ; parts[4] == id
	switch {
	case len(parts) == 2 && parts[1] == "servers" && r.Method == http.MethodGet:
		jsonOut(w, http.StatusOK, []any{s.serverObject()})
	case len(parts) < 3 || parts[1] != "servers" || parts[2] != s.ServerID:
		plain(w, http.StatusNotFound, "Not Found")
	case len(parts) == 3:
		if r.Method != http.MethodGet {
			plain(w, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		jsonOut(w, http.StatusOK, s.serverObject())
	case len(parts) == 4 && parts[3] == "zones":
		switch r.Method {
		case http.MethodGet:
			s.listZones(w)
		case http.MethodPost:
			s.createZone(w, r)
		default:
			plain(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		}
	case len(parts) == 5 && parts[3] == "zones":
		name := strings.ToLower(zoneNameFromID(parts[4]))
		if !strings.HasSuffix(name, ".") {
			plain(w, http.StatusNotFound, "Not Found") // ids always end in a dot
			return
		}
		switch r.Method {
		case http.MethodGet:
			s.getZone(w, name)
		case http.MethodPatch:
			s.patchZone(w, r, name)
		case http.MethodDelete:
			s.deleteZone(w, name)
		default:
			plain(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		}
	default:
		plain(w, http.StatusNotFound, "Not Found")
	}
}

func (s *Server) serverObject() map[string]any {
	return map[string]any{
		"daemon_type": "authoritative", "id": s.ServerID, "type": "Server", "version": "4.7.3-pdnsfake",
		"url": "/api/v1/servers/" + s.ServerID, "zones_url": "/api/v1/servers/" + s.ServerID + "/zones{/zone}",
		"config_url": "/api/v1/servers/" + s.ServerID + "/config{/config_setting}",
	}
}

func (s *Server) zoneObject(z *zone, withRRsets bool) map[string]any {
	id := ZoneID(z.name)
	o := map[string]any{
		"account": "", "catalog": "", "dnssec": false, "edited_serial": z.serial, "id": id, "kind": z.kind,
		"last_check": 0, "masters": []string{}, "name": z.name, "notified_serial": 0, "serial": z.serial,
		"url": "/api/v1/servers/" + s.ServerID + "/zones/" + id,
	}
	if withRRsets {
		o["api_rectify"] = false
		o["master_tsig_key_ids"] = []string{}
		o["nsec3narrow"] = false
		o["nsec3param"] = ""
		o["slave_tsig_key_ids"] = []string{}
		o["soa_edit"] = ""
		o["soa_edit_api"] = "DEFAULT"
		keys := make([]rrkey, 0, len(z.rrsets))
		for k := range z.rrsets {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].name != keys[j].name {
				return keys[i].name < keys[j].name
			}
			return keys[i].typ < keys[j].typ
		})
		rrsets := make([]map[string]any, 0, len(keys))
		for _, k := range keys {
			rs := z.rrsets[k]
			comments := rs.Comments
			if comments == nil {
				comments = []powerdns.Comment{}
			}
			rrsets = append(rrsets, map[string]any{"comments": comments, "name": rs.Name, "records": rs.Records, "ttl": rs.TTL, "type": rs.Type})
		}
		o["rrsets"] = rrsets
	}
	return o
}

func (s *Server) listZones(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.zones))
	for n := range s.zones {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]map[string]any, 0, len(names))
	for _, n := range names {
		out = append(out, s.zoneObject(s.zones[n], false))
	}
	jsonOut(w, http.StatusOK, out)
}

// zoneLocked is the zone name, or nil after answering 404 when there is
// none. s.mu is held.
func (s *Server) zoneLocked(w http.ResponseWriter, name string) *zone {
	z := s.zones[name]
	if z == nil {
		plain(w, http.StatusNotFound, "Not Found")
	}
	return z
}

func (s *Server) getZone(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneLocked(w, name)
	if z == nil {
		return
	}
	jsonOut(w, http.StatusOK, s.zoneObject(z, true))
}

func (s *Server) deleteZone(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.zoneLocked(w, name) == nil {
		return
	}
	delete(s.zones, name)
	w.WriteHeader(http.StatusNoContent)
}

// rawRRset is an rrset as a client sends it, with field presence kept so
// that validation can word errors like pdns_server.
type rawRRset map[string]json.RawMessage

func (s *Server) createZone(w http.ResponseWriter, r *http.Request) {
	var in map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		plain(w, http.StatusBadRequest, "Bad Request")
		return
	}
	var name, kind string
	if json.Unmarshal(in["name"], &name) != nil || name == "" {
		apiError(w, http.StatusUnprocessableEntity, "Key 'name' not present or not a String")
		return
	}
	_ = json.Unmarshal(in["kind"], &kind)
	if kind == "" {
		kind = "Native"
	}
	zname := core.Absolute(name)
	var nameservers []string
	if raw, ok := in["nameservers"]; ok && json.Unmarshal(raw, &nameservers) != nil {
		apiError(w, http.StatusUnprocessableEntity, "Nameservers is not a list")
		return
	}
	var rrsets []rawRRset
	if raw, ok := in["rrsets"]; ok && json.Unmarshal(raw, &rrsets) != nil {
		apiError(w, http.StatusUnprocessableEntity, "Key 'rrsets' not an Array")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.zones[zname]; ok {
		plain(w, http.StatusConflict, "Conflict")
		return
	}
	serial, _ := strconv.ParseInt(time.Now().UTC().Format("20060102")+"01", 10, 64)
	z := &zone{name: zname, kind: kind, serial: serial, rrsets: map[rrkey]*powerdns.RRset{}}
	z.rrsets[rrkey{zname, "SOA"}] = &powerdns.RRset{Name: zname, Type: "SOA", TTL: 3600, Records: []powerdns.Record{{Content: soa(zname, serial)}}}
	if len(nameservers) > 0 {
		ns := &powerdns.RRset{Name: zname, Type: "NS", TTL: 3600}
		for _, n := range nameservers {
			ns.Records = append(ns.Records, powerdns.Record{Content: n})
		}
		z.rrsets[rrkey{zname, "NS"}] = ns
	}
	if msg := s.applyLocked(z, rrsets, false); msg != "" {
		apiError(w, http.StatusUnprocessableEntity, msg)
		return
	}
	s.zones[zname] = z
	jsonOut(w, http.StatusCreated, s.zoneObject(z, true))
}

func soa(zone string, serial int64) string {
	return fmt.Sprintf("a.misconfigured.dns.server.invalid. hostmaster.%s %d 10800 3600 604800 3600", zone, serial)
}

func (s *Server) patchZone(w http.ResponseWriter, r *http.Request, name string) {
	var in map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		plain(w, http.StatusBadRequest, "Bad Request")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneLocked(w, name)
	if z == nil {
		return
	}
	var rrsets []rawRRset
	// pdns_server: a missing "rrsets" key is an error, an empty array a no-op.
	if raw, ok := in["rrsets"]; !ok || json.Unmarshal(raw, &rrsets) != nil {
		apiError(w, http.StatusUnprocessableEntity, "No rrsets given in update request")
		return
	}
	if strings.EqualFold(z.kind, "Slave") || strings.EqualFold(z.kind, "Secondary") || strings.EqualFold(z.kind, "Consumer") {
		apiError(w, http.StatusUnprocessableEntity, "Modifying RRsets in Consumer or Secondary zones is not allowed")
		return
	}
	// Validate and apply on a copy so that a failing change leaves the zone as it was.
	work := &zone{name: z.name, kind: z.kind, serial: z.serial, rrsets: map[rrkey]*powerdns.RRset{}}
	for k, v := range z.rrsets {
		cp := *v
		cp.Records = append([]powerdns.Record(nil), v.Records...)
		work.rrsets[k] = &cp
	}
	if msg := s.applyLocked(work, rrsets, true); msg != "" {
		apiError(w, http.StatusUnprocessableEntity, msg)
		return
	}
	work.serial++
	if soaRR, ok := work.rrsets[rrkey{work.name, "SOA"}]; ok && len(soaRR.Records) == 1 {
		f := strings.Fields(soaRR.Records[0].Content)
		if len(f) == 7 {
			f[2] = strconv.FormatInt(work.serial, 10)
			soaRR.Records[0].Content = strings.Join(f, " ")
		}
	}
	s.zones[name] = work
	w.WriteHeader(http.StatusNoContent)
}

// applyLocked validates and applies rrset changes to z, returning the
// pdns_server error message of the first problem, or "".
func (s *Server) applyLocked(z *zone, changes []rawRRset, patch bool) string {
	for _, c := range changes {
		var name, typ, changetype string
		if json.Unmarshal(c["name"], &name) != nil {
			return "Key 'name' not present or not a String"
		}
		if json.Unmarshal(c["type"], &typ) != nil {
			return "Key 'type' not present or not a String"
		}
		typ = strings.ToUpper(typ)
		if patch || c["changetype"] != nil {
			if json.Unmarshal(c["changetype"], &changetype) != nil {
				return "Key 'changetype' not present or not a String"
			}
		} else {
			changetype = "REPLACE"
		}
		if !strings.HasSuffix(name, ".") {
			return "DNS Name '" + name + "' is not canonical"
		}
		lname := strings.ToLower(name)
		key := rrkey{lname, typ}
		inZone := core.ZoneMatches(lname, z.name)
		switch strings.ToUpper(changetype) {
		case "DELETE":
			delete(z.rrsets, key) // pdns_server answers 204 even for names out of zone
		case "REPLACE":
			if !inZone {
				return "RRset " + name + " IN " + typ + ": Name is out of zone"
			}
			var ttl int
			if json.Unmarshal(c["ttl"], &ttl) != nil {
				return "Key 'ttl' not an Integer or not present"
			}
			var recs []powerdns.Record
			if raw, ok := c["records"]; ok && string(raw) != "null" {
				if json.Unmarshal(raw, &recs) != nil {
					return "Key 'records' not an Array"
				}
			}
			if len(recs) == 0 {
				delete(z.rrsets, key)
				continue
			}
			seen := map[string]bool{}
			for i := range recs {
				content, msg := normalizeContent(lname, typ, recs[i].Content)
				if msg != "" {
					return msg
				}
				if seen[content] {
					return fmt.Sprintf("Duplicate record in RRset %s IN %s with content \"%s\"", lname, typ, content)
				}
				seen[content] = true
				recs[i].Content = content
			}
			rs := &powerdns.RRset{Name: lname, Type: typ, TTL: ttl, Records: recs}
			if raw, ok := c["comments"]; ok {
				// Comments are replaced only when the change carries the key.
				if json.Unmarshal(raw, &rs.Comments) != nil {
					return "Key 'comments' not an Array"
				}
			} else if old, ok := z.rrsets[key]; ok {
				rs.Comments = old.Comments
			}
			z.rrsets[key] = rs
		default:
			return "Changetype not understood"
		}
	}
	return ""
}

// normalizeContent checks record content like pdns_server does for the
// types the tests use, returning the stored form (AAAA compressed; names
// keep their case) or the error message.
func normalizeContent(name, typ, content string) (string, string) {
	bad := func(why string) (string, string) {
		return "", fmt.Sprintf("Record %s/%s '%s': Parsing record content (try 'pdnsutil check-zone'): %s", name, typ, content, why)
	}
	switch typ {
	case "A":
		ip, err := netip.ParseAddr(content)
		if err != nil || !ip.Is4() {
			return bad("unable to parse IP address")
		}
		return ip.String(), ""
	case "AAAA":
		ip, err := netip.ParseAddr(content)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return bad("unable to parse IPv6 address")
		}
		return ip.String(), ""
	case "PTR", "CNAME", "NS":
		if content == "" || !strings.HasSuffix(content, ".") {
			return "", fmt.Sprintf("Record %s/%s '%s': Not in expected format (parsed as '%s.')", name, typ, content, content)
		}
		return content, ""
	}
	return content, ""
}
