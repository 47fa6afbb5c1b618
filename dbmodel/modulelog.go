package dbmodel

import (
	"context"
	"encoding/json"
	"time"
)

// ModuleLogEntry is one tblmodulelog row to write: At is when the call
// happened. The caller redacts secrets.
type ModuleLogEntry struct {
	At       time.Time
	Action   string
	Request  string
	Response string
	Arr      any
}

// WriteModuleLogBatch writes entries as tblmodulelog rows, in one INSERT per
// up to 200 rows.
func (s *Store) WriteModuleLogBatch(ctx context.Context, entries []ModuleLogEntry) error {
	if len(entries) == 0 {
		return nil
	}
	rows := make([]ModuleLog, len(entries))
	for i, e := range entries {
		data, _ := json.Marshal(e.Arr)
		at := e.At
		if at.IsZero() {
			at = s.Now()
		}
		rows[i] = ModuleLog{Date: at, Module: s.cfg.ModuleName, Action: e.Action,
			Request: e.Request, Response: e.Response, ArrData: string(data)}
	}
	return s.db.WithContext(ctx).CreateInBatches(rows, 200).Error
}
