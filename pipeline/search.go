package pipeline

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"go.temporal.io/sdk/temporal"
)

// Search attributes on every run, so the Web UI can list, for instance,
// everything waiting for an admin: VmStatus="error_terminate".
var (
	SAServiceID = temporal.NewSearchAttributeKeyInt64("ServiceId")
	SAVmID      = temporal.NewSearchAttributeKeyInt64("VmId")
	SANode      = temporal.NewSearchAttributeKeyKeyword("ProxmoxNode")
	SAVmStatus  = temporal.NewSearchAttributeKeyKeyword("VmStatus")
	SAPhase     = temporal.NewSearchAttributeKeyKeyword("TerminatePhase")
	// SAGraceUntil is the end of the undo window while a run waits in
	// PhaseGrace (unset otherwise): TerminatePhase="grace" AND GraceUntil < ...
	SAGraceUntil = temporal.NewSearchAttributeKeyTime("GraceUntil")
)

// SearchAttribute is a name and its CLI type.
type SearchAttribute struct{ Name, Type string }

// SearchAttributes lists what the namespace must define.
var SearchAttributes = []SearchAttribute{
	{"ServiceId", "Int"}, {"VmId", "Int"}, {"ProxmoxNode", "Keyword"}, {"VmStatus", "Keyword"}, {"TerminatePhase", "Keyword"},
	{"GraceUntil", "Datetime"},
}

// ServerSettings are the dynamic-config values the workers are measured
// with: eager activity dispatch (off by default on a self-hosted server)
// hands an activity the workflow task schedules straight back to the
// worker that completes the task, skipping the trip through matching.
var ServerSettings = map[string]string{"system.enableActivityEagerExecution": "true"}

// DevServerArgs are the temporal CLI flags that register the search
// attributes on a dev server and apply ServerSettings.
func DevServerArgs() []string {
	var args []string
	for _, sa := range SearchAttributes {
		args = append(args, "--search-attribute", sa.Name+"="+sa.Type)
	}
	for _, k := range slices.Sorted(maps.Keys(ServerSettings)) {
		args = append(args, "--dynamic-config-value", k+"="+ServerSettings[k])
	}
	return args
}

// CreateCommands are the commands an operator runs to register them.
func CreateCommands(namespace string) string {
	var b strings.Builder
	for _, sa := range SearchAttributes {
		fmt.Fprintf(&b, "temporal operator search-attribute create --namespace %s --name %s --type %s\n", namespace, sa.Name, sa.Type)
	}
	return b.String()
}
