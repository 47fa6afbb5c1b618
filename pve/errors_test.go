package pve_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/pve"
)

// Statuses the simulator's routes do not produce on their own: go-proxmox
// hides 404 and 596 entirely (it decodes the body as if it were data);
// our transport must report each with its status and class.
func TestErrorStatusesAreNeverHidden(t *testing.T) {
	for _, tc := range []struct {
		status    int
		body      string
		class     string
		transient bool
		message   string
	}{
		{404, `{"data":null}`, "server", false, "Not Found"},
		{596, ``, "node_unreachable", true, "Broken pipe"},
		{599, ``, "node_unreachable", true, "Too many redirections"},
		{401, ``, "auth", false, "invalid token value!"},
		{403, `{"data":null}`, "auth", false, "Permission check failed"},
		{500, `{"data":null,"message":"can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout\n"}`, "lock_timeout", true, "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"},
		{500, `{"data":null,"message":"VM 100 is running - destroy failed\n"}`, "running", false, "VM 100 is running - destroy failed"},
		{400, `{"data":null,"message":"Parameter verification failed.\n","errors":{"purge":"type check ('boolean') failed - got 'true'"}}`, "bad_request", false, "Parameter verification failed."},
		{503, ``, "server", true, "Service Unavailable"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(tc.body))
		}))
		c, err := pve.New(pve.Config{Name: "x", URL: srv.URL, TokenID: tokenID, TokenSecret: secret, Timeout: 2 * time.Second}, nil)
		require.NoError(t, err)
		_, err = c.VMStatus(ctx(t), "pve1", 100)
		srv.Close()
		e := apiErr(t, err)
		require.Equal(t, tc.status, e.Status, "status %d", tc.status)
		require.Equal(t, tc.class, e.Class(), "status %d", tc.status)
		require.Equal(t, tc.transient, e.Transient(), "status %d", tc.status)
		if tc.status != 596 && tc.status != 599 && tc.status != 401 && tc.status != 403 {
			require.Contains(t, e.Message, tc.message, "status %d", tc.status)
		}
		require.NotContains(t, err.Error(), secret)
	}
}

func TestTaskStatusSuccessRules(t *testing.T) {
	for exit, ok := range map[string]bool{"OK": true, "WARNINGS: 3": true, "VM is locked (backup)": false, "unexpected status": false, "": false} {
		st := pve.TaskStatus{UPID: "UPID:x", ExitStatus: exit}
		require.Equal(t, ok, st.OK(), exit)
		require.Equal(t, !ok, st.Err() != nil, exit)
	}
	require.NoError(t, pve.TaskStatus{Running: true}.Err(), "a running task has not failed")
}
