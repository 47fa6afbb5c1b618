package pvesim

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// schemaJSON is the subset of the official API schema (pve-docs apidata.js)
// that the simulator serves and validates against. Regenerate it with
// pvesim/extract-schema.py; never edit it by hand.
//
//go:embed testdata/pve-schema-subset.json
var schemaJSON []byte

// Route is one method+path template served by the simulator, e.g.
// {GET /nodes/{node}/qemu/{vmid}/status/current}. Path templates are relative
// to the API base (/api2/json) and spelled exactly as in the official schema.
type Route struct {
	Method string
	Path   string
}

func (r Route) String() string { return r.Method + " " + r.Path }

// paramAddedIn lists parameters that exist in the (latest) committed schema but
// were added in a later release than some the simulator can pretend to be.
// Key: "METHOD /path/template param", value: first PVE release with it.
// On an older Release the parameter is removed from the schema, so it is
// rejected exactly like any undeclared parameter.
var paramAddedIn = map[string]string{
	// qemu-server 8.1.2 (debian/changelog, 2024-04-19: "fix #4474: stop VM:
	// add 'overrule-shutdown' parameter"); first shipped with PVE 8.2.
	"POST /nodes/{node}/qemu/{vmid}/status/stop overrule-shutdown": "8.2",
}

type propSchema struct {
	Type      string
	Optional  bool
	Enum      []string
	Minimum   *float64
	Maximum   *float64
	Format    string // only string formats; property-string formats are not checked
	Pattern   *regexp.Regexp
	MaxLength *int
	MinLength *int
	Requires  string
}

type methodSchema struct {
	Route      Route
	Name       string
	ProxyTo    string
	Protected  bool
	AllowExtra bool
	Props      map[string]*propSchema
	Returns    json.RawMessage
}

type schemaRoute struct {
	Path    string
	Segs    []string
	Methods map[string]*methodSchema
}

type apiSchema struct {
	Source       string
	SourceSHA256 string
	Routes       []*schemaRoute
}

var (
	schemaOnce   sync.Once
	schemaParsed *apiSchema
	schemaErr    error
)

func loadSchema() (*apiSchema, error) {
	schemaOnce.Do(func() { schemaParsed, schemaErr = parseSchema(schemaJSON) })
	return schemaParsed, schemaErr
}

func mustSchema() *apiSchema {
	s, err := loadSchema()
	if err != nil {
		panic("pvesim: embedded schema subset is broken: " + err.Error())
	}
	return s
}

func parseSchema(raw []byte) (*apiSchema, error) {
	var doc struct {
		Source       string `json:"source"`
		SourceSHA256 string `json:"source_sha256"`
		Routes       []struct {
			Path    string                     `json:"path"`
			Methods map[string]json.RawMessage `json:"methods"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	out := &apiSchema{Source: doc.Source, SourceSHA256: doc.SourceSHA256}
	for _, r := range doc.Routes {
		sr := &schemaRoute{Path: r.Path, Segs: splitPath(r.Path), Methods: map[string]*methodSchema{}}
		for m, rawInfo := range r.Methods {
			ms, err := parseMethod(Route{Method: m, Path: r.Path}, rawInfo)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", m, r.Path, err)
			}
			sr.Methods[m] = ms
		}
		out.Routes = append(out.Routes, sr)
	}
	return out, nil
}

func parseMethod(rt Route, raw json.RawMessage) (*methodSchema, error) {
	var info struct {
		Name       string          `json:"name"`
		ProxyTo    string          `json:"proxyto"`
		Protected  any             `json:"protected"`
		Parameters map[string]any  `json:"parameters"`
		Returns    json.RawMessage `json:"returns"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, err
	}
	ms := &methodSchema{Route: rt, Name: info.Name, ProxyTo: info.ProxyTo, Protected: truthy(info.Protected),
		Props: map[string]*propSchema{}, Returns: info.Returns}
	if ap, ok := info.Parameters["additionalProperties"]; ok {
		ms.AllowExtra = truthy(ap)
	} else {
		ms.AllowExtra = true // undef additionalProperties allows extra keys (JSONSchema.pm check_object)
	}
	props, _ := info.Parameters["properties"].(map[string]any)
	for name, v := range props {
		pm, _ := v.(map[string]any)
		ps := &propSchema{Optional: truthy(pm["optional"])}
		if t, ok := pm["type"].(string); ok {
			ps.Type = t
		}
		if e, ok := pm["enum"].([]any); ok {
			for _, x := range e {
				ps.Enum = append(ps.Enum, fmt.Sprint(x))
			}
		}
		if f, ok := pm["minimum"].(float64); ok {
			ps.Minimum = &f
		}
		if f, ok := pm["maximum"].(float64); ok {
			ps.Maximum = &f
		}
		if f, ok := pm["format"].(string); ok {
			ps.Format = f
		}
		if p, ok := pm["pattern"].(string); ok {
			re, err := regexp.Compile("^(?:" + p + ")$")
			if err == nil {
				ps.Pattern = re
			}
		}
		if f, ok := pm["maxLength"].(float64); ok {
			n := int(f)
			ps.MaxLength = &n
		}
		if f, ok := pm["minLength"].(float64); ok {
			n := int(f)
			ps.MinLength = &n
		}
		if r, ok := pm["requires"].(string); ok {
			ps.Requires = r
		}
		ms.Props[name] = ps
	}
	return ms, nil
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != "" && x != "0"
	}
	return false
}

