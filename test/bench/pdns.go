package bench

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	_ "github.com/glebarez/go-sqlite" // creates pdns's gsqlite3 database from the Debian schema

	"github.com/proxmox-terminate/proxmox-terminate/dns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns"
	"github.com/proxmox-terminate/proxmox-terminate/dns/powerdns/pdnstest"
)

// pdnsServer is the real PowerDNS Authoritative server (Debian's
// pdns-server with the gsqlite3 backend, the only backend installed here)
// behind a proxy that lets one write (PATCH/POST/PUT/DELETE) through at a
// time.
//
// Why the proxy: PowerDNS's gsqlite3 backend answers concurrent zone edits
// with "500 ... database is locked (5)" (an SQLite write-upgrade conflict,
// which its busy handler cannot wait out; reproduced with 100 concurrent
// cleanups on one zone: 72 of 100 failed). Production backends (gmysql,
// gpgsql) take row locks and queue writers instead; the proxy's mutex is
// that queue. Its wait is measured (DNSWriteWait) so the harness's share of
// the DNS phase is visible. synchronous=0 keeps each commit off the disk,
// as a production database server's group commit would mostly be.
type pdnsServer struct {
	*pdnstest.Server
	url string // the proxy
	srv *http.Server
	api *powerdns.Provider

	mu      sync.Mutex // one write at a time
	statsMu sync.Mutex
	writes  int
	reads   int
	waitSum time.Duration
	waitMax time.Duration
}

func startPDNS(dir string) (*pdnsServer, error) {
	srv, err := pdnstest.StartServerWith(dir, pdnstest.Options{Args: []string{"--gsqlite3-pragma-synchronous=0"}, Group: true})
	if err != nil {
		return nil, err
	}
	s := &pdnsServer{Server: srv}
	if s.api, err = powerdns.New(srv.Config("bench-admin"), nil); err != nil {
		s.stop()
		return nil, err
	}
	target, _ := url.Parse(srv.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	ln, err := listenLocal()
	if err != nil {
		s.stop()
		return nil, err
	}
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			s.count(false, 0)
			rp.ServeHTTP(w, r)
			return
		}
		t := time.Now()
		s.mu.Lock()
		s.count(true, time.Since(t))
		defer s.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *pdnsServer) count(write bool, wait time.Duration) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	if write {
		s.writes++
		s.waitSum += wait
		s.waitMax = max(s.waitMax, wait)
	} else {
		s.reads++
	}
}

// DNSStats are the proxy's counters.
type DNSStats struct {
	Reads         int     `json:"reads"`
	Writes        int     `json:"writes"`
	WriteWaitSumS float64 `json:"write_wait_sum_s"` // time writes queued for the one-writer lock (the harness's share)
	WriteWaitMaxS float64 `json:"write_wait_max_s"`
}

func (s *pdnsServer) stats() DNSStats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	return DNSStats{Reads: s.reads, Writes: s.writes, WriteWaitSumS: s.waitSum.Seconds(), WriteWaitMaxS: s.waitMax.Seconds()}
}

func (s *pdnsServer) resetStats() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.reads, s.writes, s.waitSum, s.waitMax = 0, 0, 0, 0
}

// Config is a provider config through the proxy.
func (s *pdnsServer) Config(name string) dns.ProviderConfig {
	c := s.Server.Config(name)
	c.URL = s.url
	return c
}

// CreateZone creates a Native zone with rrsets (straight to pdns).
func (s *pdnsServer) CreateZone(name string, rrsets ...powerdns.RRset) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return pdnstest.CreateZoneVia(ctx, s.api, name, rrsets...)
}

func (s *pdnsServer) pid() int { return s.Pid() }

func (s *pdnsServer) stop() {
	if s.srv != nil {
		_ = s.srv.Close()
	}
	_ = s.Server.Stop()
}
