package pvesim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// apiResp is a response as pveproxy would put it on the wire.
type apiResp struct {
	status int
	reason string
	body   []byte // nil: no body at all (401, 595, early 501s)
}

// apiError is a handler failure: a Perl die (500, message with trailing
// newline) or a PVE::Exception (param errors: 400 with "errors").
type apiError struct {
	status int
	msg    string
	errors map[string]string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, strings.TrimSpace(e.msg)) }

func errf(format string, args ...any) *apiError {
	return &apiError{status: 500, msg: fmt.Sprintf(format, args...) + "\n"}
}

func paramErr(errs map[string]string) *apiError {
	return &apiError{status: 400, msg: "Parameter verification failed.\n", errors: errs}
}

// withTotal is a result carrying the "total" attribute of list methods.
type withTotal struct {
	data  any
	total int
}

// deferredTask makes the pipeline wait (outside the mutex) for a task, as
// DELETE .../content/{volume} with "delay" does.
type deferredTask struct {
	t     *task
	until time.Time
}

func encodeJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("pvesim: cannot encode response: " + err.Error())
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func firstLine(msg string) string {
	line, _, _ := strings.Cut(msg, "\n")
	return strings.ReplaceAll(line, "\r", " ")
}

// okResp is PVE::APIServer::Formatter::Standard's json formatter for
// success: {"data": ...} (plus "total" for list results).
func okResp(data any) *apiResp {
	body := map[string]any{"data": data}
	if wt, ok := data.(withTotal); ok {
		body["data"] = wt.data
		if wt.total > 0 {
			body["total"] = wt.total
		}
	}
	return &apiResp{status: 200, reason: "OK", body: encodeJSON(body)}
}

// errResp is the json formatter for errors: data null, the message (with
// its trailing newline, as died) and the per-parameter errors, if any. The
// status line reason is the message's first line.
func errResp(status int, msg string, errs map[string]string) *apiResp {
	body := map[string]any{"data": nil, "message": msg}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	reason := firstLine(msg)
	if reason == "" {
		reason = http.StatusText(status)
	}
	return &apiResp{status: status, reason: reason, body: encodeJSON(body)}
}

// bareResp is HTTP::Response->new($code, $msg) without content, as pveproxy
// sends for authentication failures, proxy errors and early 501s.
func bareResp(status int, reason string) *apiResp {
	return &apiResp{status: status, reason: firstLine(reason)}
}

var (
	knownMethods  = map[string]bool{"GET": true, "POST": true, "PUT": true, "DELETE": true}
	reSplitAbsURI = regexp.MustCompile(`^/api2/+([a-z][a-z0-9]+)(/.*)?$`)
	reTokenHeader = regexp.MustCompile(`(?:^|\s)PVEAPIToken(?:=| )([^;]*)`)
	reTokenValue  = regexp.MustCompile(`^(.*)=(.*)$`)
	reTokenID     = regexp.MustCompile(`^(([^\s:/]+)@([A-Za-z][A-Za-z0-9.\-_]+))!([A-Za-z][A-Za-z0-9.\-_]+)$`)
)

const maxPost = 64 * 1024 // pve-http-server $limit_max_post

// Handler returns the simulator as an http.Handler. Responses whose status
// line must carry a custom reason phrase (every error) are written on the
// hijacked connection, which needs an HTTP/1.x server such as httptest's or
// the one Start runs; with a ResponseWriter that cannot be hijacked the
// standard reason phrase is sent instead (the body still has the message).
func (s *Sim) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Sim) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.serveControl(w, r)
		return
	}
	start := time.Now()
	rec := RecordedRequest{Time: start, Method: r.Method, Path: r.URL.Path}
	resp := s.handleAPI(r, &rec)
	rec.Status, rec.Reason = resp.status, resp.reason
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	writeResp(w, r, resp)
	if s.logf != nil {
		s.logf("%s %s -> %d %s (%s)", r.Method, r.URL.RequestURI(), resp.status, resp.reason, time.Since(start).Round(time.Microsecond))
	}
}

