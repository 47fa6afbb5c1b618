package invariant

import (
	"regexp"
	"sort"
)

// KindRefusedDestruction: a backup of the target was deleted in an attempt
// whose DELETE Proxmox then refused for a reason known beforehand.
const KindRefusedDestruction = "best_effort_on_refused_delete"

// predictableRefusal matches qemu-server's synchronous destroy_vm refusals
// that a deletability check can see coming: protection, and a guest that
// still runs.
var predictableRefusal = regexp.MustCompile(`protection mode enabled|is running - destroy failed`)

// checkRefusedDestruction counts best-effort destruction before a DELETE
// that Proxmox refused for protection or a running guest: the VM lives on,
// so its backups must too. It reads the simulator's requests per target, in
// time order: backup deletions since the target's previous DELETE, then a
// DELETE refused that way, make one count.
func checkRefusedDestruction(r *Report, l Ledger, sim Sim) {
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
				if q.Status >= 300 && predictableRefusal.MatchString(q.Reason) && len(pending[id]) > 0 {
					r.BestEffortOnRefusedDelete++
					r.add(KindRefusedDestruction, id, "backups %v deleted, then DELETE %s at %s refused: %s", pending[id], q.Path, q.Time.Format("15:04:05.000"), q.Reason)
				}
				delete(pending, id)
			}
		}
	}
}
