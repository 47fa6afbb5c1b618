package pve

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Error is every failure this package returns for an HTTP exchange with Proxmox.
// It keeps the HTTP status, Proxmox's reason text and parameter errors, and
// says whether retrying can help. It never contains the API token.
type Error struct {
	Op      string            // what we were doing, e.g. "DELETE /nodes/pve1/qemu/100"
	Status  int               // HTTP status; 0 when no response arrived
	Message string            // Proxmox's reason text (status line phrase or body "message")
	Params  map[string]string // 400 "Parameter verification failed." details, by parameter
	Cause   string            // transport error text when Status is 0
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	switch {
	case e.Status == 0:
		b.WriteString("connection failed: ")
		b.WriteString(e.Cause)
	default:
		fmt.Fprintf(&b, "HTTP %d", e.Status)
		if e.Message != "" {
			b.WriteString(" ")
			b.WriteString(e.Message)
		}
		for _, k := range sortedKeys(e.Params) {
			fmt.Fprintf(&b, "; %s: %s", k, e.Params[k])
		}
	}
	return b.String()
}

// Transient reports whether the same request may succeed later: connection
// failures, proxy errors to an unreachable node (595/596/599), gateway errors,
// and Proxmox's config lock timeouts ("can't lock file ... got timeout").
func (e *Error) Transient() bool {
	switch {
	case e.Status == 0:
		return true
	case e.Status == 595, e.Status == 596, e.Status == 599,
		e.Status == 502, e.Status == 503, e.Status == 504, e.Status == 429:
		return true
	case e.Status >= 500 && isLockTimeout(e.Message):
		return true
	}
	return false
}

// Failure classes of a Proxmox error (ClassOf): the reason_class of the
// DELETE failure metric and the Temporal error type of a Proxmox refusal.
const (
	ClassConnection      = "connection"       // no HTTP answer
	ClassAuth            = "auth"             // 401 or 403
	ClassBadRequest      = "bad_request"      // 400: a parameter Proxmox refused
	ClassNodeUnreachable = "node_unreachable" // 595/596/599: the node behind pveproxy
	ClassLockTimeout     = "lock_timeout"     // can't lock file ... got timeout
	ClassNotFound        = "not_found"        // ... does not exist
	ClassProtected       = "protected"        // protection mode enabled
	ClassRunning         = "running"          // VM is running
	ClassNotImplemented  = "not_implemented"  // 501
	ClassServer          = "server"           // any other error
	ClassLocked          = "locked"           // a failed task: VM is locked (backup, migrate, ...)
	ClassTaskFailed      = "task_failed"      // a failed task, any other exit status
)

// Class is a short, stable name for the kind of failure, for metrics and logs.
func (e *Error) Class() string {
	switch {
	case e.Status == 0:
		return ClassConnection
	case e.Status == 401 || e.Status == 403:
		return ClassAuth
	case e.Status == 400:
		return ClassBadRequest
	case e.Status == 595 || e.Status == 596 || e.Status == 599:
		return ClassNodeUnreachable
	case isLockTimeout(e.Message):
		return ClassLockTimeout
	case strings.Contains(e.Message, "does not exist"), isMissingConfig(e.Message):
		return ClassNotFound
	case strings.Contains(e.Message, "protection mode enabled"):
		return ClassProtected
	case strings.Contains(e.Message, "is running"):
		return ClassRunning
	case e.Status == 501:
		return ClassNotImplemented
	}
	return ClassServer
}

func isLockTimeout(msg string) bool {
	return strings.Contains(msg, "can't lock file") && strings.Contains(msg, "got timeout")
}

// IsTransient reports whether err (anywhere in its chain) is a transient Proxmox failure.
func IsTransient(err error) bool {
	return errorIs(err, (*Error).Transient, taskLockTimeout)
}

// errorIs applies api to the first *Error in err's chain, or else task to
// the first *TaskError; false when there is neither.
func errorIs(err error, api func(*Error) bool, task func(*TaskError) bool) bool {
	var e *Error
	if errors.As(err, &e) {
		return api(e)
	}
	var te *TaskError
	return errors.As(err, &te) && task(te)
}

func taskLockTimeout(te *TaskError) bool { return isLockTimeout(te.ExitStatus) }

// IsLockTimeout reports whether err is Proxmox's "can't lock file ... got timeout".
func IsLockTimeout(err error) bool {
	return errorIs(err, func(e *Error) bool { return isLockTimeout(e.Message) }, taskLockTimeout)
}

// IsMissingVM reports whether err says the VM's config file does not exist
// on that node. Proxmox words it two ways: a read of the config or status
// answers 500 "Configuration file 'nodes/<node>/qemu-server/<vmid>.conf'
// does not exist" (load_config), and a shutdown or stop task fails "unable
// to find configuration file for VM <vmid> on node '<node>'"
// (assert_config_exists_on_node; "... - no such machine" before late 2019).
func IsMissingVM(err error) bool {
	return errorIs(err, func(e *Error) bool { return e.Status == 500 && isMissingConfig(e.Message) },
		func(te *TaskError) bool { return isMissingConfig(te.ExitStatus) })
}

func isMissingConfig(msg string) bool {
	return strings.Contains(msg, "Configuration file") && strings.Contains(msg, "does not exist") ||
		strings.Contains(msg, "unable to find configuration file for VM")
}

// StatusOf returns the HTTP status of err, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// ClassOf returns the failure class of err ("task_failed" for failed tasks).
func ClassOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Class()
	}
	var te *TaskError
	if errors.As(err, &te) {
		if isLockTimeout(te.ExitStatus) {
			return ClassLockTimeout
		}
		if strings.HasPrefix(te.ExitStatus, "VM is locked") {
			return ClassLocked
		}
		if isMissingConfig(te.ExitStatus) {
			return ClassNotFound
		}
		return ClassTaskFailed
	}
	return "other"
}

// TaskError is a Proxmox task that ended with an exit status other than OK or WARNINGS.
type TaskError struct {
	UPID       string
	Type       string
	ExitStatus string
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("task %s failed: %s", e.Type, e.ExitStatus)
}

// wrapTransport turns an error from the HTTP client into *Error. The library
// wraps errors from our RoundTripper in *url.Error; we unwrap that so the
// message carries no URL (the URL has no secret, but the reason reads better).
func wrapTransport(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Op = op
		return &c
	}
	var te *TaskError
	if errors.As(err, &te) {
		return err
	}
	cause := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err.Error()
		var ne net.Error
		if errors.As(ue.Err, &ne) && ne.Timeout() {
			cause = "timeout: " + cause
		}
	}
	return &Error{Op: op, Cause: cause}
}