// splitPath splits like PVE::RESTHandler::find_handler: empty fragments
// (double or trailing slashes) are skipped.
func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// match finds the route template for a concrete path. Literal segments win
// over placeholders. A trailing {volume} swallows the rest of the path: PVE
// registers the storage content subclass with fragmentDelimiter ” because
// volume IDs contain '/' (PVE/API2/Storage/Status.pm).
func (s *apiSchema) match(path string) (*schemaRoute, map[string]string) {
	segs := splitPath(path)
	var best *schemaRoute
	var bestParams map[string]string
	bestLiterals := -1
	for _, r := range s.Routes {
		params, literals, ok := matchSegs(r.Segs, segs)
		if ok && literals > bestLiterals {
			best, bestParams, bestLiterals = r, params, literals
		}
	}
	return best, bestParams
}

func matchSegs(tmpl, segs []string) (map[string]string, int, bool) {
	params := map[string]string{}
	literals := 0
	for i, t := range tmpl {
		if i >= len(segs) {
			return nil, 0, false
		}
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			name := t[1 : len(t)-1]
			if name == "volume" && i == len(tmpl)-1 {
				params[name] = strings.Join(segs[i:], "/")
				return params, literals, true
			}
			params[name] = segs[i]
			continue
		}
		if t != segs[i] {
			return nil, 0, false
		}
		literals++
	}
	if len(segs) != len(tmpl) {
		return nil, 0, false
	}
	return params, literals, true
}

// pval is one request parameter value as PVE's Perl code sees it: a plain
// scalar (form/query value or JSON string/number), a JSON boolean, or a
// reference (JSON object/array).
type pval struct {
	S    string
	Kind int
}

const (
	pvScalar = iota
	pvBool   // JSON true/false (JSON::PP::Boolean)
	pvHash   // JSON object
	pvArray  // JSON array
	pvNull   // JSON null = undef
)

// propFor returns the schema of a parameter, honouring "[n]" array
// properties (net[n] matches net0, net1, ...).
func (ms *methodSchema) propFor(name string) *propSchema {
	if p, ok := ms.Props[name]; ok {
		return p
	}
	for k, p := range ms.Props {
		if base, ok := strings.CutSuffix(k, "[n]"); ok && strings.HasPrefix(name, base) {
			if _, err := strconv.Atoi(name[len(base):]); err == nil {
				return p
			}
		}
	}
	return nil
}

func (ms *methodSchema) forRelease(rel string) *methodSchema {
	var drop []string
	for k, since := range paramAddedIn {
		i := strings.LastIndex(k, " ")
		route, param := k[:i], k[i+1:]
		if route == ms.Route.String() && releaseLess(rel, since) {
			drop = append(drop, param)
		}
	}
	if len(drop) == 0 {
		return ms
	}
	cp := *ms
	cp.Props = map[string]*propSchema{}
	for k, v := range ms.Props {
		cp.Props[k] = v
	}
	for _, d := range drop {
		delete(cp.Props, d)
	}
	return &cp
}

