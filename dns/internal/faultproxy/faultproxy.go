// Package faultproxy puts a loopback reverse proxy in front of a test
// backend (real pdns_server or a double) so tests can make any provider
// answer with an error status, a malformed body, or not at all.
package faultproxy

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

// Mode selects what the proxy does with each request.
type Mode int

const (
	// Pass forwards requests to the backend.
	Pass Mode = iota
	// Status answers every request with the configured status and body.
	Status
	// Hang never answers: it holds the request until the client gives up or
	// the proxy closes.
	Hang
	// Match answers requests the rule matches with the configured status
	// and body, and forwards the others.
	Match
)

// Rule decides whether a request gets the error answer; body is the
// request body (already restored for forwarding).
type Rule func(r *http.Request, body []byte) bool

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	URL string

	srv    *httptest.Server
	mu     sync.Mutex
	mode   Mode
	status int
	ctype  string
	body   string
	rule   Rule
	closed chan struct{}
	once   sync.Once
	hits   atomic.Int64
}

// New starts a proxy forwarding to target (a base URL).
func New(target string) *Proxy {
	u, err := url.Parse(target)
	if err != nil {
		panic("faultproxy: bad target URL: " + err.Error())
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &Proxy{closed: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		p.mu.Lock()
		mode, status, ctype, body, rule := p.mode, p.status, p.ctype, p.body, p.rule
		p.mu.Unlock()
		if mode == Match {
			reqBody, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
			if rule(r, reqBody) {
				mode = Status
			} else {
				mode = Pass
			}
		}
		switch mode {
		case Status:
			if ctype != "" {
				w.Header().Set("Content-Type", ctype)
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		case Hang:
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
func (p *Proxy) SetPass() { p.set(Pass, 0, "", "") }

// SetStatus answers every request with status, content type and body.
func (p *Proxy) SetStatus(status int, contentType, body string) {
	p.set(Status, status, contentType, body)
}

// SetMatch answers requests matching rule with status, content type and
// body, and forwards the rest.
func (p *Proxy) SetMatch(rule Rule, status int, contentType, body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.status, p.ctype, p.body, p.rule = Match, status, contentType, body, rule
}

// SetHang makes every request hang.
func (p *Proxy) SetHang() { p.set(Hang, 0, "", "") }

func (p *Proxy) set(m Mode, status int, ctype, body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.status, p.ctype, p.body = m, status, ctype, body
}

// Hits is the number of requests received so far.
func (p *Proxy) Hits() int64 { return p.hits.Load() }

// Close releases hanging requests and stops the proxy.
func (p *Proxy) Close() {
	p.once.Do(func() { close(p.closed) })
	p.srv.Close()
}