// handleAPI follows pve-http-server (PVE/APIServer/AnyEvent.pm) and
// pve-manager's PVE::HTTPServer::rest_handler, in their order: method and
// transfer-encoding checks, URI format, authentication, body checks, route
// lookup, URI parameter conflicts, proxying to the target node, parameter
// verification on the target, handler.
func (s *Sim) handleAPI(r *http.Request, rec *RecordedRequest) *apiResp {
	method := r.Method
	path := r.URL.Path
	if !knownMethods[method] {
		return bareResp(501, fmt.Sprintf("method '%s' not available", method))
	}
	if msg := transferEncodingRefusal(r.TransferEncoding); msg != "" {
		return bareResp(501, msg)
	}
	if !strings.HasPrefix(path, "/api2") {
		return bareResp(501, fmt.Sprintf("no such file '%s'", path))
	}
	m := reSplitAbsURI.FindStringSubmatch(path)
	if m == nil {
		return bareResp(501, "no such uri")
	}
	format, rel := m[1], m[2]
	if rel == "" {
		rel = "/"
	}
	rec.Path = rel

	route, uri := s.schema.match(rel)
	var ms *methodSchema
	tmpl := ""
	if route != nil {
		ms = route.Methods[method]
		if ms != nil {
			tmpl = route.Path
		}
	}
	rec.Route = tmpl
	rc := reqCtx{method: method, route: tmpl, node: uri["node"], vmid: vmidOf(uri)}
	key := method + " " + tmpl
	if tmpl == "" {
		key = method + " <unmatched> " + rel
	}
	s.mu.Lock()
	s.calls[key]++
	latency := s.takeFault(FaultLatency, rc)
	s.mu.Unlock()
	if latency != nil && latency.Delay > 0 {
		time.Sleep(latency.Delay)
	}

	user, authErr := s.authenticate(r.Header.Get("Authorization"), rc)
	if authErr != "" {
		s.mu.Lock()
		delay := s.unauthorizedDelay
		s.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		return bareResp(401, authErr)
	}

	var body []byte
	isJSON := false
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		if method != "POST" && method != "PUT" {
			return bareResp(501, fmt.Sprintf("Unexpected content for method '%s'", method))
		}
		if r.ContentLength > maxPost {
			return bareResp(501, "for data too large")
		}
		ctype := r.Header.Get("Content-Type")
		ct := ""
		if ctype != "" {
			ct, _, _ = strings.Cut(ctype, ";")
			ct, _, _ = strings.Cut(ct, ",")
			ct = strings.TrimSpace(ct)
		}
		if ct != "" && ct != "application/x-www-form-urlencoded" && ct != "application/json" {
			return bareResp(506, fmt.Sprintf("upload 'Content-Type '%s' not implemented", ctype))
		}
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, maxPost+1))
		if err != nil {
			return bareResp(501, "reading request body failed: "+err.Error())
		}
		if len(body) > maxPost {
			return bareResp(501, "for data too large")
		}
	}
	if format != "json" {
		return bareResp(501, fmt.Sprintf("no formatter for uri %s, %s", rel, format))
	}

	params := map[string]pval{}
	if method == "POST" || method == "PUT" {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct == "application/json" {
			isJSON = true
			p, err := parseJSONParams(body)
			if err != nil {
				return bareResp(501, err.Error())
			}
			params = p
		} else {
			params = decodeURLEncoded(string(body))
		}
	}
	for k, v := range decodeURLEncoded(r.URL.RawQuery) {
		params[k] = v
	}
	delete(params, "_dc")
	rec.JSON = isJSON
	rec.Params = recordParams(params)

	if ms == nil {
		return errResp(501, fmt.Sprintf("Method '%s %s' not implemented", method, rel), nil)
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if uv, ok := uri[k]; ok && (params[k].Kind != pvScalar || params[k].S != uv) {
			return errResp(400, "Parameter verification failed.\n",
				map[string]string{k: "duplicate parameter (already defined in URI) with conflicting values!"})
		}
	}
	all := map[string]pval{}
	for k, v := range params {
		all[k] = v
	}
	for k, v := range uri {
		all[k] = pval{S: v}
	}

	s.mu.Lock()
	locked := true
	defer func() {
		if locked {
			s.mu.Unlock()
		}
	}()
	now := time.Now()
	s.advance(now)

	if ms.ProxyTo != "" {
		node := uri[ms.ProxyTo]
		n := s.node(node)
		if n == nil {
			return errResp(500, fmt.Sprintf("hostname lookup '%s' failed - failed to get address info for: %s: Name or service not known\n", node, node), nil)
		}
		if f := s.takeFault(FaultNodeUnreachable, rc); f != nil {
			return bareResp(595, orDefault(f.Message, "Connection refused"))
		}
		if !n.online {
			return bareResp(595, "Connection refused")
		}
	}
	if f := s.takeFault(FaultHTTPError, rc); f != nil {
		st := f.Status
		if st == 0 {
			st = 500
		}
		msg := orDefault(f.Message, "simulated failure (http_error)")
		if !strings.HasSuffix(msg, "\n") {
			msg += "\n"
		}
		return errResp(st, msg, nil)
	}
	if errs := ms.forRelease(s.release).validate(all); errs != nil {
		return errResp(400, "Parameter verification failed.\n", errs)
	}
	h := handlers[Route{Method: method, Path: tmpl}]
	if h == nil {
		return errResp(501, fmt.Sprintf("Method '%s %s' not implemented", method, rel), nil)
	}
	c := &hctx{s: s, now: now, route: Route{Method: method, Path: tmpl}, params: all, uri: uri, user: user, rc: rc}
	data, err := h(c)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return errResp(ae.status, ae.msg, ae.errors)
		}
		return errResp(500, err.Error()+"\n", nil)
	}
	if d, ok := data.(deferredTask); ok {
		s.mu.Unlock()
		locked = false
		return s.waitDeferred(d)
	}
	return okResp(data)
}

