package whmcs

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/proxmox-terminate/proxmox-terminate/internal/stack"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// listRow seeds a service and its VM row for the list only: no VM on the
// simulator, and a domain and IP of the test's choosing (no digits in the
// domain, so that a search by service id matches the id alone).
func (w whmcs) listRow(t *testing.T, domain, ip, status string) int {
	t.Helper()
	id := stack.NextID()
	require.NoError(t, stack.Seed(context.Background(), w.store, stack.Service{
		ID: id, UserID: id + 500000, Domain: domain, DedicatedIP: ip, VMID: 1000 + id%8000, Node: "pve1", VMName: domain, VMStatus: status,
	}))
	require.NoError(t, w.store.DB().Exec("UPDATE tblhosting SET packageid = ? WHERE id = ?", productPVEWHMCS, id).Error)
	return id
}

// getPage GETs VM Management through the router with the query and returns
// the page's HTML.
func getPage(t *testing.T, base string, query url.Values) string {
	t.Helper()
	q := url.Values{"module": {"proxmoxterminate"}}
	for k, v := range query {
		q[k] = v
	}
	return getURL(t, base+"/addonmodules.php?"+q.Encode())
}

func getURL(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	return string(body)
}

var (
	rowRe   = regexp.MustCompile(`<tr data-service="(\d+)">`)
	pagerRe = regexp.MustCompile(`<div class="pt-pager">([^<]*?) ?(<a|</div>)`)
	linkRe  = regexp.MustCompile(`<div class="pt-pager">.*?</div>`)
	aRe     = regexp.MustCompile(`<a href="([^"]*)">([^<]*)</a>`)
	runRe   = regexp.MustCompile(`<a href="([^"]*)" target="_blank" rel="noopener">Run</a>`)
)

// listed is the service ids of the page's rows, in the page's order.
func listed(t *testing.T, page string) []int {
	t.Helper()
	ids := []int{}
	for _, m := range rowRe.FindAllStringSubmatch(page, -1) {
		id, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		ids = append(ids, id)
	}
	return ids
}

// pagerText is the pager's "N rows · page P of M".
func pagerText(t *testing.T, page string) string {
	t.Helper()
	m := pagerRe.FindStringSubmatch(page)
	require.NotNil(t, m, "the page has a pager")
	return html.UnescapeString(m[1])
}

// pagerLinks maps the pager's link labels to their (unescaped) hrefs.
func pagerLinks(t *testing.T, page string) map[string]string {
	t.Helper()
	div := linkRe.FindString(page)
	require.NotEmpty(t, div, "the page has a pager")
	links := map[string]string{}
	for _, m := range aRe.FindAllStringSubmatch(div, -1) {
		links[html.UnescapeString(m[2])] = html.UnescapeString(m[1])
	}
	return links
}

func sorted(ids ...int) []int {
	out := append([]int{}, ids...)
	sort.Ints(out)
	return out
}

// The search box (q): a service id matches that service only, a part of the
// domain or of an IP matches every row that has it, the term is trimmed
// and taken literally (LIKE wildcards match themselves), and the box keeps
// the term.
func TestVMManagementSearch(t *testing.T) {
	w := newWHMCS(t, nil)
	alpha := w.listRow(t, "alpha.search.example", "198.51.100.10", "ready")
	bravo := w.listRow(t, "bravo.search.example", "198.51.100.20", "error_terminate")
	charlie := w.listRow(t, "charlie.other.example", "203.0.113.5", "ready")
	base := w.servePages(t, adminAllowed)

	all := getPage(t, base, nil)
	require.Equal(t, sorted(alpha, bravo, charlie), sorted(listed(t, all)...))
	require.Equal(t, "3 rows · page 1 of 1", pagerText(t, all))

	for _, c := range []struct {
		q     string
		want  []int
		value string // the search box's value afterwards
	}{
		{strconv.Itoa(bravo), []int{bravo}, strconv.Itoa(bravo)},
		{strconv.Itoa(charlie), []int{charlie}, strconv.Itoa(charlie)},
		{"search.example", []int{alpha, bravo}, "search.example"},
		{"CHARLIE", []int{charlie}, "CHARLIE"},
		{"203.0.113.5", []int{charlie}, "203.0.113.5"},
		{"198.51.100.", []int{alpha, bravo}, "198.51.100."},
		{"198.51.100.2", []int{bravo}, "198.51.100.2"},
		{"  alpha  ", []int{alpha}, "alpha"},
		{"%", []int{}, "%"},
		{"_lpha", []int{}, "_lpha"},
		{"nothing-matches", []int{}, "nothing-matches"},
	} {
		page := getPage(t, base, url.Values{"q": {c.q}})
		require.Equal(t, sorted(c.want...), sorted(listed(t, page)...), "q=%q", c.q)
		require.Equal(t, strconv.Itoa(len(c.want))+" rows · page 1 of 1", pagerText(t, page), "q=%q", c.q)
		require.Contains(t, page, `name="q" value="`+html.EscapeString(c.value)+`"`, "q=%q", c.q)
		if len(c.want) == 0 {
			require.Contains(t, page, "No VM rows match.", "q=%q", c.q)
		} else {
			require.NotContains(t, page, "No VM rows match.", "q=%q", c.q)
		}
	}
}

