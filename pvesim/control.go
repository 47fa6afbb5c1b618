package pvesim

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// serveControl implements the simulator-only control API under /_sim/.
// It is not part of the PVE API, needs no authentication and is excluded
// from Routes() and the schema conformance check:
//
//	GET    /_sim/calls            call counters (Calls)
//	GET    /_sim/requests         every request served (Requests)
//	GET    /_sim/vms              all VMs (VMs)
//	POST   /_sim/vms              add a VM (VMSpec JSON, fixture form)
//	GET    /_sim/tasks            all tasks (Tasks)
//	GET    /_sim/backups?vmid=N   backup volids of a VM (Backups)
//	POST   /_sim/faults           add/replace faults (one Fault or a list)
//	DELETE /_sim/faults           remove all faults
//	POST   /_sim/nodes            {"name":"pve2","online":false}
func (s *Sim) serveControl(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(encodeJSON(v))
	}
	fail := func(code int, err error) { reply(code, map[string]string{"error": err.Error()}) }
	body := func(v any) error {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return err
		}
		return strictUnmarshal(b, v)
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch r.Method + " " + path {
	case "GET /_sim/calls":
		reply(200, s.Calls())
	case "GET /_sim/requests":
		reply(200, s.Requests())
	case "GET /_sim/vms":
		reply(200, s.VMs())
	case "POST /_sim/vms":
		var spec VMSpec
		if err := body(&spec); err != nil {
			fail(400, err)
			return
		}
		if err := s.AddVM(spec); err != nil {
			fail(400, err)
			return
		}
		reply(200, map[string]any{"vmid": spec.VMID})
	case "GET /_sim/tasks":
		reply(200, s.Tasks())
	case "GET /_sim/backups":
		vmid, err := strconv.Atoi(r.URL.Query().Get("vmid"))
		if err != nil {
			fail(400, err)
			return
		}
		reply(200, s.Backups(vmid))
	case "POST /_sim/faults":
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			fail(400, err)
			return
		}
		var list []Fault
		if strings.HasPrefix(strings.TrimSpace(string(b)), "[") {
			err = json.Unmarshal(b, &list)
		} else {
			var f Fault
			err = json.Unmarshal(b, &f)
			list = []Fault{f}
		}
		if err != nil {
			fail(400, err)
			return
		}
		for _, f := range list {
			s.SetFault(f)
		}
		reply(200, map[string]int{"faults": len(list)})
	case "DELETE /_sim/faults":
		s.ClearFaults()
		reply(200, map[string]int{"faults": 0})
	case "POST /_sim/nodes":
		var req struct {
			Name   string `json:"name"`
			Online bool   `json:"online"`
		}
		if err := body(&req); err != nil {
			fail(400, err)
			return
		}
		if err := s.SetNodeOnline(req.Name, req.Online); err != nil {
			fail(404, err)
			return
		}
		reply(200, req)
	default:
		reply(404, map[string]string{"error": "unknown simulator control endpoint " + r.Method + " " + r.URL.Path})
	}
}