// waitDeferred polls a task until it ends or the deadline passes: null when
// it ended OK, its error as a 500, else the UPID.
func (s *Sim) waitDeferred(d deferredTask) *apiResp {
	for {
		s.mu.Lock()
		now := time.Now()
		s.advance(now)
		done, exit := d.t.done, d.t.exit
		s.mu.Unlock()
		if done {
			if exit == "OK" || strings.HasPrefix(exit, "WARNINGS") {
				return okResp(nil)
			}
			return errResp(500, exit+"\n", nil)
		}
		if !now.Before(d.until) {
			return okResp(d.t.upid)
		}
		wait := d.until.Sub(now)
		if wait > 5*time.Millisecond {
			wait = 5 * time.Millisecond
		}
		time.Sleep(wait)
	}
}

// authenticate implements API token authentication: the header value is
// found like PVE::APIServer::Formatter::extract_auth_value ("PVEAPIToken="
// or "PVEAPIToken " prefix), then checked like PVE::AccessControl::
// verify_token. It returns the token ID (the user tasks run as) or the
// error that becomes the 401 reason phrase.
func (s *Sim) authenticate(header string, rc reqCtx) (string, string) {
	m := reTokenHeader.FindStringSubmatch(header)
	if m == nil || m[1] == "" {
		return "", "No ticket"
	}
	val := m[1]
	if u, err := url.PathUnescape(val); err == nil {
		val = u
	}
	tv := reTokenValue.FindStringSubmatch(val)
	if tv == nil {
		return "", "no tokenid specified"
	}
	tokenid, secret := tv[1], tv[2]
	id := reTokenID.FindStringSubmatch(tokenid)
	if id == nil {
		return "", fmt.Sprintf("'%s' is not a valid token ID - not able to split into user and token parts", tokenid)
	}
	user, tokenName := id[1], id[4]
	s.mu.Lock()
	defer s.mu.Unlock()
	tokens := s.tokens
	if len(tokens) == 0 {
		tokens = map[string]string{DefaultTokenID: DefaultTokenSecret}
	}
	userKnown := false
	for k := range tokens {
		if strings.HasPrefix(k, user+"!") {
			userKnown = true
			break
		}
	}
	if !userKnown {
		return "", fmt.Sprintf("no such user ('%s')", user)
	}
	want, ok := tokens[tokenid]
	if !ok {
		return "", fmt.Sprintf("no such token '%s' for user '%s'", tokenName, user)
	}
	if f := s.takeFault(FaultTokenExpired, rc); f != nil {
		return "", orDefault(f.Message, fmt.Sprintf("token '%s' access expired", tokenName))
	}
	if secret != want {
		return "", "invalid token value!"
	}
	return tokenid, ""
}

