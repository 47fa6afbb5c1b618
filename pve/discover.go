package pve

import (
	"context"
	"encoding/json"
	"net/netip"
	"regexp"
	"sort"
	"strings"
)

// ListedVM is a KVM guest as /cluster/resources lists it, with its tags.
type ListedVM struct {
	VMID     int
	Node     string
	Name     string
	Status   string
	Tags     []string
	Template bool
}

// ListVMs lists every KVM guest of the cluster (templates included, marked).
func (c *Client) ListVMs(ctx context.Context) ([]ListedVM, error) {
	var raw []struct {
		clusterResource
		Tags     string  `json:"tags"`
		Template flexInt `json:"template"`
	}
	if err := c.get(ctx, "/cluster/resources", map[string]string{"type": "vm"}, &raw); err != nil {
		return nil, err
	}
	var out []ListedVM
	for _, r := range raw {
		if r.Type != "qemu" {
			continue
		}
		out = append(out, ListedVM{VMID: int(r.VMID), Node: r.Node, Name: r.Name, Status: r.Status, Tags: SplitTags(r.Tags), Template: r.Template != 0})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VMID < out[j].VMID })
	return out, nil
}

// SplitTags splits Proxmox's tag list (separated by ';', ',' or spaces).
func SplitTags(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' || r == ' ' })
}

// GuestConfig is what discovery reads from a VM's config: its identity,
// its description and the static addresses of its cloud-init ipconfigN.
type GuestConfig struct {
	Name        string
	SMBIOS1     string
	Tags        []string
	Description string
	Template    bool
	IPs         []netip.Addr // ipconfigN ip= and ip6= (static addresses only)
}

// UUID returns the smbios1 uuid, or "".
func (g GuestConfig) UUID() string { return VMConfig{SMBIOS1: g.SMBIOS1}.UUID() }

var ipconfigKey = regexp.MustCompile(`^ipconfig[0-9]+$`)

// GuestConfig reads the config of a VM for discovery.
func (c *Client) GuestConfig(ctx context.Context, node string, vmid int) (GuestConfig, error) {
	var raw map[string]json.RawMessage
	if err := c.get(ctx, vmPath(node, vmid)+"/config", nil, &raw); err != nil {
		return GuestConfig{}, err
	}
	str := func(k string) string {
		var s string
		if v, ok := raw[k]; ok && json.Unmarshal(v, &s) != nil {
			return strings.Trim(string(v), `"`)
		}
		return s
	}
	g := GuestConfig{Name: str("name"), SMBIOS1: str("smbios1"), Tags: SplitTags(str("tags")), Description: str("description"), Template: str("template") == "1"}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		if ipconfigKey.MatchString(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		g.IPs = append(g.IPs, ParseIPConfig(str(k))...)
	}
	return g, nil
}

// ParseIPConfig returns the static addresses of one ipconfigN value
// ("ip=192.0.2.10/24,gw=192.0.2.1,ip6=2001:db8::10/64"); dhcp and auto
// carry none.
func ParseIPConfig(v string) []netip.Addr {
	var out []netip.Addr
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || (k != "ip" && k != "ip6") {
			continue
		}
		if p, err := netip.ParsePrefix(val); err == nil {
			out = append(out, p.Addr())
		} else if a, err := netip.ParseAddr(val); err == nil {
			out = append(out, a)
		}
	}
	return out
}
