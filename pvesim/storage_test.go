package pvesim

import (
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
)

// fixtureSim starts a simulator loaded with testdata/example-fixture.json,
// sped up for tests.
func fixtureSim(t *testing.T) (*Sim, string) {
	t.Helper()
	f, err := LoadFixtureFile("testdata/example-fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	f.Second = Duration(time.Millisecond)
	f.LockWait = Duration(40 * time.Millisecond)
	f.DestroyDuration = Duration(time.Millisecond)
	f.ImgDelDuration = Duration(time.Millisecond)
	f.Faults = nil
	s, base := startSim(t, fastOpts())
	if err := s.LoadFixture(f); err != nil {
		t.Fatal(err)
	}
	return s, base
}

func volids(list []map[string]any) []string {
	var out []string
	for _, e := range list {
		out = append(out, e["volid"].(string))
	}
	sort.Strings(out)
	return out
}

func TestStorageListPerNode(t *testing.T) {
	_, base := fixtureSim(t)
	ids := func(node string, params url.Values) string {
		var out []string
		for _, e := range call(t, base, "GET", "/nodes/"+node+"/storage", params).dataList(t) {
			out = append(out, e["storage"].(string))
		}
		return strings.Join(out, ",")
	}
	if got := ids("pve1", nil); got != "local,local-lvm,nfs-backup,pbs" {
		t.Fatalf("pve1 storages %s", got)
	}
	if got := ids("pve1", url.Values{"content": {"backup"}}); got != "local,nfs-backup,pbs" {
		t.Fatalf("backup storages %s", got)
	}
	if got := ids("pve1", url.Values{"target": {"pve2"}}); got != "nfs-backup,pbs" {
		t.Fatalf("shared with pve2: %s", got)
	}
	list := call(t, base, "GET", "/nodes/pve1/storage", url.Values{"storage": {"nfs-backup"}}).dataList(t)
	e := list[0]
	if e["type"] != "nfs" || num(e["shared"]) != 1 || num(e["active"]) != 1 || num(e["enabled"]) != 1 || e["content"] != "backup" {
		t.Fatalf("storage entry %v", e)
	}
	for _, r := range []apiResult{
		call(t, base, "GET", "/nodes/pve1/storage/nope/status", nil),
		call(t, base, "GET", "/nodes/pve1/storage", url.Values{"storage": {"nope"}}),
		call(t, base, "GET", "/nodes/pve1/storage", url.Values{"storage": {"local-lvm"}, "content": {"backup"}}),
	} {
		wantStatus(t, r, "400 Parameter verification failed.")
		if r.Body["errors"].(map[string]any)["storage"] != "No such storage." {
			t.Fatalf("%s", r.Raw)
		}
	}
}

func TestSharedStorageVisibleFromEveryNode(t *testing.T) {
	s, base := fixtureSim(t)
	on1 := volids(call(t, base, "GET", "/nodes/pve1/storage/nfs-backup/content", nil).dataList(t))
	on2 := volids(call(t, base, "GET", "/nodes/pve2/storage/nfs-backup/content", nil).dataList(t))
	if strings.Join(on1, " ") != strings.Join(on2, " ") || len(on1) != 2 {
		t.Fatalf("nfs content differs: %v vs %v", on1, on2)
	}
	// "local" is a different directory on every node.
	if l := call(t, base, "GET", "/nodes/pve2/storage/local/content", nil).dataList(t); len(l) != 0 {
		t.Fatalf("pve2 local content %v", l)
	}
	want := []string{
		"local:backup/vzdump-qemu-100-2024_05_01-02_00_00.vma.zst",
		"nfs-backup:backup/vzdump-qemu-100-2024_05_02-02_00_00.vma.zst",
		"pbs:backup/vm/100/2024-05-03T02:00:00Z",
	}
	if got := s.Backups(100); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("Backups(100) = %v", got)
	}
	// Not visible on a node outside the storage's node list.
	wantStatus(t, call(t, base, "GET", "/nodes/pve2/storage/nope/content", nil), "500 storage 'nope' does not exist")
}