// decodeURLEncoded is pve-http-server's decode_urlencoded: pairs split on
// '&' or ';', Perl split(/=/) semantics (a trailing empty value is undef,
// text after a second '=' is dropped), '+' is a space, repeated keys are
// joined with NUL.
func decodeURLEncoded(data string) map[string]pval {
	res := map[string]pval{}
	if data == "" {
		return res
	}
	for _, kv := range strings.FieldsFunc(data, func(r rune) bool { return r == '&' || r == ';' }) {
		fields := strings.Split(kv, "=")
		for len(fields) > 0 && fields[len(fields)-1] == "" {
			fields = fields[:len(fields)-1]
		}
		if len(fields) == 0 {
			continue
		}
		k := unescapeForm(fields[0])
		if len(fields) < 2 {
			res[k] = pval{Kind: pvNull}
			continue
		}
		v := unescapeForm(fields[1])
		if old, ok := res[k]; ok && old.Kind == pvScalar {
			v = old.S + "\x00" + v
		}
		res[k] = pval{S: v}
	}
	return res
}

// rePercent is decode_urlencoded's s/%([0-9a-fA-F][0-9a-fA-F])/chr(hex($1))/eg:
// any other '%' stays as it is.
var rePercent = regexp.MustCompile(`%[0-9a-fA-F]{2}`)

func unescapeForm(s string) string {
	return rePercent.ReplaceAllStringFunc(strings.ReplaceAll(s, "+", " "), func(m string) string {
		n, _ := strconv.ParseUint(m[1:], 16, 8)
		return string([]byte{byte(n)})
	})
}

// parseJSONParams decodes an application/json body (decode_json) into
// parameters as the Perl side sees them.
func parseJSONParams(body []byte) (map[string]pval, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		off := 0
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = int(se.Offset)
		}
		// Guess: JSON::XS wording of decode_json errors.
		return nil, fmt.Errorf("malformed JSON string, neither tag, array, object, number, string or atom, at character offset %d", off)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		//lint:ignore ST1005 Perl's own message, capital included
		return nil, fmt.Errorf("Not a HASH reference")
	}
	out := map[string]pval{}
	for k, x := range obj {
		out[k] = jsonPval(x)
	}
	return out, nil
}

func jsonPval(x any) pval {
	switch t := x.(type) {
	case nil:
		return pval{Kind: pvNull}
	case bool:
		if t {
			return pval{S: "1", Kind: pvBool}
		}
		return pval{S: "0", Kind: pvBool}
	case string:
		return pval{S: t}
	case json.Number:
		s := t.String()
		if strings.ContainsAny(s, ".eE") {
			if f, err := t.Float64(); err == nil {
				s = strconv.FormatFloat(f, 'g', 15, 64) // Perl's %.15g
			}
		}
		return pval{S: s}
	case map[string]any:
		return pval{S: string(encodeJSON(t)), Kind: pvHash}
	case []any:
		return pval{S: string(encodeJSON(t)), Kind: pvArray}
	}
	return pval{S: fmt.Sprint(x)}
}

func recordParams(p map[string]pval) url.Values {
	out := url.Values{}
	for k, v := range p {
		if v.Kind == pvNull {
			continue
		}
		out[k] = strings.Split(v.S, "\x00")
	}
	return out
}

