package dbmodel

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// RestoredText is the activity-log entry of a restore during the undo window.
const RestoredText = "Service restored during the undo window: VM started again, termination cancelled"

// Restore ends an undo window with a restore, in one transaction: the VM
// row goes from 'grace' back to status (what it was before the click), and
// one activity-log entry. It is idempotent: a row no longer in 'grace' (an
// earlier try committed) changes nothing and reports done=false.
func (s *Store) Restore(ctx context.Context, serviceID, userID int, status string) (done bool, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Table(s.cfg.VMTable).Where("service_id = ? AND vm_status = ?", serviceID, StatusGrace).
			Updates(map[string]any{"vm_status": status, "updated_at": s.Now()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var n int64
			if err := tx.Table(s.cfg.VMTable).Where("service_id = ?", serviceID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("service %d has no VM row: %w", serviceID, ErrNotFound)
			}
			return nil
		}
		if err := s.mirrorStatus(tx, serviceID, status); err != nil {
			return err
		}
		if err := tx.Create(&ActivityLog{Date: s.Now(), Description: RestoredText, User: "System", UserID: userID}).Error; err != nil {
			return err
		}
		done = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("restore service %d: %w", serviceID, err)
	}
	return done, nil
}
