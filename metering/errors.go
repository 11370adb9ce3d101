package metering

import "errors"

// RefusedError is the type of every error that refuses one batch: the
// batch (or its job) is at fault, not the store, so the batch is answered
// with it and the rest of its group commit goes on. The Ingestor tells a
// refusal from a fault with errors.As (IsRefusal), so a sentinel added
// below with newRefusal is handled without a list to keep in step;
// TestEveryErrorIsClassified fails for one declared any other way.
type RefusedError struct {
	msg string
}

// newRefusal returns a refusal sentinel with the message msg. It returns
// an error, so that the sentinels keep the type error.
func newRefusal(msg string) error {
	return &RefusedError{msg: msg}
}

// Error returns the refusal's message.
func (e *RefusedError) Error() string {
	return e.msg
}

// IsRefusal reports whether err, or an error it wraps, refuses a batch
// (the caller's fault, or the job's) rather than being a fault of the
// store or of Sluice.
func IsRefusal(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// The errors a batch can be refused with. Each names one rule; the API maps
// them to status codes as docs/protocol.md tables (the code is given here
// beside each). A refused batch changes nothing. All but ErrIngestClosed
// are refusals (RefusedError).
var (
	// ErrMalformed is returned when a batch's encoding breaks the format:
	// too short, trailing bytes, a field out of range, records not in
	// order. Code: InvalidArgument.
	ErrMalformed = newRefusal("malformed usage batch")

	// ErrUnsupportedVersion is returned for an encoding whose version
	// byte this build does not know. Code: InvalidArgument.
	ErrUnsupportedVersion = newRefusal("unsupported usage batch version")

	// ErrBadSignature is returned when a batch's signature does not verify
	// under the agent key it names. Code: InvalidArgument.
	ErrBadSignature = newRefusal("bad usage batch signature")

	// ErrUnknownJob is returned for a batch naming a job Sluice does not
	// have. Code: NotFound.
	ErrUnknownJob = newRefusal("unknown job")

	// ErrForeignJob is returned when the job belongs to another provider
	// than the caller, or the batch's agent key is not the current agent
	// key of the job's provider. Code: PermissionDenied.
	ErrForeignJob = newRefusal("job belongs to another provider or " +
		"agent key")

	// ErrJobNotRunning is returned for new usage of a job that does not
	// take any: awaiting funding, expired, suspended or ended. Code:
	// FailedPrecondition.
	ErrJobNotRunning = newRefusal("job is not running")

	// ErrSeqGap is returned when a batch's new records do not continue
	// the job's sequence: the first new seq must be the last accepted
	// seq plus one, and seqs within a batch follow each other without a
	// gap. The agent resends from the job's last seq plus one. Code:
	// FailedPrecondition.
	ErrSeqGap = newRefusal("sequence gap")

	// ErrSecondNotAfter is returned for a new record whose second is not
	// after the second of the job's last accepted record: each second is
	// billed at most once. Code: InvalidArgument.
	ErrSecondNotAfter = newRefusal("second not after the last accepted " +
		"second")

	// ErrFutureSecond is returned for a record whose second ends later
	// than now plus the allowed clock skew. Code: InvalidArgument.
	ErrFutureSecond = newRefusal("second lies in the future")

	// ErrBeforeStart is returned for a record whose second starts before
	// the job could run. Code: InvalidArgument.
	ErrBeforeStart = newRefusal("second before the job started")

	// ErrAfterEnd is returned for a record whose second ends after the
	// job ended. Code: InvalidArgument.
	ErrAfterEnd = newRefusal("second after the job ended")

	// ErrTooManySeconds is returned when a batch would bring the job's
	// count of billed seconds above the seconds elapsed since it could
	// start (plus the clock skew). Code: InvalidArgument.
	ErrTooManySeconds = newRefusal("more seconds than have elapsed")

	// ErrOverLimit is returned for a record with a quantity above what
	// the job's resource spec allows in one second. Code:
	// InvalidArgument.
	ErrOverLimit = newRefusal("quantity above the job's spec")

	// ErrOverflow is returned for a quantity or a price that does not fit
	// the integers Sluice computes with. Code: InvalidArgument.
	ErrOverflow = newRefusal("number overflows")

	// ErrConflict is returned for a record whose (job, seq) was accepted
	// before with different content: the agent reports one second two
	// ways, which is logged as a possible cheat. Code: AlreadyExists.
	ErrConflict = newRefusal("sequence number already used with " +
		"different content")

	// ErrInsufficientEscrow is returned when the job's escrow cannot pay
	// for a record; the records before it that escrow covered are
	// accepted. Code: FailedPrecondition.
	ErrInsufficientEscrow = newRefusal("job escrow cannot pay for usage")

	// ErrUnknownResource is returned for a rate card naming a resource
	// metering does not measure. Code: FailedPrecondition (the job's
	// terms cannot be applied).
	ErrUnknownResource = newRefusal("unknown resource")

	// ErrIngestClosed is returned by an Ingestor that has been stopped.
	// Code: Unavailable.
	ErrIngestClosed = errors.New("usage ingest stopped")
)
