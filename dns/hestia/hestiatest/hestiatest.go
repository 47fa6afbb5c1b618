// Package hestiatest is an HTTP double of the HestiaCP REST API for tests.
// No HestiaCP can be installed here, so this double follows Hestia's own
// source, not its documentation alone:
//
//   - web/api/index.php: request parsing (form fields or a JSON body, else
//     405), "hash=ACCESS:SECRET" splitting (20 and 40 characters), access-key
//     mode (api_connection) and legacy hash/password mode (api_legacy),
//     returncode=yes (body = exit code) and =no (body = output), the
//     Hestia-Exit-Code header, 204 for empty output, "OK" for empty output
//     in legacy mode, and legacy mode's HTTP 200 for failing commands;
//   - web/inc/helpers.php: exit_code_to_http_code;
//   - bin/v-check-access-key and func/main.sh: key checks, exit 9
//     (E_PASSWORD) for bad keys and 10 (E_FORBIDDEN) for commands the key
//     may not run, non-admin keys bound to their user argument;
//   - bin/v-list-dns-domains, bin/v-list-dns-records: JSON output shape;
//   - bin/v-delete-dns-record: argument checks, E_NOTEXIST (3) for an unknown
//     user, domain or id, and is_dns_record_critical (func/domain.sh): exit 2
//     (E_INVALID) "at least one A record should remain active" when deleting
//     a zone's last A (or NS) record.
//
// Where the double has to guess is listed in dns/README.md.
package hestiatest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/core"
	"github.com/proxmox-terminate/proxmox-terminate/dns/internal/dnstest"
)

// Exit codes, as in hestiacp func/main.sh and web/inc/helpers.php.
const (
	eArgs        = 1
	eInvalid     = 2
	eNotExist    = 3
	eSuspended   = 5
	ePassword    = 9
	eForbidden   = 10
	eDisabled    = 11
	eAPIDisabled = 21
)

const docsHint = "Error: data received is null or invalid, check https://hestiacp.com/docs/server-administration/rest-api.html"

// Record is one DNS record as Hestia stores it in $USER_DATA/dns/DOMAIN.conf.
type Record struct {
	ID        int
	Record    string // relative owner: "@", "www", "6", ...
	Type      string
	Priority  string
	Value     string
	Suspended string
	Time      string
	Date      string
}

type domain struct {
	name      string
	ip        string
	suspended string
	records   map[int]*Record
	time      string
	date      string
}

type user struct {
	name      string
	suspended bool
	domains   map[string]*domain
}

type accessKey struct {
	secret   string
	user     string
	commands map[string]bool // nil: every command (admin key without a permission list)
}

// Server is a running double.
type Server struct {
	URL string

	dnstest.Double
	mu sync.Mutex

	users     map[string]*user
	keys      map[string]*accessKey
	hashes    map[string]bool
	adminPass string
	apiSystem int  // API_SYSTEM: 0 off, 1 admin keys only, 2 all users
	legacyAPI bool // API='yes'
	commands  []string
}

// NewServer starts a double with an "admin" user, API_SYSTEM=2 (keys of
// every user allowed) and the legacy API enabled. Close it when done.
func NewServer() *Server {
	s := &Server{
		users:     map[string]*user{},
		keys:      map[string]*accessKey{},
		hashes:    map[string]bool{},
		apiSystem: 2,
		legacyAPI: true,
	}
	s.users["admin"] = &user{name: "admin", domains: map[string]*domain{}}
	s.URL = s.Serve(s.serve)
	return s
}

// Start starts a double for t and closes it in t.Cleanup.
func Start(t testing.TB) *Server { return dnstest.Start(t, NewServer) }

// AddUser creates a Hestia user.
func (s *Server) AddUser(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[name] == nil {
		s.users[name] = &user{name: name, domains: map[string]*domain{}}
	}
}

// SuspendUser marks a user suspended (v-check-access-key then refuses its keys).
func (s *Server) SuspendUser(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.users[name]; u != nil {
		u.suspended = true
	}
}

