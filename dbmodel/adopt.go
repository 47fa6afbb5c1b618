package dbmodel

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
)

// AdoptableStatuses are the tblhosting.domainstatus values of services
// whose VM still exists and may be adopted.
var AdoptableStatuses = []string{"Active", "Suspended"}

// AdoptableServices lists the services adopt considers, by id.
func (s *Store) AdoptableServices(ctx context.Context) ([]Hosting, error) {
	var rows []Hosting
	err := s.db.WithContext(ctx).Where("domainstatus IN ?", AdoptableStatuses).Order("id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return rows, nil
}

// Hosting reads one tblhosting row.
func (s *Store) Hosting(ctx context.Context, serviceID int) (Hosting, error) {
	var h Hosting
	err := s.db.WithContext(ctx).Where("id = ?", serviceID).Take(&h).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return h, fmt.Errorf("service %d does not exist in tblhosting: %w", serviceID, ErrNotFound)
	}
	return h, err
}

// OwnRow reads our VM table's row of a service; ok is false when none.
func (s *Store) OwnRow(ctx context.Context, serviceID int) (row VMInfo, ok bool, err error) {
	err = s.vm(ctx).Where("service_id = ?", serviceID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return row, false, nil
	}
	return row, err == nil, err
}

// OwnRows reads every row of our VM table, by service id.
func (s *Store) OwnRows(ctx context.Context) (map[int]VMInfo, error) {
	var rows []VMInfo
	if err := s.vm(ctx).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[int]VMInfo, len(rows))
	for _, r := range rows {
		out[r.ServiceID] = r
	}
	return out, nil
}
