package invariant

import (
	"regexp"
	"sort"

	"github.com/proxmox-terminate/proxmox-terminate/pvesim"
)

// KindRefusedDestruction: a backup of the target was deleted in an attempt
// whose DELETE Proxmox then refused for a reason known beforehand, or its
// DNS records were deleted although the VM lives on and Proxmox refused
// every DELETE of it that way.
const KindRefusedDestruction = "best_effort_on_refused_delete"

// predictableRefusal matches qemu-server's synchronous destroy_vm refusals
// that a deletability check can see coming: protection, and a guest that
// still runs; and the check's own refusal of a node that stays unreachable
// (a run's reason, never a DELETE's).
var predictableRefusal = regexp.MustCompile(`protection mode enabled|is running - destroy failed|does not answer: `)

// checkRefusedDestruction counts best-effort destruction before a DELETE
// that Proxmox refused for protection or a running guest: the VM lives on,
// so its backups and DNS records must too. It reads the simulator's
// requests per target, in time order: backup deletions since the target's
// previous DELETE, then a DELETE refused that way, make one count. The DNS
// provider's requests are not recorded, so DNS is judged at the end: a
// target that still exists, for which no DELETE was ever sent but refused
// that way, and that waits for such a refusal (its row's last error), keeps
// every DNS record (any other DELETE, accepted or failed, came after a DNS
// phase that was allowed to run).
func checkRefusedDestruction(r *Report, l Ledger, sim Sim, rows map[int]DBRow, present map[vmKey]pvesim.VMState, dnsLeft map[int]int) {
	owner := map[string]int{}    // backup volid → service id
	targets := map[vmKey][]int{} // place → service ids that had it
	for _, s := range l.Services {
		for _, v := range s.Target.Backups {
			owner[v] = s.ID
		}
		k := vmKey{s.Target.Node, s.Target.VMID}
		targets[k] = append(targets[k], s.ID)
	}
	reqs := make([]int, len(sim.Requests))
	for i := range reqs {
		reqs[i] = i
	}
	sort.SliceStable(reqs, func(i, j int) bool { return sim.Requests[reqs[i]].Time.Before(sim.Requests[reqs[j]].Time) })
	pending := map[int][]string{} // service id → backups deleted since its last DELETE
	sent := map[int]bool{}        // service id → a DELETE not refused for protection or a running guest
	for _, i := range reqs {
		q := sim.Requests[i]
		node, vmid, what, ok := action(q)
		if !ok {
			continue
		}
		switch what {
		case "DELETE volume":
			vol := volumeOf(q.Path)
			if id, hit := owner[vol]; hit && q.Status < 300 {
				pending[id] = append(pending[id], vol)
			}
		case "DELETE " + RouteVM:
			for _, id := range targets[vmKey{node, vmid}] {
				if q.Status < 300 || !predictableRefusal.MatchString(q.Reason) {
					sent[id] = true
				}
				if q.Status >= 300 && predictableRefusal.MatchString(q.Reason) && len(pending[id]) > 0 {
					r.BestEffortOnRefusedDelete++
					r.add(KindRefusedDestruction, id, "backups %v deleted, then DELETE %s at %s refused: %s", pending[id], q.Path, q.Time.Format("15:04:05.000"), q.Reason)
				}
				delete(pending, id)
			}
		}
	}
	if dnsLeft == nil {
		return
	}
	for _, s := range l.Services {
		// Only a run that waits for such a refusal: one that failed
		// otherwise (a node that stayed unreachable, say) had a DNS phase
		// the deletability check could not forbid.
		if s.DNSRecords == 0 || sent[s.ID] || !exists(present, s.Target) || !predictableRefusal.MatchString(rows[s.ID].LastError) {
			continue
		}
		if left := dnsLeft[s.ID]; left < s.DNSRecords {
			r.BestEffortOnRefusedDelete++
			r.add(KindRefusedDestruction, s.ID, "%d of its %d DNS records deleted, but the VM lives on and Proxmox refused every DELETE of it (protection or a running guest) or none was sent", s.DNSRecords-left, s.DNSRecords)
		}
	}
}
