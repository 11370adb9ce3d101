package lease

import "errors"

// Refusals of a lease request. Each is its own API status (rpc/lease.go)
// and changes nothing.
var (
	// ErrInvalidRequest is returned for a request the strategy cannot
	// read (an empty or too long key); the error names the field.
	ErrInvalidRequest = errors.New("invalid lease request")

	// ErrCapacityTooSmall is returned for a capacity below
	// Config.MinCapacity.
	ErrCapacityTooSmall = errors.New("lease capacity below the minimum")

	// ErrCapacityTooLarge is returned for a capacity above
	// Config.MaxCapacity.
	ErrCapacityTooLarge = errors.New("lease capacity above the maximum")

	// ErrBlocksOutOfRange is returned for channel_expiry_blocks outside
	// [Config.MinBlocks, Config.MaxBlocks].
	ErrBlocksOutOfRange = errors.New("lease blocks out of range")

	// ErrNoRoom is wrapped, with a *yield.LimitError saying by how
	// much, when the capacity is more than the strategy may take now:
	// its cap less its principal and the leases paid for or awaiting
	// payment, or the idle vault above the floor less those leases.
	ErrNoRoom = errors.New("no room for the lease in the vault")

	// ErrUnknownPeer is returned for a node key that is malformed or
	// that the hub's graph does not know (the hub could not connect to
	// it to open the channel).
	ErrUnknownPeer = errors.New("node unknown to the hub")

	// ErrKilled is returned while the operator's kill switch of the
	// lease strategy is on: it sells no lease.
	ErrKilled = errors.New("lease strategy's kill switch is on")

	// ErrKeyReused is returned for an idempotency key stored before with
	// another node, capacity or blocks.
	ErrKeyReused = errors.New("lease key used for another request")

	// ErrLeaseNotFound is returned for a lease id (or key) never stored.
	ErrLeaseNotFound = errors.New("lease not found")
)

// Errors of the store contract.
var (
	// ErrStateChanged is returned by Store.UpdateLease when the row is
	// no longer in the state the update was made from: another
	// goroutine or daemon moved it first.
	ErrStateChanged = errors.New("lease state changed since it was read")

	// ErrInvalidConfig is returned by New for a Config it cannot run
	// with; the error names the field and why.
	ErrInvalidConfig = errors.New("invalid lease strategy config")
)
