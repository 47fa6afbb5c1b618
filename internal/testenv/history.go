package testenv

import (
	"context"
	"fmt"
	"os"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// WriteHistory writes a run's history (runID "" for the latest run) as
// JSON for the workflows' replay test. It never replaces a file unless
// replace is set: a history recorded on released code must replay on every
// later version, so a new version's histories get new names.
func WriteHistory(ctx context.Context, c client.Client, workflowID, runID, path string, replace bool) error {
	if _, err := os.Stat(path); err == nil && !replace {
		return fmt.Errorf("%s exists: recorded histories are never replaced; record under a new name", path)
	}
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
