package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
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
	cmd    *exec.Cmd
	done   chan struct{}
	apiURL string // pdns itself
	url    string // the proxy
	key    string
	srv    *http.Server
	api    *powerdns.Provider
	sock   string

	mu      sync.Mutex // one write at a time
	statsMu sync.Mutex
	writes  int
	reads   int
	waitSum time.Duration
	waitMax time.Duration
}

func startPDNS(dir string) (*pdnsServer, error) {
	if !pdnstest.Available() {
		return nil, fmt.Errorf("PowerDNS is not installed: %s", pdnstest.InstallHint)
	}
	dbPath := filepath.Join(dir, "pdns.sqlite3")
	schema, err := os.ReadFile(pdnstest.Schema)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		return nil, err
	}
	_, err = db.Exec(string(schema))
	db.Close()
	if err != nil {
		return nil, fmt.Errorf("pdns schema: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pdns.conf"), nil, 0o600); err != nil {
		return nil, err
	}
	webPort, err := freePort()
	if err != nil {
		return nil, err
	}
	dnsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	sock, err := os.MkdirTemp("", "pdns")
	if err != nil {
		return nil, err
	}
	s := &pdnsServer{apiURL: "http://127.0.0.1:" + strconv.Itoa(webPort), key: randHex(16), done: make(chan struct{}), sock: sock}
	logf, err := os.Create(filepath.Join(dir, "pdns.log"))
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(pdnstest.Binary,
		"--config-dir="+dir, "--socket-dir="+sock, "--daemon=no", "--guardian=no", "--disable-syslog", "--write-pid=no",
		"--launch=gsqlite3", "--gsqlite3-database="+dbPath, "--gsqlite3-pragma-synchronous=0",
		"--local-address=127.0.0.1", "--local-port="+strconv.Itoa(dnsPort),
		"--api=yes", "--api-key="+s.key, "--webserver=yes", "--webserver-address=127.0.0.1",
		"--webserver-port="+strconv.Itoa(webPort), "--webserver-allow-from=127.0.0.0/8", "--webserver-loglevel=none",
		"--security-poll-suffix=", "--cache-ttl=0", "--query-cache-ttl=0", "--negquery-cache-ttl=0")
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		os.RemoveAll(sock)
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); logf.Close(); close(s.done) }()

	target, _ := url.Parse(s.apiURL)
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

	s.api, err = powerdns.New(dns.ProviderConfig{Kind: dns.KindPowerDNS, Name: "bench-admin", URL: s.apiURL, APIKey: s.key}, nil)
	if err != nil {
		s.stop()
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := s.api.ListZones(ctx)
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			b, _ := os.ReadFile(filepath.Join(dir, "pdns.log"))
			return nil, fmt.Errorf("pdns_server exited during start-up:\n%s", tail(string(b), 2000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("pdns_server API not ready within 20s")
		}
	}
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
	return dns.ProviderConfig{Kind: dns.KindPowerDNS, Name: name, URL: s.url, APIKey: s.key, ServerID: "localhost"}
}

// CreateZone creates a Native zone with rrsets (straight to pdns).
func (s *pdnsServer) CreateZone(name string, rrsets ...powerdns.RRset) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range rrsets {
		if rrsets[i].ChangeType == "" {
			rrsets[i].ChangeType = "REPLACE"
		}
	}
	_, err := s.api.CreateZone(ctx, name, []string{"ns1.bench.invalid."}, rrsets)
	return err
}

func (s *pdnsServer) pid() int { return s.cmd.Process.Pid }

func (s *pdnsServer) stop() {
	if s.srv != nil {
		_ = s.srv.Close()
	}
	stopProc(s.cmd, s.done, 5*time.Second)
	os.RemoveAll(s.sock)
}