// releaseLess compares "X.Y" release strings numerically.
func releaseLess(a, b string) bool {
	pa, pb := releaseParts(a), releaseParts(b)
	for i := 0; i < 2; i++ {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return false
}

func releaseParts(r string) [2]int {
	var out [2]int
	maj, min, _ := strings.Cut(r, ".")
	out[0], _ = strconv.Atoi(maj)
	out[1], _ = strconv.Atoi(min)
	return out
}

// validate mirrors PVE::JSONSchema::check_object/check_prop for the flat
// parameter objects of API methods. It returns the "errors" hash of the 400
// "Parameter verification failed." response (nil when valid).
func (ms *methodSchema) validate(params map[string]pval) map[string]string {
	errs := map[string]string{}
	add := func(k, msg string) {
		if prev, ok := errs[k]; ok {
			errs[k] = prev + `\n` + msg // add_error joins with a literal backslash-n
		} else {
			errs[k] = msg
		}
	}
	names := make([]string, 0, len(ms.Props))
	for k := range ms.Props {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if strings.HasSuffix(k, "[n]") {
			continue
		}
		v, ok := params[k]
		if !ok || v.Kind == pvNull {
			if !ms.Props[k].Optional {
				add(k, "property is missing and it is not optional")
			}
			continue
		}
		if msg := checkProp(ms.Props[k], v); msg != "" {
			add(k, msg)
		}
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := ms.propFor(k)
		if p == nil {
			if !ms.AllowExtra {
				add(k, "property is not defined in schema and the schema does not allow additional properties")
			}
			continue
		}
		if p.Requires != "" {
			if rv, ok := params[p.Requires]; !ok || rv.Kind == pvNull {
				add(p.Requires, fmt.Sprintf("missing property - '%s' requires this property", k))
			}
		}
		if _, direct := ms.Props[k]; !direct && params[k].Kind != pvNull {
			if msg := checkProp(p, params[k]); msg != "" {
				add(k, msg)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

var (
	reInteger = regexp.MustCompile(`^[+-]?\d+$`)
	reNumber  = regexp.MustCompile(`^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$`)
)

// checkProp follows JSONSchema.pm check_type then check_prop's scalar checks,
// in the same order, returning the first error text.
func checkProp(p *propSchema, v pval) string {
	t := p.Type
	switch v.Kind {
	case pvBool:
		if t == "boolean" || t == "" || t == "any" {
			return ""
		}
		return fmt.Sprintf("type check ('%s') failed - got JSON::PP::Boolean", t)
	case pvHash, pvArray:
		ref := "HASH"
		if v.Kind == pvArray {
			ref = "ARRAY"
		}
		if t == "" || t == "any" || (t == "object" && v.Kind == pvHash) || (t == "array" && v.Kind == pvArray) {
			return ""
		}
		if t == "object" || t == "array" {
			return fmt.Sprintf("type check ('%s') failed", t)
		}
		return fmt.Sprintf("type check ('%s') failed - got %s", t, ref)
	}
	s := v.S
	switch t {
	case "object", "array":
		return fmt.Sprintf("type check ('%s') failed", t)
	case "boolean":
		// JSONSchema.pm: only '1' and '0' pass; the "1|true|yes|on" variant is
		// commented out in the source.
		if s != "1" && s != "0" {
			return fmt.Sprintf("type check ('boolean') failed - got '%s'", s)
		}
	case "integer":
		if !reInteger.MatchString(s) {
			return fmt.Sprintf("type check ('integer') failed - got '%s'", s)
		}
	case "number":
		if !reNumber.MatchString(s) {
			return fmt.Sprintf("type check ('number') failed - got '%s'", s)
		}
	}
	if p.Format != "" {
		if msg := checkFormat(p.Format, s); msg != "" {
			return "invalid format - " + msg + "\n"
		}
	}
	if p.Pattern != nil && !p.Pattern.MatchString(s) {
		return "value does not match the regex pattern"
	}
	if p.MaxLength != nil && len([]rune(s)) > *p.MaxLength {
		return fmt.Sprintf("value may only be %d characters long", *p.MaxLength)
	}
	if p.MinLength != nil && len([]rune(s)) < *p.MinLength {
		return fmt.Sprintf("value must be at least %d characters long", *p.MinLength)
	}
	if reNumber.MatchString(s) {
		f, _ := strconv.ParseFloat(s, 64)
		if p.Maximum != nil && f > *p.Maximum {
			return "value must have a maximum value of " + perlNum(*p.Maximum)
		}
		if p.Minimum != nil && f < *p.Minimum {
			return "value must have a minimum value of " + perlNum(*p.Minimum)
		}
	}
	if len(p.Enum) > 0 {
		found := false
		for _, e := range p.Enum {
			if e == s {
				found = true
				break
			}
		}
		if !found {
			return fmt.Sprintf("value '%s' does not have a value in the enumeration '%s'", s, strings.Join(p.Enum, ", "))
		}
	}
	return ""
}

func perlNum(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

var (
	reVMID      = regexp.MustCompile(`^[1-9][0-9]{2,8}$`)
	reNodeName  = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$`)
	reStorageID = regexp.MustCompile(`(?i)^[a-z][a-z0-9\-_.]*[a-z0-9]$`)
	reConfigID  = regexp.MustCompile(`(?i)^[a-z][a-z0-9_-]+$`)
	reListSplit = regexp.MustCompile(`[\s,;\x00]+`)
)

var storageContentTypes = map[string]bool{
	"images": true, "rootdir": true, "vztmpl": true, "iso": true, "backup": true,
	"snippets": true, "import": true, "none": true,
}

// checkFormat implements the registered formats the simulator's routes use
// (messages from PVE/JSONSchema.pm and PVE/Storage/Plugin.pm). Formats not
// listed here are accepted unchecked (documented in LIMITS.md).
func checkFormat(format, v string) string {
	if base, ok := strings.CutSuffix(format, "-list"); ok {
		for _, item := range reListSplit.Split(strings.TrimSpace(v), -1) {
			if item == "" {
				continue
			}
			if msg := checkFormat(base, item); msg != "" {
				return msg
			}
		}
		return ""
	}
	switch format {
	case "pve-vmid":
		if !reVMID.MatchString(v) {
			return "value does not look like a valid VM ID"
		}
	case "pve-node":
		if !reNodeName.MatchString(v) {
			return "value does not look like a valid node name"
		}
	case "pve-storage-id":
		if !reStorageID.MatchString(v) {
			return fmt.Sprintf("storage ID '%s' contains illegal characters", v)
		}
	case "pve-configid":
		if !reConfigID.MatchString(v) {
			return fmt.Sprintf("invalid configuration ID '%s'", v)
		}
	case "pve-storage-content":
		// Guess: message text of PVE::Storage::Plugin::verify_content.
		if !storageContentTypes[v] {
			return fmt.Sprintf("invalid content type '%s'", v)
		}
	}
	return ""
}

// RequestError is returned by CheckRequest when a request would not pass
// pve-http-server's routing or parameter verification.
type RequestError struct {
	Status  int               // 501 unknown route, 400 parameter verification failed
	Message string            // e.g. "Parameter verification failed."
	Errors  map[string]string // per-parameter errors (400 only)
}

func (e *RequestError) Error() string {
	if len(e.Errors) == 0 {
		return fmt.Sprintf("%d %s", e.Status, e.Message)
	}
	keys := make([]string, 0, len(e.Errors))
	for k := range e.Errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %s", k, strings.TrimSpace(e.Errors[k])))
	}
	return fmt.Sprintf("%d %s (%s)", e.Status, e.Message, strings.Join(parts, "; "))
}

// CheckRequest validates a concrete request against the committed schema
// subset, with the latest schema (no release gating). path may be absolute
// ("/api2/json/nodes/pve1/qemu/100/status/stop?timeout=5") or relative to the
// API base ("/nodes/pve1/...") and may carry a query string; params holds
// query/form parameters as strings. It checks that the route exists for the
// method, every parameter is declared, and types, enums, ranges, formats and
// 0/1 booleans are valid — what pve-http-server does before any handler runs.
func CheckRequest(method, path string, params url.Values) error {
	return CheckRequestForRelease("", method, path, params)
}

// CheckRequestForRelease is CheckRequest for a given PVE release ("7.4",
// "8.2"): parameters added after that release are treated as undeclared.
// An empty release means the latest schema.
func CheckRequestForRelease(release, method, path string, params url.Values) error {
	sch, err := loadSchema()
	if err != nil {
		return err
	}
	rel, q, _ := strings.Cut(path, "?")
	rel = strings.TrimPrefix(rel, apiBase)
	if u, err := url.PathUnescape(rel); err == nil {
		rel = u
	}
	all := map[string]pval{}
	if q != "" {
		qv, err := url.ParseQuery(q)
		if err != nil {
			return &RequestError{Status: 400, Message: "bad query string: " + err.Error()}
		}
		for k, v := range qv {
			all[k] = pval{S: strings.Join(v, "\x00")}
		}
	}
	for k, v := range params {
		all[k] = pval{S: strings.Join(v, "\x00")}
	}
	route, uriParams := sch.match(rel)
	if route == nil || route.Methods[method] == nil {
		return &RequestError{Status: 501, Message: fmt.Sprintf("Method '%s %s' not implemented", method, rel)}
	}
	ms := route.Methods[method]
	if release != "" {
		ms = ms.forRelease(release)
	}
	for k, v := range uriParams {
		if p, ok := all[k]; ok && p.S != v {
			return &RequestError{Status: 400, Message: "Parameter verification failed.",
				Errors: map[string]string{k: "duplicate parameter (already defined in URI) with conflicting values!"}}
		}
		all[k] = pval{S: v}
	}
	if errs := ms.validate(all); errs != nil {
		return &RequestError{Status: 400, Message: "Parameter verification failed.", Errors: errs}
	}
	return nil
}
