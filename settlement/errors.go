package settlement

import (
	"errors"
	"fmt"

	"github.com/sluice-ln/sluice/channels"
)

var (
	// ErrInvalidTransition is returned when a job is asked to move to a
	// state its current state does not lead to, or for a cause that does
	// not drive that move. The error is a *TransitionError saying which.
	ErrInvalidTransition = errors.New("invalid job state transition")

	// ErrJobNotFound is returned for a job id that names no job.
	ErrJobNotFound = errors.New("job not found")

	// ErrBuyerNotFound is returned for a buyer id that names no buyer.
	ErrBuyerNotFound = errors.New("buyer not found")

	// ErrInvalidBuyer is returned by AddBuyer for a name it cannot use;
	// the message says why.
	ErrInvalidBuyer = errors.New("invalid buyer")

	// ErrBuyerExists is returned by AddBuyer for a name already taken.
	ErrBuyerExists = errors.New("buyer name already taken")

	// ErrProviderNotFound is channels' sentinel, returned (wrapped) by a
	// ProviderLookup and by CreateJob for a provider id no link
	// created: channels owns providers, so there is one such error.
	ErrProviderNotFound = channels.ErrProviderNotFound

	// ErrInvalidJob is returned for a job request with a field out of
	// range; the message names the field and why.
	ErrInvalidJob = errors.New("invalid job request")

	// ErrNotAllowed is returned when the actor may not act on the job: a
	// buyer on another buyer's job, a provider on a job not assigned to
	// it.
	ErrNotAllowed = errors.New("not allowed on this job")

	// ErrJobEnded is returned for an action on a job that has ended or
	// expired and can take no more of it (a top-up, a charge).
	ErrJobEnded = errors.New("job has ended")

	// ErrNotFunded is returned for a top-up of a job whose funding
	// invoice is not paid yet: pay that one first.
	ErrNotFunded = errors.New("job is not funded yet")

	// ErrJobNotRunning is returned by StartJob for a suspended job: no
	// work may start until a top-up resumes it, so that no provider
	// works unpaid.
	ErrJobNotRunning = errors.New("job is not running")

	// ErrInvalidRefund is returned for a refund destination that cannot
	// be paid: an invoice that does not decode, is for another network,
	// has expired, is for the wrong amount or pays the hub itself, or a
	// node key that is not one. The message says which.
	ErrInvalidRefund = errors.New("invalid refund destination")

	// ErrRefundInFlight is returned by EndJob when a refund of the job is
	// already on its way; a second one waits for it to finish.
	ErrRefundInFlight = errors.New("a refund of this job is in flight")

	// ErrNothingToRefund is returned when a refund is asked for a job
	// whose escrow holds nothing beyond the routing fee.
	ErrNothingToRefund = errors.New("nothing to refund")

	// ErrNoRoute is returned when the hub finds no route to the refund
	// destination.
	ErrNoRoute = errors.New("no route to the refund destination")

	// ErrInvoiceNotFound is returned by the TxStore for a payment hash
	// that is no job's invoice.
	ErrInvoiceNotFound = errors.New("job invoice not found")

	// ErrStale is returned by the TxStore's compare-and-set updates when
	// the row no longer holds what the caller read: a job that left the
	// state it was read in, an invoice settled already.
	ErrStale = errors.New("changed since it was read")
)

// TransitionError says which transition of which job was refused and why.
// errors.Is(err, ErrInvalidTransition) is true for it.
type TransitionError struct {
	JobID string
	From  State
	To    State
	Cause Cause

	// Reason explains the refusal in words.
	Reason string
}

// Error describes the refused transition.
func (e *TransitionError) Error() string {
	job := ""
	if e.JobID != "" {
		job = "job " + e.JobID + ": "
	}

	return fmt.Sprintf("%s%v: %s → %s (%s): %s", job,
		ErrInvalidTransition, e.From, e.To, e.Cause, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidTransition) true.
func (e *TransitionError) Is(target error) bool {
	return target == ErrInvalidTransition
}