// The status filter: only rows in the chosen vm_status, the choice kept
// selected, combined with the search, and an unknown status ignored.
func TestVMManagementStatusFilter(t *testing.T) {
	w := newWHMCS(t, nil)
	err1 := w.listRow(t, "one.filter.example", "198.51.100.31", "error_terminate")
	err2 := w.listRow(t, "two.filter.example", "198.51.100.32", "error_terminate")
	removed := w.listRow(t, "three.filter.example", "198.51.100.33", "remove")
	ready := w.listRow(t, "four.filter.example", "198.51.100.34", "ready")
	creation := w.listRow(t, "five.filter.example", "198.51.100.35", "creation")
	base := w.servePages(t, adminAllowed)

	for _, c := range []struct {
		status string
		want   []int
	}{
		{"error_terminate", []int{err1, err2}},
		{"remove", []int{removed}},
		{"ready", []int{ready}},
		{"creation", []int{creation}},
		{"terminate", []int{}},
		{"set_ip", []int{}},
	} {
		page := getPage(t, base, url.Values{"status": {c.status}})
		require.Equal(t, c.want, listed(t, page), "status=%s", c.status)
		require.Equal(t, strconv.Itoa(len(c.want))+" rows · page 1 of 1", pagerText(t, page), "status=%s", c.status)
		require.Contains(t, page, `<option value="`+c.status+`" selected>`, "status=%s", c.status)
		require.Equal(t, 1, strings.Count(page, " selected>"), "one status chosen: status=%s", c.status)
	}

	// Status and search together.
	page := getPage(t, base, url.Values{"status": {"error_terminate"}, "q": {"two."}})
	require.Equal(t, []int{err2}, listed(t, page))
	page = getPage(t, base, url.Values{"status": {"ready"}, "q": {"two."}})
	require.Equal(t, []int{}, listed(t, page))
	require.Contains(t, page, "No VM rows match.")

	// An unknown status is ignored: every row, "every status" chosen.
	for _, s := range []string{"bogus", "", "ERROR_TERMINATE"} {
		page = getPage(t, base, url.Values{"status": {s}})
		require.Equal(t, sorted(err1, err2, removed, ready, creation), sorted(listed(t, page)...), "status=%q", s)
		require.Equal(t, "5 rows · page 1 of 1", pagerText(t, page), "status=%q", s)
		require.NotContains(t, page, " selected>", "status=%q", s)
	}
}

