package bench

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// SQLProxy is a TCP proxy in front of MariaDB that counts the commands
// clients send, by reading the MySQL wire protocol: every client packet with
// sequence id 0 starts a command (the handshake's packets have ids >= 1).
// It needs no change to the product and sees the worker and the starter as
// subprocesses. TLS and the compressed protocol are not used on loopback
// (go-sql-driver's defaults), so the stream is readable.
type SQLProxy struct {
	ln       net.Listener
	upstream string

	mu     sync.Mutex
	counts map[string]int           // "query SELECT tblhosting", "execute UPDATE puqProxmoxKVM_vm_info", "prepare ...", "ping", ...
	wait   map[string]time.Duration // same keys: command sent → first answer packet
	conns  int
}

// MySQL command bytes (client → server).
const (
	comQuit        = 0x01
	comInitDB      = 0x02
	comQuery       = 0x03
	comPing        = 0x0e
	comStmtPrepare = 0x16
	comStmtExecute = 0x17
	comStmtClose   = 0x19
	comStmtReset   = 0x1a
)

// StartSQLProxy listens on 127.0.0.1:0 and forwards to upstream (host:port).
func StartSQLProxy(upstream string) (*SQLProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &SQLProxy{ln: ln, upstream: upstream, counts: map[string]int{}, wait: map[string]time.Duration{}}
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *SQLProxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting; open connections end with their clients.
func (p *SQLProxy) Close() error { return p.ln.Close() }

func (p *SQLProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns++
		p.mu.Unlock()
		go p.serve(c)
	}
}

func (p *SQLProxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		client.Close()
		return
	}
	st := &connState{stmts: map[uint32]string{}}
	done := make(chan struct{}, 2)
	go func() { // server → client: learn prepared statement ids
		p.pump(server, client, st, false)
		done <- struct{}{}
	}()
	go func() { // client → server: count commands
		p.pump(client, server, st, true)
		done <- struct{}{}
	}()
	<-done
	client.Close()
	server.Close()
	<-done
}

// connState maps statement ids to their text, per connection, and times
// the command in flight (the driver sends one at a time per connection).
type connState struct {
	mu          sync.Mutex
	pendingText string // text of the last COM_STMT_PREPARE awaiting its OK
	pending     bool
	stmts       map[uint32]string
	cmdKey      string // command awaiting its first answer packet
	cmdAt       time.Time
}