// AddAccessKey creates an access key for user (created if needed) and
// returns its 20-character id and 40-character secret. With no commands
// the key may run every command (Hestia allows that for admin keys only:
// a non-admin key without commands is refused, as v-check-access-key does).
func (s *Server) AddAccessKey(userName string, commands ...string) (id, secret string) {
	s.AddUser(userName)
	s.mu.Lock()
	defer s.mu.Unlock()
	id, secret = randomAlnum(20), randomAlnum(40)
	k := &accessKey{secret: secret, user: userName}
	if len(commands) > 0 {
		k.commands = map[string]bool{}
		for _, c := range commands {
			k.commands[c] = true
		}
	}
	s.keys[id] = k
	return id, secret
}

// AddLegacyHash registers a legacy API hash (a key file in
// /usr/local/hestia/data/keys/) and returns it.
func (s *Server) AddLegacyHash() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := randomAlnum(32)
	s.hashes[h] = true
	return h
}

// SetAdminPassword enables legacy user=admin&password= authentication.
func (s *Server) SetAdminPassword(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adminPass = p
}

// SetAPISystem sets API_SYSTEM (0 disabled, 1 admin only, 2 all users).
func (s *Server) SetAPISystem(v int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apiSystem = v
}

// SetLegacyAPI sets API='yes'/'no' (the legacy hash/password API).
func (s *Server) SetLegacyAPI(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.legacyAPI = on
}

// CreateZone adds DNS domain dom for userName (created if needed) with the
// records the default template would give it that matter here: two NS
// records (ns1/ns2.<domain>.) and, when ip is not "", "@" and "www" A
// records with ip. Pass ip "" for a reverse zone.
func (s *Server) CreateZone(userName, dom, ip string) {
	s.AddUser(userName)
	s.mu.Lock()
	defer s.mu.Unlock()
	dom = strings.ToLower(strings.TrimSuffix(dom, "."))
	now := time.Now()
	d := &domain{name: dom, ip: ip, suspended: "no", records: map[int]*Record{}, time: now.Format("15:04:05"), date: now.Format("2006-01-02")}
	s.users[userName].domains[dom] = d
	add := func(rec, typ, val string) { s.addLocked(d, rec, typ, val) }
	add("@", "NS", "ns1."+dom)
	add("@", "NS", "ns2."+dom)
	if ip != "" {
		add("@", "A", ip)
		add("www", "A", ip)
	}
}

// AddRecord adds a record the way v-add-dns-record stores it (record name
// lower-cased, type upper-cased, a trailing dot added to NS, CNAME, MX, PTR
// and SRV values) and returns its id. record is relative to the zone ("@"
// for the apex); an absolute name inside the zone is made relative.
func (s *Server) AddRecord(userName, dom, record, rtype, value string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userName]
	if u == nil {
		return 0, fmt.Errorf("user %s doesn't exist", userName)
	}
	d := u.domains[strings.ToLower(strings.TrimSuffix(dom, "."))]
	if d == nil {
		return 0, fmt.Errorf("dns domain %s doesn't exist", dom)
	}
	if strings.HasSuffix(record, ".") || core.ZoneMatches(record, d.name) && strings.Contains(record, ".") {
		full := core.Canon(record)
		switch {
		case full == d.name:
			record = "@"
		case core.ZoneMatches(full, d.name):
			record = strings.TrimSuffix(full, "."+d.name)
		}
	}
	return s.addLocked(d, record, rtype, value), nil
}

func (s *Server) addLocked(d *domain, record, rtype, value string) int {
	rtype = strings.ToUpper(rtype)
	if dottedTypesRE.MatchString(rtype) && !strings.HasSuffix(value, ".") {
		value += "."
	}
	id := 1
	for have := range d.records {
		if have >= id {
			id = have + 1
		}
	}
	now := time.Now()
	d.records[id] = &Record{ID: id, Record: strings.ToLower(record), Type: rtype, Value: value, Suspended: "no",
		Time: now.Format("15:04:05"), Date: now.Format("2006-01-02")}
	return id
}

