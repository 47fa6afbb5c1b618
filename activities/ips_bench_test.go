package activities_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
)

var ipsSink []string

// BenchmarkParseIPs covers LoadTarget's parse of tblhosting.dedicatedip,
// assignedips and the VM row's addresses.
func BenchmarkParseIPs(b *testing.B) {
	var big strings.Builder
	for i := 0; i < 64; i++ {
		fmt.Fprintf(&big, "2001:db8:130::%x\n", i+1)
		if i%8 == 0 {
			big.WriteString("10.0.0.0/24\n") // a subnet: skipped
		}
	}
	for _, c := range []struct {
		name   string
		fields []string
	}{
		{"one-v4-one-v6", []string{"192.168.130.6", "2001:db8:130::6\n", "192.168.130.6", "2001:db8:130::6"}},
		{"64-v6-with-subnets", []string{"192.168.130.6", big.String(), "192.168.130.6", ""}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ipsSink, _ = activities.ParseIPs(c.fields...)
			}
		})
	}
}
