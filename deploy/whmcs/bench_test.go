package whmcs

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkVMManagementPage renders VM Management over 10,000 VM rows: a
// page deep in the list, a status filter and a search. server-ms/page is
// what WHMCS would spend in the addon's _output (the starter's list
// included), the target being under 200 ms.
func BenchmarkVMManagementPage(b *testing.B) {
	w := newWHMCS(b, nil)
	const rows = 10000
	db := w.store.DB()
	vmTable := w.store.Config().VMTable
	statuses := []string{"ready", "remove", "terminate", "error_terminate"}
	for start := 1; start <= rows; start += 1000 {
		var hosting, vms []string
		for i := start; i < start+1000; i++ {
			id := 3000000 + i
			hosting = append(hosting, fmt.Sprintf(`(%d, %d, 1, %d, 1, '2026-01-01', 'vm%05d.example.com', 'banktransfer', 'Monthly', '2026-12-01', 'Active', 'root', '', '', '', 0, '', 0, '2026-01-01', '198.51.%d.%d', '', '', '')`,
				id, i, productPVEWHMCS, i, i/250, i%250))
			vms = append(vms, fmt.Sprintf(`(%d, '%s', 'pve', 'pve1', %d, 'vm%05d', 'attempt failed: lock', NOW())`, id, statuses[i%4], 100+i, i))
		}
		require.NoError(b, db.Exec(`INSERT INTO tblhosting (id, userid, orderid, packageid, server, regdate, domain, paymentmethod,
			billingcycle, nextinvoicedate, domainstatus, username, password, notes, subscriptionid, promoid,
			suspendreason, overideautosuspend, overidesuspenduntil, dedicatedip, assignedips, ns1, ns2) VALUES `+strings.Join(hosting, ",")).Error)
		require.NoError(b, db.Exec(`INSERT INTO `+vmTable+` (service_id, vm_status, server, node, vmid, vm_name, last_error, updated_at) VALUES `+strings.Join(vms, ",")).Error)
	}
	for _, q := range []struct{ name, query string }{
		{"page100", "module=proxmoxterminate&p=100"},
		{"error_terminate", "module=proxmoxterminate&status=error_terminate&p=20"},
		{"search", "module=proxmoxterminate&q=vm0912"},
	} {
		b.Run(q.name, func(b *testing.B) {
			var total float64
			for b.Loop() {
				var page struct {
					HTML    string  `json:"html"`
					Seconds float64 `json:"seconds"`
				}
				w.event(b, &page, "page", fmt.Sprint(adminAllowed), q.query)
				if !strings.Contains(page.HTML, `id="pt-vms"`) {
					b.Fatalf("no VM table: %.300s", page.HTML)
				}
				total += page.Seconds
			}
			b.ReportMetric(total*1000/float64(b.N), "server-ms/page")
		})
	}
}
