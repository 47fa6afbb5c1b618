package dbmodel_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
)

// SilentServer accepts TCP connections and never answers: a database that
// hangs after the connect. The connections stay open until the test ends.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// A MySQL server that accepts and never answers fails the open when its
// context ends, with the cannot-connect error and without the password.
func TestOpenContextEndsWithTheDeadlineOnASilentServer(t *testing.T) {
	cfg := dbmodel.Config{Driver: "mysql", DSN: "whmcs:pw-silent-123@tcp(" + silentServer(t) + ")/whmcs"}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	opened := make(chan error, 1)
	go func() {
		s, err := dbmodel.OpenContext(ctx, cfg)
		if s != nil {
			s.Close()
		}
		opened <- err
	}()
	select {
	case err := <-opened:
		require.Error(t, err)
		require.Contains(t, err.Error(), "database: cannot connect (mysql)")
		require.NotContains(t, err.Error(), "pw-silent-123")
	case <-time.After(20 * time.Second):
		t.Fatal("OpenContext did not return after its context ended")
	}
}
