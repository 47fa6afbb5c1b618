package whmcs

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// servePages serves the admin pages through the shim (testdata/router.php)
// as the given admin and returns the base URL.
func (w whmcs) servePages(t *testing.T, admin int) string {
	t.Helper()
	router, err := os.Getwd()
	require.NoError(t, err)
	addr := startProc(t, "php -S", php(t), append(w.shimEnv, "SHIM_ADMIN="+strconv.Itoa(admin)), func(addr string) []string {
		return []string{"-S", addr, router + "/testdata/router.php"}
	})
	return "http://" + addr
}

func (w whmcs) vmStatus(t *testing.T, id int) string {
	t.Helper()
	svc, err := w.store.LoadService(context.Background(), id)
	require.NoError(t, err)
	return svc.VM.VMStatus
}

// The VM Management page and the service panel in headless Chromium: the
// badge, the Reset modal, the Log modal, a Reset carried out through the
// form, hostile text rendered as text, and forged POSTs refused with
// nothing changed. PT_SCREENSHOTS=dir writes the screenshots docs/ shows.
func TestVMManagementPageInChromium(t *testing.T) {
	w := newWHMCS(t, nil)
	failed, failedVM := w.service(t, productPVEWHMCS, "ready")
	w.failAttempt(t, failed, 1, `DELETE refused: VM is locked (backup) <img src=x onerror="document.title='pwned-error'">`)
	hostile, _ := w.service(t, productPVEWHMCS, "ready")
	require.NoError(t, w.store.DB().Exec("UPDATE tblhosting SET domain = ? WHERE id = ?",
		`<script>document.title='pwned-domain'</script>evil.example.com`, hostile).Error)
	busy, _ := w.service(t, productPVEWHMCS, "terminate")
	_ = busy
	base := w.servePages(t, adminAllowed)
	shots := os.Getenv("PT_SCREENSHOTS")

	b := newBrowser(t)
	b.open(base + "/addonmodules.php?module=proxmoxterminate")
	var title string
	b.eval(`return document.title`, &title)
	require.Equal(t, "WHMCS admin (test)", title, "no injected script or handler ran")
	var badge string
	b.eval(`var e=document.querySelector('tr[data-service="'+arguments[0]+'"] .pt-badge-error');return e?e.textContent:""`, &badge, failed)
	require.Equal(t, "error_terminate", badge)
	var cells []string
	b.eval(`return Array.from(document.querySelectorAll('tr[data-service="'+arguments[0]+'"] td')).map(function(td){return td.textContent})`, &cells, hostile)
	require.Equal(t, `<script>document.title='pwned-domain'</script>evil.example.com`, cells[1], "the domain is shown as text")
	var hostileScripts int
	b.eval(`return Array.from(document.querySelectorAll('script')).filter(function(s){return s.textContent.indexOf('pwned')>=0}).length`, &hostileScripts)
	require.Zero(t, hostileScripts)
	var deletes []string
	b.eval(`return Array.from(document.querySelectorAll('button.pt-delete')).map(function(e){return e.dataset.service})`, &deletes)
	require.Equal(t, []string{strconv.Itoa(failed)}, deletes, "Delete Record only on error_terminate and remove rows")
	b.screenshot(shots, "whmcs-vm-management.png")

	// The Log modal loads the action log (no attempt logged yet).
	b.click(`button.pt-log[data-service="` + strconv.Itoa(failed) + `"]`)
	var logText string
	require.Eventually(t, func() bool {
		b.eval(`var d=document.getElementById('pt-log-dialog');return d.open?d.querySelector('.pt-body').textContent:""`, &logText)
		return logText != "" && logText != "Loading…"
	}, 20e9, 100e6)
	require.Contains(t, logText, "No attempt has been logged yet.")
	b.click(`#pt-log-dialog form[method=dialog] button`)

	// The Reset modal opens with the seven targets, each with its guidance.
	b.click(`button.pt-reset[data-service="` + strconv.Itoa(failed) + `"]`)
	var open bool
	b.eval(`return document.getElementById('pt-reset-dialog').open`, &open)
	require.True(t, open)
	var targets []string
	b.eval(`return Array.from(document.querySelectorAll('#pt-reset-dialog input[name=to]')).map(function(e){return e.value})`, &targets)
	require.Equal(t, []string{"terminate", "remove", "ready", "creation", "set_ip", "change_package", "set_dns_records"}, targets)
	b.screenshot(shots, "whmcs-reset-modal.png")

	// Forged POSTs (no token, a wrong token) are refused and change nothing.
	for _, form := range []url.Values{
		{"action": {"reset"}, "service": {strconv.Itoa(failed)}, "to": {"remove"}},
		{"action": {"reset"}, "service": {strconv.Itoa(failed)}, "to": {"remove"}, "token": {"forged"}},
		{"action": {"delete"}, "service": {strconv.Itoa(failed)}},
	} {
		resp, err := http.PostForm(base+"/addonmodules.php?module=proxmoxterminate", form)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Contains(t, string(body), "security token is missing or out of date. Nothing was changed")
		require.Equal(t, "error_terminate", w.vmStatus(t, failed))
	}

	// The same reset through the modal's form, token and all, is carried out.
	b.click(`#pt-reset-dialog input[value=remove]`)
	b.click(`#pt-reset-dialog button.pt-confirm`)
	var banner string
	require.Eventually(t, func() bool {
		b.eval(`var e=document.querySelector('.pt-banner');return e?e.textContent:""`, &banner)
		return banner != ""
	}, 30e9, 100e6)
	require.Equal(t, "Service #"+strconv.Itoa(failed)+" reset to remove.", banner)
	require.Equal(t, "remove", w.vmStatus(t, failed))

	// The service panel of a failed termination.
	w.failAttempt(t, failed, 2, "node pve1 unreachable")
	b.open(base + "/clientsservices.php?id=" + strconv.Itoa(failed))
	var panel string
	b.eval(`var p=document.getElementById('pt-panel');return p?p.textContent:""`, &panel)
	require.Contains(t, panel, "error_terminate")
	require.Contains(t, panel, "Last error: node pve1 unreachable")
	b.screenshot(shots, "whmcs-service-panel.png")

	// Retry from the panel, which sits inside the service's own form: it
	// re-queues the termination, and the run removes the VM.
	b.click(`button.pt-retry`)
	banner = ""
	require.Eventually(t, func() bool {
		b.eval(`var e=document.querySelector('.pt-banner');return e?e.textContent:""`, &banner)
		return banner != ""
	}, 30e9, 100e6)
	require.Equal(t, "Service #"+strconv.Itoa(failed)+" reset to terminate.", banner)
	require.Eventually(t, func() bool { return !w.st.Sim.VMExists(failedVM) }, 90e9, 200e6)
	require.Eventually(t, func() bool { return w.vmStatus(t, failed) == "remove" }, 30e9, 200e6)
}

