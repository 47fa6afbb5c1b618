package activities

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/proxmox-terminate/proxmox-terminate/dbmodel"
	"github.com/proxmox-terminate/proxmox-terminate/pipeline"
)

// dbErr is how a database activity fails. A row that is gone
// (dbmodel.ErrNotFound: deleted by hand or by another tool while the run
// held it) is permanent: a non-retryable pipeline.ErrRowGone, so the
// workflow decides instead of retrying forever. Every other error (the
// database away, a deadlock) stays retryable.
func dbErr(err error) error {
	if err == nil || !errors.Is(err, dbmodel.ErrNotFound) {
		return err
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), pipeline.ErrRowGone, nil)
}
