package activities_test

import (
	"strings"
	"testing"

	"github.com/proxmox-terminate/proxmox-terminate/activities"
)

var redactSink string

// BenchmarkRedact covers the redaction every live line and every module-log
// row goes through (action, request, response up to 4 KiB, arrdata), with
// the secrets a typical config holds: a Proxmox token, a DNS API key and the
// database password.
func BenchmarkRedact(b *testing.B) {
	r := activities.Redactor{"5d3b2f4e-8c1a-4f7e-9b2d-6a0c1e7f3a95", "4f1c9a0e2b7d6c3a8e5f1b2d", "s3cr3t-db-pw"}
	line := "2026-01-01 10:00:00 [service 5546] fwd-del OK [powerdns] puqcloud.com ← 5546-1776530141.puqcloud.com (A)"
	body := strings.Repeat(`{"data":{"status":"running","qmpstatus":"running","name":"5546-1776530141.puqcloud.com","pid":10817}}`, 50)[:4096]
	for _, c := range []struct{ name, s string }{
		{"line-clean", line},
		{"line-with-secret", line + " token=" + r[0]},
		{"response-4KiB-clean", body},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.s)))
			for b.Loop() {
				redactSink = r.Redact(c.s)
			}
		})
	}
}