// pump copies packets from src to dst and inspects them.
func (p *SQLProxy) pump(src, dst net.Conn, st *connState, fromClient bool) {
	r := bufio.NewReaderSize(src, 64<<10)
	w := bufio.NewWriterSize(dst, 64<<10)
	hdr := make([]byte, 4)
	var buf []byte
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		seq := hdr[3]
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		if fromClient && seq == 0 && n > 0 {
			p.command(buf, st)
		} else if !fromClient && seq == 1 {
			st.mu.Lock()
			if st.pending && n >= 5 && buf[0] == 0x00 {
				st.stmts[binary.LittleEndian.Uint32(buf[1:5])] = st.pendingText
				st.pending = false
			}
			key, at := st.cmdKey, st.cmdAt
			st.cmdKey = ""
			st.mu.Unlock()
			if key != "" {
				d := time.Since(at)
				p.mu.Lock()
				p.wait[key] += d
				p.mu.Unlock()
			}
		}
		if _, err := w.Write(hdr); err != nil {
			return
		}
		if _, err := w.Write(buf); err != nil {
			return
		}
		if r.Buffered() == 0 {
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

func (p *SQLProxy) command(pkt []byte, st *connState) {
	var key string
	switch pkt[0] {
	case comQuery:
		key = "query " + Classify(string(pkt[1:]))
	case comStmtPrepare:
		text := Classify(string(pkt[1:]))
		st.mu.Lock()
		st.pendingText, st.pending = text, true
		st.mu.Unlock()
		key = "prepare " + text
	case comStmtExecute:
		text := "?"
		if len(pkt) >= 5 {
			st.mu.Lock()
			if t, ok := st.stmts[binary.LittleEndian.Uint32(pkt[1:5])]; ok {
				text = t
			}
			st.mu.Unlock()
		}
		key = "execute " + text
	case comStmtClose:
		key = "close"
	case comStmtReset:
		key = "reset"
	case comPing:
		key = "ping"
	case comQuit:
		key = "quit"
	case comInitDB:
		key = "initdb"
	default:
		key = "other"
	}
	if pkt[0] != comStmtClose && pkt[0] != comQuit { // these get no answer
		st.mu.Lock()
		st.cmdKey, st.cmdAt = key, time.Now()
		st.mu.Unlock()
	}
	p.mu.Lock()
	p.counts[key]++
	p.mu.Unlock()
}

// SQLCounts is a snapshot of what a proxy saw.
type SQLCounts struct {
	Statements int                      `json:"statements"`  // queries + prepared executions: statements the server ran
	RoundTrips int                      `json:"round_trips"` // commands that wait for an answer (statements, prepares, pings)
	Prepares   int                      `json:"prepares"`
	Conns      int                      `json:"connections"`
	ByKind     map[string]int           `json:"by_kind"` // "SELECT tblhosting" → statements
	Wait       time.Duration            `json:"-"`       // every command's wait for its answer, summed
	WaitByKind map[string]time.Duration `json:"-"`       // statements only, by kind
}

// Snapshot returns the counters so far.
func (p *SQLProxy) Snapshot() SQLCounts {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := SQLCounts{ByKind: map[string]int{}, WaitByKind: map[string]time.Duration{}, Conns: p.conns}
	for k, v := range p.counts {
		kind, text, _ := strings.Cut(k, " ")
		s.Wait += p.wait[k]
		switch kind {
		case "query", "execute":
			s.Statements += v
			s.RoundTrips += v
			s.ByKind[text] += v
			s.WaitByKind[text] += p.wait[k]
		case "prepare":
			s.Prepares += v
			s.RoundTrips += v
		case "ping", "initdb", "reset":
			s.RoundTrips += v
		}
	}
	return s
}

// Sub returns s - base.
func (s SQLCounts) Sub(base SQLCounts) SQLCounts {
	out := SQLCounts{Statements: s.Statements - base.Statements, RoundTrips: s.RoundTrips - base.RoundTrips,
		Prepares: s.Prepares - base.Prepares, Conns: s.Conns - base.Conns, ByKind: map[string]int{},
		Wait: s.Wait - base.Wait, WaitByKind: map[string]time.Duration{}}
	for k, v := range s.ByKind {
		if d := v - base.ByKind[k]; d != 0 {
			out.ByKind[k] = d
			out.WaitByKind[k] = s.WaitByKind[k] - base.WaitByKind[k]
		}
	}
	return out
}

// MeanWaitMs is the mean answer time of each statement kind, in ms.
func (s SQLCounts) MeanWaitMs() map[string]float64 {
	out := map[string]float64{}
	for k, n := range s.ByKind {
		if n > 0 {
			out[k] = round2(ms(s.WaitByKind[k]) / float64(n))
		}
	}
	return out
}

var (
	reVerb  = regexp.MustCompile(`(?is)^\s*(?:/\*.*?\*/\s*)*([a-z]+)`)
	reTable = regexp.MustCompile("(?is)\\b(?:from|into|update|table)\\s+`?([A-Za-z0-9_]+)`?")
)

// Classify names a statement by its verb and first table: "SELECT
// tblhosting", "INSERT tblmodulelog", "START", "COMMIT".
func Classify(q string) string {
	m := reVerb.FindStringSubmatch(q)
	if m == nil {
		return "?"
	}
	verb := strings.ToUpper(m[1])
	switch verb {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE":
		if t := reTable.FindStringSubmatch(q); t != nil {
			return verb + " " + t[1]
		}
	}
	return verb
}

// SortedKinds lists by_kind entries, largest first.
func SortedKinds(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