// Paging: 50 rows a page, by vm_status then service id; the pager gives
// the total, the page and the next and previous links, which keep the
// filter and the search.
func TestVMManagementPaging(t *testing.T) {
	w := newWHMCS(t, nil)
	var ready []int
	for i := 0; i < 120; i++ {
		ready = append(ready, w.listRow(t, "page.paging.example", "198.51.100.40", "ready"))
	}
	failed := []int{
		w.listRow(t, "failed.paging.example", "198.51.100.41", "error_terminate"),
		w.listRow(t, "failed.paging.example", "198.51.100.41", "error_terminate"),
	}
	base := w.servePages(t, adminAllowed)

	// Every status: 122 rows on three pages.
	page := getPage(t, base, nil)
	require.Len(t, listed(t, page), 50)
	require.Equal(t, "122 rows · page 1 of 3", pagerText(t, page))
	require.Equal(t, map[string]string{"next ›": "addonmodules.php?module=proxmoxterminate&status=&q=&p=2"}, pagerLinks(t, page))
	seen := listed(t, page)
	page = getURL(t, base+"/"+pagerLinks(t, page)["next ›"])
	require.Equal(t, "122 rows · page 2 of 3", pagerText(t, page))
	require.Len(t, listed(t, page), 50)
	seen = append(seen, listed(t, page)...)
	page = getPage(t, base, url.Values{"p": {"3"}})
	require.Equal(t, "122 rows · page 3 of 3", pagerText(t, page))
	require.Len(t, listed(t, page), 22)
	seen = append(seen, listed(t, page)...)
	require.Equal(t, sorted(append(append([]int{}, ready...), failed...)...), sorted(seen...), "the three pages hold every row once")

	// The ready rows: pages of 50, 50 and 20, in service id order, each
	// link carrying the status and the search.
	q := url.Values{"status": {"ready"}, "q": {"paging"}}
	page = getPage(t, base, q)
	require.Equal(t, ready[:50], listed(t, page))
	require.Equal(t, "120 rows · page 1 of 3", pagerText(t, page))
	require.Equal(t, map[string]string{"next ›": "addonmodules.php?module=proxmoxterminate&status=ready&q=paging&p=2"}, pagerLinks(t, page))

	page = getURL(t, base+"/"+pagerLinks(t, page)["next ›"])
	require.Equal(t, ready[50:100], listed(t, page))
	require.Equal(t, "120 rows · page 2 of 3", pagerText(t, page))
	require.Equal(t, map[string]string{
		"‹ previous": "addonmodules.php?module=proxmoxterminate&status=ready&q=paging&p=1",
		"next ›":     "addonmodules.php?module=proxmoxterminate&status=ready&q=paging&p=3",
	}, pagerLinks(t, page))

	page = getURL(t, base+"/"+pagerLinks(t, page)["next ›"])
	require.Equal(t, ready[100:], listed(t, page))
	require.Equal(t, "120 rows · page 3 of 3", pagerText(t, page))
	require.Equal(t, map[string]string{"‹ previous": "addonmodules.php?module=proxmoxterminate&status=ready&q=paging&p=2"}, pagerLinks(t, page))

	page = getURL(t, base+"/"+pagerLinks(t, page)["‹ previous"])
	require.Equal(t, ready[50:100], listed(t, page))

	// The failed rows fit on one page: no links.
	page = getPage(t, base, url.Values{"status": {"error_terminate"}})
	require.Equal(t, failed, listed(t, page))
	require.Equal(t, "2 rows · page 1 of 1", pagerText(t, page))
	require.Empty(t, pagerLinks(t, page))

	// Past the last page (a bookmark, rows deleted since): the last page,
	// not an empty list that says no row matches.
	page = getPage(t, base, url.Values{"status": {"ready"}, "q": {"paging"}, "p": {"99"}})
	require.Equal(t, ready[100:], listed(t, page))
	require.Equal(t, "120 rows · page 3 of 3", pagerText(t, page))
	require.NotContains(t, page, "No VM rows match.")
	require.Equal(t, map[string]string{"‹ previous": "addonmodules.php?module=proxmoxterminate&status=ready&q=paging&p=2"}, pagerLinks(t, page))

	// A page number that is not a positive number is page 1.
	for _, p := range []string{"0", "-2", "abc", "1.5"} {
		page = getPage(t, base, url.Values{"status": {"ready"}, "p": {p}})
		require.Equal(t, ready[:50], listed(t, page), "p=%s", p)
		require.Equal(t, "120 rows · page 1 of 3", pagerText(t, page), "p=%s", p)
	}
}