func TestBackupContentFields(t *testing.T) {
	_, base := fixtureSim(t)
	list := call(t, base, "GET", "/nodes/pve1/storage/nfs-backup/content", url.Values{"vmid": {"101"}, "content": {"backup"}}).dataList(t)
	if len(list) != 1 {
		t.Fatalf("%v", list)
	}
	e := list[0]
	if e["volid"] != "nfs-backup:backup/vzdump-qemu-101-2024_05_02-02_10_00.vma.zst" || e["content"] != "backup" || e["format"] != "vma.zst" ||
		num(e["vmid"]) != 101 || num(e["protected"]) != 1 || num(e["ctime"]) != int(time.Date(2024, 5, 2, 2, 10, 0, 0, time.UTC).Unix()) ||
		e["subtype"] != "qemu" || num(e["size"]) == 0 {
		t.Fatalf("backup entry %v", e)
	}
	pbs := call(t, base, "GET", "/nodes/pve2/storage/pbs/content", nil).dataList(t)
	if len(pbs) != 2 || pbs[0]["format"] != "pbs-vm" || pbs[1]["volid"] != "pbs:backup/vm/200/2024-05-04T02:00:00Z" {
		t.Fatalf("pbs content %v", pbs)
	}
	info := call(t, base, "GET", "/nodes/pve1/storage/nfs-backup/content/nfs-backup:backup/vzdump-qemu-100-2024_05_02-02_00_00.vma.zst", nil).dataMap(t)
	if info["notes"] != "weekly" || num(info["protected"]) != 0 || info["format"] != "vma.zst" {
		t.Fatalf("info %v", info)
	}
}

func TestDeleteBackups(t *testing.T) {
	s, base := fixtureSim(t)
	vol := "nfs-backup:backup/vzdump-qemu-100-2024_05_02-02_00_00.vma.zst"
	upid := call(t, base, "DELETE", "/nodes/pve2/storage/nfs-backup/content/"+vol, nil).str(t)
	if !strings.Contains(upid, ":imgdel:100@nfs-backup:") {
		t.Fatalf("upid %s", upid)
	}
	wantExit(t, waitTask(t, base, "pve2", upid), "OK")
	if l := volids(call(t, base, "GET", "/nodes/pve1/storage/nfs-backup/content", nil).dataList(t)); len(l) != 1 {
		t.Fatalf("deleted backup still visible from pve1: %v", l)
	}

	prot := "nfs-backup:backup/vzdump-qemu-101-2024_05_02-02_10_00.vma.zst"
	upid = call(t, base, "DELETE", "/nodes/pve1/storage/nfs-backup/content/"+url.PathEscape(prot), nil).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "cannot remove protected volume 'backup/vzdump-qemu-101-2024_05_02-02_10_00.vma.zst' on 'nfs-backup'")
	if len(s.Backups(101)) != 1 {
		t.Fatal("protected backup removed")
	}
	// With delay the call waits: null on success, the task error as a 500.
	r := call(t, base, "DELETE", "/nodes/pve1/storage/nfs-backup/content/"+prot, url.Values{"delay": {"5"}})
	wantStatus(t, r, "500 cannot remove protected volume 'backup/vzdump-qemu-101-2024_05_02-02_10_00.vma.zst' on 'nfs-backup'")
	r = call(t, base, "DELETE", "/nodes/pve1/storage/pbs/content/pbs:backup/vm/100/2024-05-03T02:00:00Z", url.Values{"delay": {"5"}})
	if r.Code != 200 || r.Body["data"] != nil || len(r.Raw) == 0 {
		t.Fatalf("delay delete: %s %s", r.Status, r.Raw)
	}
	// Bare volume names take the storage from the URL; mismatches are refused.
	upid = call(t, base, "DELETE", "/nodes/pve1/storage/local/content/backup/vzdump-qemu-100-2024_05_01-02_00_00.vma.zst", nil).str(t)
	wantExit(t, waitTask(t, base, "pve1", upid), "OK")
	r = call(t, base, "DELETE", "/nodes/pve1/storage/local/content/nfs-backup:backup/vzdump-qemu-101-2024_05_02-02_10_00.vma.zst", nil)
	wantStatus(t, r, "400 Parameter verification failed.")
	if r.Body["errors"].(map[string]any)["volume"] != "storage ID mismatch (nfs-backup != local)\n" {
		t.Fatalf("%s", r.Raw)
	}
	wantStatus(t, call(t, base, "DELETE", "/nodes/pve1/storage/local/content/local:backup/garbage", nil), "500 unable to parse directory volume name 'backup/garbage'")
	if got := s.Backups(100); len(got) != 0 {
		t.Fatalf("backups left %v", got)
	}
}

func TestContentOnUnavailableStorage(t *testing.T) {
	s, base := startSim(t, fastOpts())
	if err := s.LoadFixture(Fixture{Nodes: []FixtureNode{{Name: "pve1"}, {Name: "pve2"}},
		Storages: []FixtureStorage{{ID: "nfs", Type: "nfs", Content: []string{"backup"}, Shared: true, Nodes: []string{"pve1"}}}}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, call(t, base, "GET", "/nodes/pve2/storage/nfs/content", nil), "500 storage 'nfs' is not available on node 'pve2'")
	if l := call(t, base, "GET", "/nodes/pve2/storage", nil).dataList(t); len(l) != 0 {
		t.Fatalf("pve2 storages %v", l)
	}
}
