package channels

import "errors"

// Bad input. Each names the field and why in its wrapping message.
var (
	// ErrInvalidNodeKey is returned for a node public key that is not a
	// 33-byte compressed secp256k1 point.
	ErrInvalidNodeKey = errors.New("invalid node public key")

	// ErrInvalidAgentKey is returned for an agent public key that is not
	// a 32-byte x-only (BIP-340) secp256k1 point.
	ErrInvalidAgentKey = errors.New("invalid agent public key")

	// ErrInvalidAlias is returned for an alias longer than 32 bytes or
	// with characters that are not printable.
	ErrInvalidAlias = errors.New("invalid alias")

	// ErrHubNode is returned when a provider tries to link the hub's own
	// node.
	ErrHubNode = errors.New("the hub's own node cannot be a provider")
)

// Refused links. Each has its own API status code (rpc maps them).
var (
	// ErrChallengeNotFound is returned for a challenge id sluiced never
	// issued, or one swept after it expired.
	ErrChallengeNotFound = errors.New("unknown link challenge")

	// ErrChallengeExpired is returned for a challenge completed after
	// its expiry.
	ErrChallengeExpired = errors.New("link challenge expired")

	// ErrChallengeUsed is returned for a challenge that already linked a
	// node: a replayed signature.
	ErrChallengeUsed = errors.New("link challenge already used")

	// ErrMalformedSignature is returned for a signature that is not a
	// zbase32-encoded 65-byte recoverable signature, or from which no
	// key can be recovered.
	ErrMalformedSignature = errors.New("malformed signature")

	// ErrForgedSignature is returned for a well-formed signature that
	// does not verify for the challenge's node and message.
	ErrForgedSignature = errors.New("signature does not verify")

	// ErrWrongNode is returned when the challenge was signed by another
	// node that the hub's graph knows, not the one it names: the provider
	// signed with the wrong lnd.
	ErrWrongNode = errors.New("signed by another node")

	// ErrAgentKeyRevoked is returned when a link names an agent key that
	// a re-link of the same provider already replaced, and by
	// VerifyAgent for such a key: a revoked key never comes back.
	ErrAgentKeyRevoked = errors.New("agent key revoked")

	// ErrAgentKeyInUse is returned when a link names an agent key that
	// another provider has linked.
	ErrAgentKeyInUse = errors.New("agent key belongs to another provider")

	// ErrTooManyChallenges is returned by CreateChallenge when the node
	// has MaxOpenChallengesPerNode open challenges already, or the
	// store holds MaxStoredChallenges unused ones: challenges are given
	// without credentials, so their number is bounded.
	ErrTooManyChallenges = errors.New("too many link challenges")
)

// Lookups.
var (
	// ErrProviderNotFound is returned for a provider id no link created.
	ErrProviderNotFound = errors.New("provider not found")

	// ErrUnknownAgentKey is returned by VerifyAgent for a key the
	// provider never linked.
	ErrUnknownAgentKey = errors.New("agent key not linked to the provider")
)

// Rate cards. ParseRateCard and NewRateCard return one per mistake.
var (
	// ErrUnknownResource is returned for a resource name that is not one
	// of Resources.
	ErrUnknownResource = errors.New("unknown resource")

	// ErrMalformedRate is returned for a rate that is not a plain
	// decimal number.
	ErrMalformedRate = errors.New("malformed rate")

	// ErrNegativeRate is returned for a rate below zero.
	ErrNegativeRate = errors.New("negative rate")

	// ErrRateTooPrecise is returned for a rate with more decimal places
	// than ledger.MaxRateDecimals.
	ErrRateTooPrecise = errors.New("rate has too many decimal places")
)
