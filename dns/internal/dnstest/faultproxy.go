package dnstest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
)

// faultMode selects what the proxy does with each request.
type faultMode int

const (
	// modePass forwards requests to the backend.
	modePass faultMode = iota
	// modeStatus answers every request with the configured status and body.
	modeStatus
	// modeHang never answers: it holds the request until the client gives up or
	// the proxy closes.
	modeHang
	// modeMatch answers requests the rule matches with the configured status
	// and body, and forwards the others.
	modeMatch
	// modeLose forwards every request, but never answers the ones the rule
	// matches: the backend makes the change, the client hears nothing.
	modeLose
)

// Rule decides whether a request gets the error answer; body is the
// request body (already restored for forwarding).
type Rule func(r *http.Request, body []byte) bool

// FaultProxy is a loopback reverse proxy in front of a test backend (real
// pdns_server or a double) so tests can make any provider answer with an
// error status, a malformed body, or not at all. It keeps every request it
// receives (Requests), so tests can count what a provider asked for.
type FaultProxy struct {
	URL string

	srv    *httptest.Server
	mu     sync.Mutex
	mode   faultMode
	status int
	ctype  string
	body   string
	rule   Rule
	closed chan struct{}
	once   sync.Once
	hits   atomic.Int64
	seen   []Seen
}

// Seen is one request the proxy received.
type Seen struct {
	Method string
	URL    *url.URL // path and query as received
	Body   []byte
}

// NewFaultProxy starts a proxy forwarding to target (a base URL).
func NewFaultProxy(target string) *FaultProxy {
	u, err := url.Parse(target)
	if err != nil {
		panic("dnstest: bad target URL: " + err.Error())
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &FaultProxy{closed: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		reqBody, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		u := *r.URL
		p.mu.Lock()
		p.seen = append(p.seen, Seen{Method: r.Method, URL: &u, Body: reqBody})
		mode, status, ctype, body, rule := p.mode, p.status, p.ctype, p.body, p.rule
		p.mu.Unlock()
		switch {
		case mode == modeMatch && rule(r, reqBody):
			mode = modeStatus
		case mode == modeMatch:
			mode = modePass
		case mode == modeLose && rule(r, reqBody):
			rp.ServeHTTP(httptest.NewRecorder(), r)
			mode = modeHang
		case mode == modeLose:
			mode = modePass
		}
		switch mode {
		case modeStatus:
			if ctype != "" {
				w.Header().Set("Content-Type", ctype)
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		case modeHang:
			select {
			case <-r.Context().Done():
			case <-p.closed:
			}
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	p.URL = p.srv.URL
	return p
}

// SetPass forwards requests again.
func (p *FaultProxy) SetPass() { p.set(modePass, 0, "", "") }

// SetStatus answers every request with status, content type and body.
func (p *FaultProxy) SetStatus(status int, contentType, body string) {
	p.set(modeStatus, status, contentType, body)
}

// SetMatch answers requests matching rule with status, content type and
// body, and forwards the rest.
func (p *FaultProxy) SetMatch(rule Rule, status int, contentType, body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.status, p.ctype, p.body, p.rule = modeMatch, status, contentType, body, rule
}

// SetLose forwards every request, but answers none of those matching rule:
// they reach the backend (its change is made) and then hang like SetHang.
func (p *FaultProxy) SetLose(rule Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.rule = modeLose, rule
}

// SetHang makes every request hang.
func (p *FaultProxy) SetHang() { p.set(modeHang, 0, "", "") }

func (p *FaultProxy) set(m faultMode, status int, ctype, body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.status, p.ctype, p.body = m, status, ctype, body
}

// Hits is the number of requests received so far.
func (p *FaultProxy) Hits() int64 { return p.hits.Load() }

// Requests returns every request received so far, in order.
func (p *FaultProxy) Requests() []Seen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Seen(nil), p.seen...)
}

// Close releases hanging requests and stops the proxy.
func (p *FaultProxy) Close() {
	p.once.Do(func() { close(p.closed) })
	p.srv.Close()
}
