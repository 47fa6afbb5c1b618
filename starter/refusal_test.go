package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

// The classification the click relies on.
func TestRefusedAtTheClick(t *testing.T) {
	for _, tc := range []struct {
		err     error
		refused bool
	}{
		{&pve.Error{Op: "GET", Status: 401, Message: "invalid token value!"}, true},
		{&pve.Error{Op: "GET", Status: 403, Message: "Permission check failed"}, true},
		{&pve.Error{Op: "GET", Status: 400, Message: "Parameter verification failed."}, true},
		{&pve.Error{Op: "GET", Status: 500, Message: "something else"}, true},
		{&pve.Error{Op: "GET", Cause: "connection refused"}, false},
		{&pve.Error{Op: "GET", Status: 595, Message: "No route to host"}, false},
		{&pve.Error{Op: "GET", Status: 500, Message: "Configuration file 'nodes/pve1/qemu-server/100.conf' does not exist"}, false},
	} {
		require.Equal(t, tc.refused, refusedAtClick(tc.err), "%v", tc.err)
	}
}