// The Run link of each row opens the service's TerminateWorkflow in the
// Temporal Web UI the addon's webui setting names; no link without a
// usable setting.
func TestVMManagementWebUILink(t *testing.T) {
	w := newWHMCS(t, map[string]string{"webui": "https://temporal.example.com/namespaces/pt-prod/workflows/"})
	a := w.listRow(t, "alpha.webui.example", "198.51.100.50", "error_terminate")
	b := w.listRow(t, "bravo.webui.example", "198.51.100.51", "remove")
	base := w.servePages(t, adminAllowed)

	runLinks := func() map[int]string {
		page := getPage(t, base, nil)
		links := map[int]string{}
		for _, tr := range regexp.MustCompile(`(?s)<tr data-service="(\d+)">.*?</tr>`).FindAllStringSubmatch(page, -1) {
			id, err := strconv.Atoi(tr[1])
			require.NoError(t, err)
			ms := runRe.FindAllStringSubmatch(tr[0], -1)
			require.LessOrEqual(t, len(ms), 1, "one Run link a row")
			if len(ms) == 1 {
				links[id] = html.UnescapeString(ms[0][1])
			}
		}
		return links
	}
	require.Equal(t, map[int]string{
		a: "https://temporal.example.com/namespaces/pt-prod/workflows/" + pipeline.WorkflowID(a),
		b: "https://temporal.example.com/namespaces/pt-prod/workflows/" + pipeline.WorkflowID(b),
	}, runLinks())
	require.Equal(t, "terminate-"+strconv.Itoa(a), pipeline.WorkflowID(a))

	set := func(v string) {
		require.NoError(t, w.store.DB().Exec("UPDATE tbladdonmodules SET value = ? WHERE module = 'proxmoxterminate' AND setting = 'webui'", v).Error)
	}
	set("http://127.0.0.1:8233/namespaces/default/workflows")
	require.Equal(t, map[int]string{
		a: "http://127.0.0.1:8233/namespaces/default/workflows/" + pipeline.WorkflowID(a),
		b: "http://127.0.0.1:8233/namespaces/default/workflows/" + pipeline.WorkflowID(b),
	}, runLinks())
	for _, v := range []string{"", "javascript:alert(1)//", "temporal.example.com/workflows"} {
		set(v)
		require.Empty(t, runLinks(), "webui=%q", v)
	}
}

