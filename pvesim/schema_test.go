package pvesim

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"net/url"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestConformanceServedRoutesExistInSchema(t *testing.T) {
	sch := mustSchema()
	routes := New(Options{}).Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, r := range routes {
		var sr *schemaRoute
		for _, x := range sch.Routes {
			if x.Path == r.Path {
				sr = x
			}
		}
		if sr == nil || sr.Methods[r.Method] == nil {
			t.Errorf("served route %s is not in the schema subset", r)
		}
		if strings.HasPrefix(r.Path, "/_sim") {
			t.Errorf("control route %s listed", r)
		}
	}
}

// handlerParamUses parses handlers.go and returns, per handler function,
// the parameters it reads: name -> accessor (str, flag, intp, has, rootOnly).
func handlerParamUses(t *testing.T) map[string]map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "handlers.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "h") {
			continue
		}
		uses := map[string]string{}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "c" {
				return true
			}
			switch sel.Sel.Name {
			case "str", "flag", "intp", "has", "rootOnly":
				for _, a := range call.Args {
					if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						name, _ := strconv.Unquote(lit.Value)
						uses[name] = sel.Sel.Name
					}
				}
			}
			return true
		})
		out[fn.Name.Name] = uses
	}
	return out
}

func TestConformanceHandlerParamsDeclaredInSchema(t *testing.T) {
	sch := mustSchema()
	uses := handlerParamUses(t)
	checked := 0
	for rt, h := range handlers {
		name := runtime.FuncForPC(reflect.ValueOf(h).Pointer()).Name()
		name = name[strings.LastIndex(name, ".")+1:]
		u, ok := uses[name]
		if !ok {
			t.Fatalf("handler %s of %s not found in handlers.go", name, rt)
		}
		var ms *methodSchema
		for _, x := range sch.Routes {
			if x.Path == rt.Path {
				ms = x.Methods[rt.Method]
			}
		}
		if ms == nil {
			t.Fatalf("%s not in schema", rt)
		}
		var ignored []string
		for p := range ms.Props {
			if _, used := u[p]; !used && !strings.Contains(rt.Path, "{"+p+"}") {
				ignored = append(ignored, p)
			}
		}
		sort.Strings(ignored)
		if len(ignored) > 0 {
			t.Logf("%s accepts but does not act on: %s", rt, strings.Join(ignored, ", "))
		}
		for p, acc := range u {
			ps := ms.propFor(p)
			if ps == nil {
				t.Errorf("%s (%s) reads parameter %q not declared in the schema", rt, name, p)
				continue
			}
			checked++
			want := map[string]string{"flag": "boolean", "intp": "integer"}[acc]
			if acc == "rootOnly" && ps.Type != "boolean" && ps.Type != "string" {
				t.Errorf("%s: root-only parameter %q has type %s", rt, p, ps.Type)
			}
			if want != "" && ps.Type != want {
				t.Errorf("%s reads %q as %s but the schema type is %s", rt, p, want, ps.Type)
			}
		}
	}
	if checked < 15 {
		t.Fatalf("only %d parameter uses checked", checked)
	}
}

func TestReleaseTableRefersToSchema(t *testing.T) {
	sch := mustSchema()
	for k, since := range paramAddedIn {
		i := strings.LastIndex(k, " ")
		route, param := k[:i], k[i+1:]
		found := false
		for _, sr := range sch.Routes {
			for _, ms := range sr.Methods {
				if ms.Route.String() == route && ms.Props[param] != nil {
					found = true
					if ms.forRelease(since).Props[param] == nil || ms.forRelease("7.4").Props[param] != nil {
						t.Errorf("%s: gating broken", k)
					}
				}
			}
		}
		if !found {
			t.Errorf("release table entry %q not in schema", k)
		}
	}
}