// Records returns the records of a domain, by id.
func (s *Server) Records(userName, dom string) []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userName]
	if u == nil {
		return nil
	}
	d := u.domains[strings.ToLower(strings.TrimSuffix(dom, "."))]
	if d == nil {
		return nil
	}
	out := make([]Record, 0, len(d.records))
	for _, r := range d.records {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Commands returns the commands run so far, as "cmd arg1 arg2 ..." (no
// credentials).
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// --- index.php ----------------------------------------------------------------

type answer struct {
	status int
	header http.Header
	body   string
}

func (a *answer) write(w http.ResponseWriter) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8") // PHP's default
	}
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

// apiError is index.php's api_error().
func apiError(code int, message string, codeMode bool) *answer {
	message = strings.TrimSpace(message)
	a := &answer{header: http.Header{}}
	a.status = httpCode(code)
	a.header.Set("Hestia-Exit-Code", strconv.Itoa(code))
	if codeMode {
		a.body = strconv.Itoa(code)
	} else if !strings.HasPrefix(message, "Error:") {
		a.body = "Error: " + message
	} else {
		a.body = message
	}
	return a
}

// httpCode is exit_code_to_http_code (web/inc/helpers.php), with codes
// >= 100 passed through as api_error does.
func httpCode(code int) int {
	if code >= 100 {
		return code
	}
	switch code {
	case 0:
		return 200
	case eArgs:
		return 400
	case eInvalid:
		return 422
	case ePassword, eSuspended, 6, eForbidden, eAPIDisabled:
		return 401
	case eDisabled:
		return 400
	}
	return 400
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/" && r.URL.Path != "/api/index.php" {
		http.NotFound(w, r)
		return
	}
	data := map[string]string{}
	ct := r.Header.Get("Content-Type")
	isForm := strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data")
	var post url.Values
	if isForm && r.Method == http.MethodPost {
		_ = r.ParseForm()
		post = r.PostForm
	}
	if post != nil && (post.Has("access_key") || post.Has("user") || post.Has("hash")) {
		for k := range post {
			data[k] = post.Get(k)
		}
	} else {
		var js map[string]any
		if err := json.NewDecoder(r.Body).Decode(&js); err == nil && js != nil {
			for k, v := range js {
				data[k] = fmt.Sprint(v)
			}
		} else {
			apiError(405, docsHint, false).write(w)
			return
		}
	}
	// "Try to get access key in the hash"
	if _, ok := data["access_key"]; !ok {
		if h, ok := data["hash"]; ok && strings.Count(h, ":") == 1 {
			parts := strings.SplitN(h, ":", 2)
			if len(parts[0]) == 20 && len(parts[1]) == 40 {
				data["access_key"], data["secret_key"] = parts[0], parts[1]
				delete(data, "hash")
			}
		}
	}
	_, hasAK := data["access_key"]
	_, hasSK := data["secret_key"]
	_, hasUser := data["user"]
	_, hasHash := data["hash"]
	var a *answer
	switch {
	case hasAK && hasSK:
		a = s.apiConnection(data)
	case hasUser || hasHash:
		a = s.apiLegacy(data)
	default:
		a = apiError(405, docsHint, false)
	}
	a.write(w)
}

var cmdRE = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