// The Delete Record modal in Chromium: offered on error_terminate and
// remove rows only, it names the service and warns what it does; Cancel
// changes nothing, and the confirmation deletes the row, which is gone
// from the list afterwards.
func TestDeleteRecordModalInChromium(t *testing.T) {
	w := newWHMCS(t, nil)
	failed := w.listRow(t, "failed.delete.example", "198.51.100.60", "error_terminate")
	removed := w.listRow(t, "removed.delete.example", "198.51.100.61", "remove")
	ready := w.listRow(t, "ready.delete.example", "198.51.100.62", "ready")
	creation := w.listRow(t, "creation.delete.example", "198.51.100.63", "creation")
	base := w.servePages(t, adminAllowed)

	b := newBrowser(t)
	b.open(base + "/addonmodules.php?module=proxmoxterminate")
	rows := func() []int {
		var ids []string
		b.eval(`return Array.from(document.querySelectorAll('#pt-vms tbody tr[data-service]')).map(function(e){return e.dataset.service})`, &ids)
		out := []int{}
		for _, s := range ids {
			id, err := strconv.Atoi(s)
			require.NoError(t, err)
			out = append(out, id)
		}
		return sorted(out...)
	}
	deletes := func() []int {
		var ids []string
		b.eval(`return Array.from(document.querySelectorAll('button.pt-delete')).map(function(e){return e.closest('tr').dataset.service+'/'+e.dataset.service})`, &ids)
		out := []int{}
		for _, s := range ids {
			var row, svc int
			_, err := fmt.Sscanf(s, "%d/%d", &row, &svc)
			require.NoError(t, err)
			require.Equal(t, row, svc, "the button deletes its own row")
			out = append(out, svc)
		}
		return sorted(out...)
	}
	dialog := func() (open bool, sid, service, warning string) {
		var d struct {
			Open    bool   `json:"open"`
			SID     string `json:"sid"`
			Service string `json:"service"`
			Warning string `json:"warning"`
		}
		b.eval(`var d=document.getElementById('pt-delete-dialog');return {open:d.open,sid:d.querySelector('h3 .pt-sid').textContent,
service:d.querySelector('input[name=service]').value,warning:d.querySelector('p.pt-err').textContent}`, &d)
		return d.Open, d.SID, d.Service, d.Warning
	}
	banner := func() string {
		var s string
		require.Eventually(t, func() bool {
			b.eval(`var e=document.querySelector('.pt-banner');return e?e.textContent:""`, &s)
			return s != ""
		}, 30e9, 100e6)
		return s
	}
	const warning = "Warning: this removes the row from the VM table only. It does not touch Proxmox and does not change the service in WHMCS. " +
		"Use it only when the VM is long gone from Proxmox and you want to clean up the leftover row."

	require.Equal(t, sorted(failed, removed, ready, creation), rows())
	require.Equal(t, sorted(failed, removed), deletes(), "Delete Record only on error_terminate and remove rows")
	open, _, _, _ := dialog()
	require.False(t, open)

	// Opened, the modal names the service and warns; Cancel closes it and
	// nothing is deleted.
	b.click(`button.pt-delete[data-service="` + strconv.Itoa(failed) + `"]`)
	open, sid, service, text := dialog()
	require.True(t, open)
	require.Equal(t, "#"+strconv.Itoa(failed), sid)
	require.Equal(t, strconv.Itoa(failed), service)
	require.Equal(t, warning, text)
	var visible bool
	b.eval(`var r=document.querySelector('#pt-delete-dialog p.pt-err').getBoundingClientRect();return r.width>0&&r.height>0`, &visible)
	require.True(t, visible, "the warning is shown")
	b.click(`#pt-delete-dialog button.pt-close`)
	open, _, _, _ = dialog()
	require.False(t, open)
	require.Equal(t, sorted(failed, removed, ready, creation), rows())
	_, ok, err := w.store.OwnRow(context.Background(), failed)
	require.NoError(t, err)
	require.True(t, ok, "Cancel deletes nothing")

	// Confirmed, the row of the remove service is deleted, and only it.
	b.click(`button.pt-delete[data-service="` + strconv.Itoa(removed) + `"]`)
	open, sid, service, _ = dialog()
	require.True(t, open)
	require.Equal(t, "#"+strconv.Itoa(removed), sid)
	require.Equal(t, strconv.Itoa(removed), service)
	b.click(`#pt-delete-dialog button.pt-confirm`)
	require.Equal(t, "The VM record of service #"+strconv.Itoa(removed)+" was deleted.", banner())
	require.Equal(t, sorted(failed, ready, creation), rows())
	require.Equal(t, []int{failed}, deletes())
	_, ok, err = w.store.OwnRow(context.Background(), removed)
	require.NoError(t, err)
	require.False(t, ok)

	// And the error_terminate one, from the page the POST rendered.
	b.click(`button.pt-delete[data-service="` + strconv.Itoa(failed) + `"]`)
	open, sid, _, text = dialog()
	require.True(t, open)
	require.Equal(t, "#"+strconv.Itoa(failed), sid)
	require.Equal(t, warning, text)
	b.click(`#pt-delete-dialog button.pt-confirm`)
	require.Eventually(t, func() bool {
		var s string
		b.eval(`var e=document.querySelector('.pt-banner');return e?e.textContent:""`, &s)
		return s == "The VM record of service #"+strconv.Itoa(failed)+" was deleted."
	}, 30e9, 100e6)
	require.Equal(t, sorted(ready, creation), rows())
	require.Equal(t, []int{}, deletes())
	for _, id := range []int{failed, removed} {
		_, ok, err = w.store.OwnRow(context.Background(), id)
		require.NoError(t, err)
		require.False(t, ok)
	}
	for _, id := range []int{ready, creation} {
		_, ok, err = w.store.OwnRow(context.Background(), id)
		require.NoError(t, err)
		require.True(t, ok, "the other rows are kept")
	}
}
