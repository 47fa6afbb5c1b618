package dbmodel

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// ListFilter selects a page of our VM table (starter list, the WHMCS VM
// Management page).
type ListFilter struct {
	VMStatus string // only rows in this vm_status; "" for all
	Search   string // a service id, or part of the domain, an IP or the VM name; "" for all
	Limit    int    // rows at most; 0 for all
	Offset   int    // rows skipped
}

// ListedVM is one row of a page: our VM row and the service's domain.
type ListedVM struct {
	VMInfo
	Domain string `gorm:"column:domain"`
}

// ListPage returns the rows the filter selects, by vm_status then service
// id, and how many rows match in all. It reads tblhosting (never writes).
func (s *Store) ListPage(ctx context.Context, f ListFilter) ([]ListedVM, int64, error) {
	if f.Limit < 0 || f.Offset < 0 || (f.Offset > 0 && f.Limit == 0) {
		return nil, 0, fmt.Errorf("list: limit %d and offset %d: both must be positive, and an offset needs a limit", f.Limit, f.Offset)
	}
	vm := s.cfg.VMTable
	q := s.db.WithContext(ctx).Table(vm + " AS v").Joins("LEFT JOIN tblhosting AS h ON h.id = v.service_id")
	if f.VMStatus != "" {
		q = q.Where("v.vm_status = ?", f.VMStatus)
	}
	if term := strings.TrimSpace(f.Search); term != "" {
		like := "%" + escapeLike(term) + "%"
		cond := "h.domain LIKE ? OR h.dedicatedip LIKE ? OR h.assignedips LIKE ? OR v.ipv4 LIKE ? OR v.ipv6 LIKE ? OR v.vm_name LIKE ?"
		args := []any{like, like, like, like, like, like}
		if id, err := strconv.Atoi(term); err == nil && id > 0 {
			cond = "v.service_id = ? OR " + cond
			args = append([]any{id}, args...)
		}
		q = q.Where("("+cond+")", args...)
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count %s: %w", vm, err)
	}
	page := q.Session(&gorm.Session{}).Select("v.*, h.domain AS domain").Order("v.vm_status, v.service_id")
	if f.Limit > 0 {
		page = page.Limit(f.Limit).Offset(f.Offset)
	}
	var rows []ListedVM
	if err := page.Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", vm, err)
	}
	return rows, total, nil
}

// escapeLike makes s match itself in a LIKE pattern (MariaDB's default
// escape character is the backslash).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