func args(data map[string]string) []string {
	var out []string
	for i := 1; i <= 13; i++ {
		if v, ok := data["arg"+strconv.Itoa(i)]; ok {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// apiConnection is index.php's api_connection().
func (s *Server) apiConnection(data map[string]string) *answer {
	codeMode := data["returncode"] == "yes"
	s.mu.Lock()
	apiSystem := s.apiSystem
	s.mu.Unlock()
	if apiSystem == 0 {
		return apiError(eDisabled, "API has been disabled", codeMode)
	}
	keyID := strings.TrimSpace(data["access_key"])
	secret := strings.TrimSpace(data["secret_key"])
	cmd := strings.TrimSpace(data["cmd"])
	cmdArgs := args(data)
	if cmd == "" {
		return apiError(eInvalid, "Command not provided", codeMode)
	} else if !cmdRE.MatchString(cmd) {
		return apiError(eInvalid, cmd+" command invalid", codeMode)
	}
	if keyID == "" || secret == "" {
		return apiError(ePassword, "Authentication failed", codeMode)
	}
	keyUser, userArgPos, code, msg := s.checkAccessKey(keyID, secret, cmd)
	if code > 0 {
		return apiError(code, msg, codeMode)
	}
	if keyUser != "admin" && apiSystem < 2 {
		return apiError(eAPIDisabled, "API has been disabled", codeMode)
	}
	if keyUser != "admin" && userArgPos > 0 {
		if userArgPos > len(cmdArgs) || cmdArgs[userArgPos-1] != keyUser {
			return apiError(eForbidden, "Key "+keyID+` - the "user" argument doesn\'t match the key\'s user`, codeMode)
		}
	}
	exit, output := s.run(cmd, cmdArgs)
	a := &answer{header: http.Header{}}
	a.header.Set("Hestia-Exit-Code", strconv.Itoa(exit))
	if codeMode {
		a.status = 200
		a.body = strconv.Itoa(exit)
		return a
	}
	out := strings.TrimSpace(output)
	switch {
	case exit > 0:
		a.status = httpCode(exit)
	case out != "":
		a.status = 200
		var js any
		if json.Unmarshal([]byte(out), &js) == nil && js != nil {
			a.header.Set("Content-Type", "application/json; charset=utf-8")
		}
	default:
		a.status = 204
	}
	a.body = out
	return a
}

// checkAccessKey is bin/v-check-access-key: it returns the key's user and
// the position of the USER argument of cmd, or an exit code and message.
// Every failure exits E_PASSWORD except E_FORBIDDEN ones (abort_missmatch).
func (s *Server) checkAccessKey(keyID, secret, cmd string) (string, int, int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !accessKeyRE.MatchString(keyID) {
		return "", 0, ePassword, "Error: invalid access_key_id format :: " + keyID
	}
	k := s.keys[keyID]
	if k == nil {
		return "", 0, ePassword, "Error: key " + keyID + " doesn't exist"
	}
	if !secretKeyRE.MatchString(secret) {
		return "", 0, ePassword, "Error: invalid secret_access_key format"
	}
	if k.secret != secret {
		return "", 0, ePassword, "Error: Invalid secret key for key " + keyID
	}
	if _, known := commandArgs[cmd]; !known {
		return "", 0, eForbidden, "Error: Command " + cmd + " not found"
	}
	if k.commands != nil && !k.commands[cmd] || k.commands == nil && k.user != "admin" {
		return "", 0, eForbidden, "Error: Key " + keyID + " don't have permission to run the command " + cmd
	}
	u := s.users[k.user]
	if u == nil {
		return "", 0, ePassword, "Error: user " + k.user + " doesn't exist"
	}
	if u.suspended {
		return "", 0, ePassword, "Error: user " + k.user + " is suspended"
	}
	pos := 0
	if k.user != "admin" {
		pos = commandArgs[cmd].userPos
	}
	return k.user, pos, 0, ""
}

// apiLegacy is index.php's api_legacy().
func (s *Server) apiLegacy(data map[string]string) *answer {
	codeMode := data["returncode"] == "yes"
	s.mu.Lock()
	legacy, adminPass := s.legacyAPI, s.adminPass
	okHash := s.hashes[data["hash"]]
	s.mu.Unlock()
	if !legacy {
		// index.php echoes a line before api_error() prints its own.
		a := apiError(eDisabled, "Error: API Disabled", codeMode)
		a.body = "Error: API has been disabled" + a.body
		return a
	}
	if data["hash"] == "" {
		if data["user"] != "admin" {
			return apiError(eForbidden, "Error: authentication failed", codeMode)
		}
		pw, ok := data["password"]
		if !ok {
			return apiError(ePassword, "Error: authentication failed", codeMode)
		}
		if adminPass == "" || pw != adminPass {
			return apiError(ePassword, "Error: authentication failed", codeMode)
		}
	} else if !okHash {
		return apiError(ePassword, "Error: authentication failed", codeMode)
	}
	cmd := strings.TrimSpace(data["cmd"])
	if cmd == "" {
		return apiError(eInvalid, "Command not provided", codeMode)
	} else if !cmdRE.MatchString(cmd) {
		return apiError(eInvalid, cmd+" command invalid", codeMode)
	}
	exit, output := s.run(cmd, args(data))
	a := &answer{status: 200, header: http.Header{}}
	switch {
	case codeMode:
		a.body = strconv.Itoa(exit)
	case output == "":
		// $return_var is the authentication check's (0 here), so an empty
		// output reads "OK" whatever the command's exit code.
		a.body = "OK"
	default:
		a.body = output + "\n"
	}
	return a
}

// --- bin/v-* --------------------------------------------------------------------

type cmdSpec struct {
	userPos int // position of USER in "# options:", for non-admin keys
}

// commandArgs are the commands the double implements.
var commandArgs = map[string]cmdSpec{
	"v-list-dns-domains":  {userPos: 1},
	"v-list-dns-records":  {userPos: 1},
	"v-delete-dns-record": {userPos: 1},
}

var (
	// v-add-dns-record: [[ $rtype =~ NS|CNAME|MX|PTR|SRV ]] (a substring match).
	dottedTypesRE = regexp.MustCompile(`NS|CNAME|MX|PTR|SRV`)
	// is_access_key_id_format_valid / is_secret_access_key_format_valid.
	accessKeyRE    = regexp.MustCompile(`^[[:alnum:]]{20}$`)
	secretKeyRE    = regexp.MustCompile(`^[[:alnum:]|_.+/^~=%-]{40}$`)
	userFormatRE   = regexp.MustCompile(`^[[:alnum:]][-.\w]{0,28}[[:alnum:]]$|^[[:alnum:]]$`)
	domainFormatRE = regexp.MustCompile(`^[[:alnum:]_]([[:alnum:]_.-]*[[:alnum:]_])?$`)
	idFormatRE     = regexp.MustCompile(`^[0-9]+$`)
)

// run executes one command and returns its exit code and output.
func (s *Server) run(cmd string, a []string) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = append(s.commands, strings.TrimSpace(cmd+" "+strings.Join(a, " ")))
	switch cmd {
	case "v-list-dns-domains":
		return s.listDomains(a)
	case "v-list-dns-records":
		return s.listRecords(a)
	case "v-delete-dns-record":
		return s.deleteRecord(a)
	}
	// Legacy mode runs any name through sudo; an unknown one fails with
	// nothing on stdout.
	return eArgs, ""
}

func (s *Server) userLocked(name string) (*user, int, string) {
	return lookup(s.users, name, userFormatRE, "user", "user")
}

// lookup is m[name] after Hestia's two checks, or their error code and
// message: name must match format (else "invalid <kind> format") and be in
// m (else "<noun> <name> doesn't exist").
func lookup[T any](m map[string]*T, name string, format *regexp.Regexp, kind, noun string) (*T, int, string) {
	if !format.MatchString(name) {
		return nil, eInvalid, "Error: invalid " + kind + " format :: " + name
	}
	v := m[name]
	if v == nil {
		return nil, eNotExist, "Error: " + noun + " " + name + " doesn't exist"
	}
	return v, 0, ""
}

// formatDomain is func/main.sh format_domain for ASCII names.
func formatDomain(d string) string {
	d = strings.ToLower(d)
	d = strings.TrimPrefix(d, "www.")
	d = strings.TrimRight(d, ".")
	d = strings.TrimLeft(d, ".")
	return strings.TrimSpace(d)
}

// formatArg is a v-list command's FORMAT argument a[i], "shell" when absent.
func formatArg(a []string, i int) string {
	if len(a) > i {
		return a[i]
	}
	return "shell"
}

// jsonObject writes n entries (entry(i) writes the i-th) as the members of
// one JSON object, laid out as Hestia's v-list commands print them.
func jsonObject(b *strings.Builder, n int, entry func(i int)) {
	b.WriteString("{\n")
	for i := 0; i < n; i++ {
		entry(i)
		if i < n-1 {
			b.WriteString(",\n")
		} else {
			b.WriteString("\n")
		}
	}
	b.WriteString("}")
}

// listing is what a v-list command prints of m in format, in key order: one
// JSON object of an entry each, plain (tab-separated) lines, or by default
// the table header then table lines. Each func writes one entry or line to b.
func listing[K cmp.Ordered, V any](format string, m map[K]V, jsonEntry, plainLine func(b *strings.Builder, k K, v V), header string, tableLine func(b *strings.Builder, k K, v V)) string {
	keys := slices.Sorted(maps.Keys(m))
	var b strings.Builder
	switch format {
	case "json":
		jsonObject(&b, len(keys), func(i int) { jsonEntry(&b, keys[i], m[keys[i]]) })
	case "plain":
		for _, k := range keys {
			plainLine(&b, k, m[k])
		}
	default:
		b.WriteString(header)
		for _, k := range keys {
			tableLine(&b, k, m[k])
		}
	}
	return b.String()
}

func (s *Server) listDomains(a []string) (int, string) {
	if len(a) < 1 {
		return eArgs, "Usage: v-list-dns-domains USER [FORMAT]"
	}
	u, code, msg := s.userLocked(a[0])
	if code > 0 {
		return code, msg
	}
	return 0, listing(formatArg(a, 1), u.domains, func(b *strings.Builder, n string, d *domain) {
		fmt.Fprintf(b, `    "%s": {
        "IP": "%s",
        "TPL": "default",
        "TTL": "14400",
        "EXP": "",
        "SOA": "ns1.%s",
        "SERIAL": "%s01",
        "SRC": "",
        "RECORDS": "%d",
        "SUSPENDED": "%s",
        "TIME": "%s",
        "DATE": "%s"
    }`, n, d.ip, n, strings.ReplaceAll(d.date, "-", ""), len(d.records), d.suspended, d.time, d.date)
	}, func(b *strings.Builder, n string, d *domain) {
		fmt.Fprintf(b, "%s\t%s\tdefault\t14400\t\tns1.%s\t\t\t%d\t%s\t%s\t%s\n", n, d.ip, n, len(d.records), d.suspended, d.time, d.date)
	}, "DOMAIN   IP   TPL   TTL   REC   SPND   DATE\n------   --   ---   ---   ---   ----   ----\n", func(b *strings.Builder, n string, d *domain) {
		fmt.Fprintf(b, "%s %s default 14400 %d %s %s\n", n, d.ip, len(d.records), d.suspended, d.date)
	})
}

// domainLocked finds the domain raw of the user userName, or the error
// code and message Hestia gives for either.
func (s *Server) domainLocked(userName, raw string) (*domain, int, string) {
	u, code, msg := s.userLocked(userName)
	if code > 0 {
		return nil, code, msg
	}
	return lookup(u.domains, formatDomain(raw), domainFormatRE, "domain", "dns domain")
}

func (s *Server) listRecords(a []string) (int, string) {
	if len(a) < 2 {
		return eArgs, "Usage: v-list-dns-records USER DOMAIN [FORMAT]"
	}
	d, code, msg := s.domainLocked(a[0], a[1])
	if code > 0 {
		return code, msg
	}
	return 0, listing(formatArg(a, 2), d.records, func(b *strings.Builder, id int, r *Record) {
		value := strings.ReplaceAll(r.Value, `"`, `\"`)
		fmt.Fprintf(b, `    "%d": {
        "RECORD": "%s",
        "TYPE": "%s",
        "PRIORITY": "%s",
        "VALUE": "%s",
        "ID": "%d",
        "SUSPENDED": "%s",
        "TIME": "%s",
        "DATE": "%s"
    }`, id, r.Record, r.Type, r.Priority, value, id, r.Suspended, r.Time, r.Date)
	}, func(b *strings.Builder, id int, r *Record) {
		fmt.Fprintf(b, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, r.Record, r.Type, r.Priority, r.Value, r.Suspended, r.Time, r.Date)
	}, "ID  RECORD  TYPE  VALUE  DATE\n--  ------  ----  -----  ----\n", func(b *strings.Builder, id int, r *Record) {
		v := r.Value
		if len(v) > 30 {
			v = v[:30]
		}
		fmt.Fprintf(b, "%d  %s  %s  %s  %s\n", id, r.Record, r.Type, v, r.Date)
	})
}

func (s *Server) deleteRecord(a []string) (int, string) {
	if len(a) < 3 {
		return eArgs, "Usage: v-delete-dns-record USER DOMAIN ID [RESTART]"
	}
	if !idFormatRE.MatchString(a[2]) {
		return eInvalid, "Error: invalid id format :: " + a[2]
	}
	d, code, msg := s.domainLocked(a[0], a[1])
	if code > 0 {
		return code, msg
	}
	id, _ := strconv.Atoi(a[2])
	r := d.records[id]
	if r == nil {
		return eNotExist, "Error: " + d.name + " id " + a[2] + " doesn't exist"
	}
	// is_dns_record_critical: the zone's last A or NS record stays.
	if r.Type == "A" || r.Type == "NS" {
		n := 0
		for _, o := range d.records {
			if o.Type == r.Type {
				n++
			}
		}
		if n <= 1 {
			return eInvalid, "Error: at least one " + r.Type + " record should remain active"
		}
	}
	delete(d.records, id)
	return 0, ""
}

func randomAlnum(n int) string {
	return dnstest.RandomString(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
}