// A token from the admin's own session is accepted by a plain client too:
// the refusal above is the token check, not a broken form.
func TestPostWithTheSessionsTokenIsAccepted(t *testing.T) {
	w := newWHMCS(t, nil)
	id, _ := w.service(t, productPVEWHMCS, "ready")
	w.failAttempt(t, id, 1, "boom")
	base := w.servePages(t, adminAllowed)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar}
	resp, err := c.Get(base + "/addonmodules.php?module=proxmoxterminate")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="token" value="([0-9a-f]+)"`).FindStringSubmatch(string(page))
	require.NotNil(t, m, "the page carries the session's token")

	resp, err = c.PostForm(base+"/addonmodules.php?module=proxmoxterminate", url.Values{
		"action": {"delete"}, "service": {strconv.Itoa(id)}, "token": {m[1]}})
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(body), "The VM record of service #"+strconv.Itoa(id)+" was deleted.")
	_, ok, err := w.store.OwnRow(context.Background(), id)
	require.NoError(t, err)
	require.False(t, ok)

	// An admin whose role is not granted gets a refusal for the page itself.
	other := w.servePages(t, adminOther)
	resp, err = http.Get(other + "/addonmodules.php?module=proxmoxterminate")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.True(t, strings.Contains(string(body), "may not use Proxmox Terminate"))
}
