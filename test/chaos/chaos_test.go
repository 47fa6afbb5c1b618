package chaos

import (
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestGateGoesDownAndUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }() // echo
		}
	}()
	g, err := NewGate(ln.Addr().String())
	require.NoError(t, err)
	defer g.Close()

	echo := func() error {
		c, err := net.DialTimeout("tcp", g.Addr(), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		b := make([]byte, 4)
		_, err = io.ReadFull(c, b)
		return err
	}
	require.NoError(t, echo())

	// An open connection is cut, new ones are refused.
	c, err := net.Dial("tcp", g.Addr())
	require.NoError(t, err)
	_, err = c.Write([]byte("x"))
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	g.Down()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 8)
	for err == nil {
		_, err = c.Read(b)
	}
	require.Error(t, err)
	c.Close()
	require.Error(t, echo())

	require.NoError(t, g.Up())
	require.NoError(t, echo())
}

func TestClassesDocumentAnEndState(t *testing.T) {
	names := map[string]bool{}
	for _, c := range Classes {
		require.False(t, names[c.Name], "duplicate class %s", c.Name)
		names[c.Name] = true
		e := c.Expect()
		require.True(t, e.Success || e.Refusal != nil, "class %s documents no end state", c.Name)
		require.True(t, e.Transient.MatchString("timed out (Heartbeat)"), "class %s: worker kills", c.Name)
		if c.Lift != nil {
			require.NotNil(t, e.Refusal, "class %s can be re-queued but refuses nothing", c.Name)
		}
	}
	// Every class is drawn.
	r := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for i := 0; i < 5000; i++ {
		seen[pickClass(r).Name] = true
	}
	require.Len(t, seen, len(Classes))
}
