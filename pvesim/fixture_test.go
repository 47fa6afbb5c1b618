package pvesim

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

func TestExampleFixturesLoadAndMatch(t *testing.T) {
	a, err := os.ReadFile("testdata/example-fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../cmd/pvesim/example-fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("cmd/pvesim/example-fixture.json differs from pvesim/testdata/example-fixture.json")
	}
	f, err := LoadFixtureFile("testdata/example-fixture.json")
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{})
	if err := s.LoadFixture(f); err != nil {
		t.Fatal(err)
	}
	if len(s.VMs()) != 8 || s.Release() != "8.2" {
		t.Fatalf("vms %d release %s", len(s.VMs()), s.Release())
	}
	v, ok := s.VM("pve1", 100)
	if !ok || v.ShutdownDelay != 2*time.Second || v.Tags[1] != "service-4242" {
		t.Fatalf("vm 100 %+v", v)
	}
	if _, ok := s.VM("pve2", 100); ok {
		t.Fatal("VM found on wrong node")
	}
	if got := s.Backups(200); len(got) != 1 || got[0] != "pbs:backup/vm/200/2024-05-04T02:00:00Z" {
		t.Fatalf("backups 200 %v", got)
	}
}

func TestFixtureRoundTripAndErrors(t *testing.T) {
	spec := VMSpec{Node: "pve1", VMID: 100, ShutdownDelay: 150 * time.Millisecond, IgnoreACPI: true, Tags: []string{"a"}}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"shutdown_delay":"150ms"`) {
		t.Fatalf("%s", b)
	}
	var back VMSpec
	if err := json.Unmarshal(b, &back); err != nil || back.ShutdownDelay != spec.ShutdownDelay || !back.IgnoreACPI {
		t.Fatalf("%v %+v", err, back)
	}
	bad := []string{
		`{"node":"pve1","vmid":100,"shutdown_delay":2}`,
		`{"node":"pve1","vmid":100,"shutdowndelay":"2s"}`,
	}
	for _, js := range bad {
		var v VMSpec
		if err := json.Unmarshal([]byte(js), &v); err == nil {
			t.Errorf("accepted %s", js)
		}
	}
	var fl Fault
	if err := json.Unmarshal([]byte(`{"kind":"explode"}`), &fl); err == nil {
		t.Error("unknown fault kind accepted")
	}
	if err := json.Unmarshal([]byte(`{"kind":"latency","delay":"5ms","route":"/version","count":2}`), &fl); err != nil || fl.Delay != 5*time.Millisecond || fl.Count != 2 {
		t.Errorf("%v %+v", err, fl)
	}
	s := New(Options{})
	base := Fixture{Nodes: []FixtureNode{{Name: "pve1"}}, Storages: []FixtureStorage{{ID: "local", Type: "dir", Content: []string{"backup"}},
		{ID: "nfs", Type: "nfs", Content: []string{"backup"}, Shared: true}}}
	cases := map[string]func(*Fixture){
		"no node for local backup": func(f *Fixture) {
			f.Backups = []FixtureBackup{{Storage: "local", VMID: 100, CTime: Timestamp(time.Now())}}
		},
		"bad volid": func(f *Fixture) {
			f.Backups = []FixtureBackup{{Storage: "nfs", VMID: 100, Volid: "nfs:backup/foo.tar"}}
		},
		"volid of other vm": func(f *Fixture) {
			f.Backups = []FixtureBackup{{Storage: "nfs", VMID: 101, Volid: "nfs:backup/vzdump-qemu-100-2024_05_01-02_00_00.vma.zst"}}
		},
		"unknown node": func(f *Fixture) { f.VMs = []VMSpec{{Node: "pve9", VMID: 100}} },
		"dup vmid":     func(f *Fixture) { f.VMs = []VMSpec{{Node: "pve1", VMID: 100}, {Node: "pve1", VMID: 100}} },
		"disk on unknown storage": func(f *Fixture) {
			f.VMs = []VMSpec{{Node: "pve1", VMID: 100, Disks: []string{"ceph:vm-100-disk-0"}}}
		},
	}
	for name, mod := range cases {
		f := base
		mod(&f)
		if err := s.LoadFixture(f); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	f := base
	f.Backups = []FixtureBackup{{Storage: "nfs", VMID: 100, Volid: "nfs:backup/vzdump-qemu-100-2024_05_01-02_00_00.vma.zst"}}
	if err := s.LoadFixture(f); err != nil {
		t.Fatal(err)
	}
}
