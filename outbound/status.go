package outbound

import (
	"errors"
	"fmt"
)

// Status is where an outbound call is in its life. The values are the
// strings the store keeps for payouts and refunds.
type Status string

const (
	// StatusNone is the status of an intent not written yet; only
	// StatusPending may follow it.
	StatusNone Status = ""

	// StatusPending is an intent written durably and not resolved: the
	// other side may have the call in flight, may have finished it, or
	// may never have seen it. On start every pending intent is tracked
	// at the other side and followed to its end.
	StatusPending Status = "pending"

	// StatusSucceeded is a call the other side completed. Final.
	StatusSucceeded Status = "succeeded"

	// StatusFailed is a call the other side failed for good, or refused
	// before recording it. Final: a new attempt is a new intent.
	StatusFailed Status = "failed"
)

var (
	// ErrUnknownStatus is returned for a status string that names no
	// Status.
	ErrUnknownStatus = errors.New("unknown outbound status")

	// ErrInvalidTransition is returned by Transition for a move the
	// lifecycle does not allow; it wraps one of the errors below when
	// one says why.
	ErrInvalidTransition = errors.New("invalid outbound status " +
		"transition")

	// ErrIntentExists is returned for an intent written over one that
	// exists already.
	ErrIntentExists = errors.New("intent exists already")

	// ErrAlreadySucceeded is returned for an outcome recorded on an
	// intent that succeeded already.
	ErrAlreadySucceeded = errors.New("intent already succeeded")

	// ErrAlreadyFailed is returned for an outcome recorded on an intent
	// that failed already.
	ErrAlreadyFailed = errors.New("intent already failed")
)

// ParseStatus reads a stored status; ErrUnknownStatus for any other
// string (StatusNone is never stored).
func ParseStatus(s string) (Status, error) {
	switch st := Status(s); st {
	case StatusPending, StatusSucceeded, StatusFailed:
		return st, nil
	}
	return StatusNone, fmt.Errorf("%w: %q", ErrUnknownStatus, s)
}

// String returns the status as stored.
func (s Status) String() string {
	if s == StatusNone {
		return "none"
	}
	return string(s)
}

// Final reports whether s is an outcome: succeeded or failed.
func (s Status) Final() bool {
	return s == StatusSucceeded || s == StatusFailed
}

// initializable says whether an intent may be written where one with
// status s is: only where there is none. Unlike lnd, which lets a failed
// payment be initiated again under its hash, a failed intent stays failed
// and a new attempt is a new intent.
func (s Status) initializable() error {
	switch s {
	case StatusNone:
		return nil
	case StatusPending, StatusSucceeded, StatusFailed:
		return ErrIntentExists
	}
	return fmt.Errorf("%w: %q", ErrUnknownStatus, string(s))
}

// updatable says whether an intent with status s may take an outcome:
// only a pending one.
func (s Status) updatable() error {
	switch s {
	case StatusPending:
		return nil
	case StatusSucceeded:
		return ErrAlreadySucceeded
	case StatusFailed:
		return ErrAlreadyFailed
	case StatusNone:
		return fmt.Errorf("no intent written")
	}
	return fmt.Errorf("%w: %q", ErrUnknownStatus, string(s))
}

// Transition checks that an intent may move from one status to another:
// StatusNone → StatusPending (the intent is written), StatusPending →
// StatusSucceeded or StatusFailed (the outcome is recorded, once). Any
// other move gives an error wrapping ErrInvalidTransition.
func Transition(from, to Status) error {
	var err error
	switch to {
	case StatusPending:
		err = from.initializable()
	case StatusSucceeded, StatusFailed:
		err = from.updatable()
	case StatusNone:
		err = errors.New("an intent is never unwritten")
	default:
		err = fmt.Errorf("%w: %q", ErrUnknownStatus, string(to))
	}
	if err != nil {
		return fmt.Errorf("%w: %v → %v: %w", ErrInvalidTransition,
			from, to, err)
	}
	return nil
}
