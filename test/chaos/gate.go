package chaos

import (
	"io"
	"net"
	"sync"
	"time"
)

// Gate is a TCP forwarder in front of a service (the DNS provider in the
// chaos run, MariaDB in the fault matrix): Down closes its port and every
// open connection (the service is "down": connection refused), Up listens
// on the same port again.
type Gate struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

// NewGate forwards a fresh loopback port to target (host:port).
func NewGate(target string) (*Gate, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &Gate{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	g.ln = ln
	go g.serve(ln)
	return g, nil
}

func (g *Gate) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go g.pipe(c)
	}
}

func (g *Gate) pipe(c net.Conn) {
	up, err := net.DialTimeout("tcp", g.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	g.mu.Lock()
	if g.ln == nil { // went down meanwhile
		g.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	g.conns[c], g.conns[up] = struct{}{}, struct{}{}
	g.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	g.mu.Lock()
	delete(g.conns, c)
	delete(g.conns, up)
	g.mu.Unlock()
}

// Addr is the gate's host:port.
func (g *Gate) Addr() string { return g.addr }

// Down refuses new connections and cuts open ones.
func (g *Gate) Down() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		c.Close()
	}
}

// Up listens again on the same address.
func (g *Gate) Up() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		return nil
	}
	var err error
	for i := 0; i < 50; i++ {
		var ln net.Listener
		if ln, err = net.Listen("tcp", g.addr); err == nil {
			g.ln = ln
			go g.serve(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Close stops the gate for good.
func (g *Gate) Close() { g.Down() }