func TestCheckRequest(t *testing.T) {
	ok := []struct {
		method, path string
		params       url.Values
	}{
		{"GET", "/api2/json/cluster/resources?type=vm", nil},
		{"GET", "/nodes/pve1/qemu/100/status/current", nil},
		{"POST", "/nodes/pve1/qemu/100/status/stop", url.Values{"overrule-shutdown": {"1"}, "timeout": {"30"}}},
		{"DELETE", "/nodes/pve1/qemu/100", url.Values{"purge": {"1"}, "destroy-unreferenced-disks": {"0"}}},
		{"DELETE", "/nodes/pve1/storage/nfs/content/nfs:backup/vzdump-qemu-100-2024_05_02-02_00_00.vma.zst", url.Values{"delay": {"5"}}},
		{"GET", "/nodes/pve1/tasks/UPID:pve1:00002A48:0123456E:66310A2B:qmstop:100:root@pam!terminate:/status", nil},
		{"PUT", "/nodes/pve1/qemu/100/config", url.Values{"net1": {"virtio,bridge=vmbr0"}, "delete": {"protection"}}},
	}
	for _, c := range ok {
		if err := CheckRequest(c.method, c.path, c.params); err != nil {
			t.Errorf("%s %s %v: %v", c.method, c.path, c.params, err)
		}
	}
	bad := []struct {
		method, path string
		params       url.Values
		want         string
	}{
		{"GET", "/nodes/pve1/foo", nil, "501 Method 'GET /nodes/pve1/foo' not implemented"},
		{"POST", "/nodes/pve1/qemu/100/status/current", nil, "501"},
		{"POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"forceStop": {"true"}}, "forceStop: type check ('boolean') failed - got 'true'"},
		{"POST", "/nodes/pve1/qemu/100/status/shutdown", url.Values{"force": {"1"}}, "force: property is not defined in schema"},
		{"GET", "/cluster/resources", url.Values{"type": {"lxc"}}, "value 'lxc' does not have a value in the enumeration"},
		{"DELETE", "/nodes/pve1/storage/local/content/x", url.Values{"delay": {"60"}}, "delay: value must have a maximum value of 30"},
		{"GET", "/nodes/pve1/qemu/100/status/current?vmid=101", nil, "duplicate parameter"},
		{"PUT", "/nodes/pve1/qemu/100/config", url.Values{"netx": {"1"}}, "netx: property is not defined"},
	}
	for _, c := range bad {
		err := CheckRequest(c.method, c.path, c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s %v: got %v, want %q", c.method, c.path, c.params, err, c.want)
		}
	}
	if err := CheckRequestForRelease("7.4", "POST", "/nodes/pve1/qemu/100/status/stop", url.Values{"overrule-shutdown": {"1"}}); err == nil {
		t.Error("overrule-shutdown accepted for 7.4")
	}
}

// typeOK checks a JSON value against a schema type as PVE emits it
// (booleans are 0/1 integers).
func typeOK(typ string, v any) bool {
	switch typ {
	case "", "any":
		return true
	case "string":
		_, ok := v.(string)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "number":
		_, ok := v.(float64)
		return ok
	case "boolean":
		f, ok := v.(float64)
		return ok && (f == 0 || f == 1)
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	}
	return false
}

// realButUndeclared lists keys real PVE returns although the schema's
// "returns" does not declare them.
var realButUndeclared = map[string]map[string]bool{
	// $convert_token_task in PVE/API2/Tasks.pm adds tokenid.
	"GET /nodes/{node}/tasks/{upid}/status": {"tokenid": true},
	"GET /nodes/{node}/tasks":               {"tokenid": true},
	// Plugin::list_volumes sets content, get_subdir_files/PBS set subtype.
	"GET /nodes/{node}/storage/{storage}/content": {"content": true, "subtype": true},
	// extract_node_stats (shared with /cluster/resources) adds these.
	"GET /nodes": {"id": true, "type": true, "disk": true, "maxdisk": true},
	// Node status has more than the documented keys.
	"GET /nodes/{node}/status": {"uptime": true, "wait": true, "idle": true, "swap": true, "ksm": true, "kversion": true},
	// vmstatus always reports disk (0 for VMs).
	"GET /nodes/{node}/qemu":                       {"disk": true},
	"GET /nodes/{node}/qemu/{vmid}/status/current": {"disk": true},
}

func TestConformanceResponsesMatchReturnsSchema(t *testing.T) {
	_, base := fixtureSim(t)
	upid := call(t, base, "POST", "/nodes/pve1/qemu/100/status/shutdown", nil).str(t)
	waitTask(t, base, "pve1", upid)
	paths := map[Route]string{
		{"GET", "/version"}:                                         "/version",
		{"GET", "/cluster/resources"}:                               "/cluster/resources",
		{"GET", "/cluster/status"}:                                  "/cluster/status",
		{"GET", "/nodes"}:                                           "/nodes",
		{"GET", "/nodes/{node}/status"}:                             "/nodes/pve1/status",
		{"GET", "/nodes/{node}/qemu"}:                               "/nodes/pve2/qemu?full=1",
		{"GET", "/nodes/{node}/qemu/{vmid}"}:                        "/nodes/pve1/qemu/101",
		{"GET", "/nodes/{node}/qemu/{vmid}/config"}:                 "/nodes/pve1/qemu/100/config",
		{"GET", "/nodes/{node}/qemu/{vmid}/status"}:                 "/nodes/pve1/qemu/101/status",
		{"GET", "/nodes/{node}/qemu/{vmid}/status/current"}:         "/nodes/pve1/qemu/101/status/current",
		{"GET", "/nodes/{node}/storage"}:                            "/nodes/pve1/storage?format=1",
		{"GET", "/nodes/{node}/storage/{storage}/status"}:           "/nodes/pve1/storage/nfs-backup/status",
		{"GET", "/nodes/{node}/storage/{storage}/content"}:          "/nodes/pve1/storage/local/content",
		{"GET", "/nodes/{node}/storage/{storage}/content/{volume}"}: "/nodes/pve2/storage/nfs-backup/content/nfs-backup:backup/vzdump-qemu-101-2024_05_02-02_10_00.vma.zst",
		{"GET", "/nodes/{node}/tasks"}:                              "/nodes/pve1/tasks",
		{"GET", "/nodes/{node}/tasks/{upid}"}:                       "/nodes/pve1/tasks/" + upid,
		{"GET", "/nodes/{node}/tasks/{upid}/status"}:                "/nodes/pve1/tasks/" + upid + "/status",
		{"GET", "/nodes/{node}/tasks/{upid}/log"}:                   "/nodes/pve1/tasks/" + upid + "/log",
	}
	for rt := range handlers {
		if rt.Method == "GET" {
			if _, ok := paths[rt]; !ok {
				t.Errorf("no response check for %s", rt)
			}
		}
	}
	sch := mustSchema()
	for rt, p := range paths {
		var returns map[string]any
		for _, sr := range sch.Routes {
			if sr.Path == rt.Path && sr.Methods[rt.Method] != nil {
				_ = json.Unmarshal(sr.Methods[rt.Method].Returns, &returns)
			}
		}
		path, q, _ := strings.Cut(p, "?")
		params, _ := url.ParseQuery(q)
		r := call(t, base, rt.Method, path, params)
		if r.Code != 200 {
			t.Errorf("%s: %s %s", rt, r.Status, r.Raw)
			continue
		}
		for _, e := range checkReturns(rt.String(), returns, r.data()) {
			t.Error(e)
		}
	}
	// The checker itself catches undeclared keys and wrong types.
	ver := map[string]any{"type": "object", "properties": map[string]any{"release": map[string]any{"type": "string"}}}
	if errs := checkReturns("GET /version", ver, map[string]any{"release": 8.2, "extra": "x"}); len(errs) != 2 {
		t.Fatalf("checker found %v", errs)
	}
}

func checkReturns(where string, returns map[string]any, data any) []string {
	var errs []string
	typ, _ := returns["type"].(string)
	if !typeOK(typ, data) {
		return []string{fmt.Sprintf("%s: data %v is not of type %s", where, data, typ)}
	}
	switch typ {
	case "array":
		items, _ := returns["items"].(map[string]any)
		for _, it := range data.([]any) {
			errs = append(errs, checkReturns(where, items, it)...)
		}
	case "object":
		props, _ := returns["properties"].(map[string]any)
		if len(props) == 0 {
			return nil
		}
		for k, v := range data.(map[string]any) {
			ps, ok := props[k].(map[string]any)
			if !ok {
				for pk, pv := range props {
					if b, ok2 := strings.CutSuffix(pk, "[n]"); ok2 && strings.HasPrefix(k, b) {
						if _, err := strconv.Atoi(k[len(b):]); err == nil {
							ps, ok = pv.(map[string]any), true
						}
					}
				}
			}
			if !ok {
				if !realButUndeclared[where][k] {
					errs = append(errs, fmt.Sprintf("%s: key %q not declared in returns schema", where, k))
				}
				continue
			}
			pt, _ := ps["type"].(string)
			if !typeOK(pt, v) {
				errs = append(errs, fmt.Sprintf("%s: %s=%v is not %s", where, k, fmt.Sprint(v), pt))
			}
		}
	}
	return errs
}

func TestSchemaSubsetProvenance(t *testing.T) {
	sch := mustSchema()
	if sch.Source != "apidata.json" || len(sch.SourceSHA256) != 64 {
		t.Fatalf("subset provenance missing: %q %q", sch.Source, sch.SourceSHA256)
	}
}