// writeResp sends the response. Non-standard reason phrases need the raw
// connection: net/http always writes its own status text.
func writeResp(w http.ResponseWriter, r *http.Request, resp *apiResp) {
	date := time.Now().UTC().Format(http.TimeFormat)
	standard := resp.reason == http.StatusText(resp.status)
	if !standard || resp.status >= 400 {
		if hj, ok := w.(http.Hijacker); ok {
			conn, bufrw, err := hj.Hijack()
			if err == nil {
				defer conn.Close()
				proto := "HTTP/1.1"
				if r.ProtoMajor == 1 && r.ProtoMinor == 0 {
					proto = "HTTP/1.0"
				}
				var b bytes.Buffer
				fmt.Fprintf(&b, "%s %d %s\r\n", proto, resp.status, resp.reason)
				fmt.Fprintf(&b, "Cache-Control: max-age=0\r\nConnection: close\r\nDate: %s\r\nPragma: no-cache\r\nServer: pve-api-daemon/3.0\r\n", date)
				fmt.Fprintf(&b, "Content-Length: %d\r\n", len(resp.body))
				if resp.body != nil {
					b.WriteString("Content-Type: application/json;charset=UTF-8\r\n")
				}
				fmt.Fprintf(&b, "Expires: %s\r\n\r\n", date)
				b.Write(resp.body)
				_, _ = bufrw.Write(b.Bytes())
				_ = bufrw.Flush()
				return
			}
		}
	}
	h := w.Header()
	h.Set("Cache-Control", "max-age=0")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", date)
	h.Set("Server", "pve-api-daemon/3.0")
	if resp.status >= 400 {
		h.Set("Connection", "close")
	}
	h.Set("Content-Length", strconv.Itoa(len(resp.body)))
	if resp.body != nil {
		h.Set("Content-Type", "application/json;charset=UTF-8")
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// Start serves the simulator on addr ("127.0.0.1:0" for a free port) over
// HTTP/1.1 (HTTP/2 disabled so errors can be hijacked) and returns the API
// base URL, e.g. "https://127.0.0.1:40123/api2/json". With tlsOn a
// self-signed certificate is generated; see CertFingerprintSHA256.
func (s *Sim) Start(addr string, tlsOn bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return "", errors.New("pvesim: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	scheme := "http"
	if tlsOn {
		cert, fp, err := selfSignedCert(ln.Addr())
		if err != nil {
			ln.Close()
			return "", err
		}
		s.tlsCert, s.fingerprint = cert, fp
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	s.srv, s.ln = srv, ln
	go func() { _ = srv.Serve(ln) }()
	return scheme + "://" + ln.Addr().String() + apiBase, nil
}

// Close stops the server started by Start (no-op otherwise).
func (s *Sim) Close() error {
	s.mu.Lock()
	srv := s.srv
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// CertFingerprintSHA256 returns the SHA-256 fingerprint of the TLS
// certificate in the "AA:BB:..." form PVE displays ("" without TLS).
func (s *Sim) CertFingerprintSHA256() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fingerprint
}

// Certificate returns the self-signed certificate (nil without TLS), e.g.
// to build a CertPool for clients.
func (s *Sim) Certificate() *x509.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tlsCert == nil {
		return nil
	}
	return s.tlsCert.Leaf
}

// FingerprintSHA256 formats the SHA-256 digest of a DER certificate as
// uppercase colon-separated hex ("AA:BB:...").
func FingerprintSHA256(der []byte) string {
	sum := sha256.Sum256(der)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

func selfSignedCert(addr net.Addr) (*tls.Certificate, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "pvesim", Organization: []string{"PVE Cluster Node (simulated)"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "pvesim"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP != nil && !ta.IP.IsUnspecified() && !ta.IP.IsLoopback() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, ta.IP)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, "", err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, "", err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, FingerprintSHA256(der), nil
}

// transferEncodingRefusal is pveproxy's answer to a request that has a
// Transfer-Encoding: it reads the header as one value (HTTP::Headers joins
// repeated fields with ", "), so "chunked" alone is "not supported" and any
// other value, a list holding chunked included, is unknown. "" when the
// request has none.
func transferEncodingRefusal(te []string) string {
	if len(te) == 0 {
		return ""
	}
	v := strings.Join(te, ", ")
	if strings.EqualFold(v, "chunked") {
		return "chunked transfer encoding not supported"
	}
	return fmt.Sprintf("Unknown transfer encoding '%s'", v)
}
