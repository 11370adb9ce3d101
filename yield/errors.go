package yield

import "errors"

var (
	// ErrOverflow is returned when a result, or a sum on the way to it,
	// does not fit the integer type it must be held in.
	ErrOverflow = errors.New("overflow")

	// ErrDivideByZero is returned by MulDiv for a zero divisor.
	ErrDivideByZero = errors.New("division by zero")

	// ErrInvalidRounding is returned for a Rounding that is neither Floor
	// nor Ceil.
	ErrInvalidRounding = errors.New("invalid rounding")

	// ErrNegative is returned for an amount, a share count, a vault
	// figure or a weight below zero.
	ErrNegative = errors.New("negative amount")

	// ErrExceedsSupply is returned when more shares are redeemed than
	// the vault has issued.
	ErrExceedsSupply = errors.New("more shares than the supply")

	// ErrZeroWeight is returned by Apportion when there are shares to
	// hand out but the weights sum to zero, so they would have no owner.
	ErrZeroWeight = errors.New("weights sum to zero")

	// ErrDuplicateID is returned when two weights or two Merkle leaves
	// name the same provider: ties and order are decided by id, so ids
	// must be unique.
	ErrDuplicateID = errors.New("duplicate provider id")

	// ErrInvalidLeaf is returned for a Merkle leaf that cannot be
	// encoded: an empty or too long provider id, a negative amount, or
	// an epoch other than its tree's.
	ErrInvalidLeaf = errors.New("invalid leaf")

	// ErrLeafNotFound is returned by Proof for a provider without a leaf.
	ErrLeafNotFound = errors.New("no leaf for provider")

	// ErrProofMismatch is returned by Verify when a leaf and its proof do
	// not lead to the root.
	ErrProofMismatch = errors.New("proof does not match root")
)
