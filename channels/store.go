package channels

import (
	"context"
	"time"
)

// StoredChallenge is a link challenge as the store keeps it. Keys are
// lower-case hex, as the store holds them; the Manager parses them.
type StoredChallenge struct {
	ID          string
	NodePubkey  string
	AgentPubkey string
	Alias       string
	Message     string
	CreatedAt   time.Time
	ExpiresAt   time.Time

	// UsedAt is when a link completed with the challenge; zero while it
	// is unused.
	UsedAt time.Time

	// ProviderID is the provider the challenge linked; empty while it is
	// unused.
	ProviderID string
}

// StoredProvider is a provider as the store keeps it, without its rate
// card (StoreTx.ProviderRates).
type StoredProvider struct {
	ID          string
	NodePubkey  string
	AgentPubkey string
	Alias       string
	Status      Status
	LinkedAt    time.Time
	CreatedAt   time.Time

	// Reach, ReachReason and ReachCheckedAt are the last reachability
	// check; ReachCheckedAt is zero when none ran.
	Reach          ReachState
	ReachReason    string
	ReachCheckedAt time.Time
}

// StoredAgentKey is an agent key a provider linked, current or revoked.
type StoredAgentKey struct {
	ProviderID  string
	AgentPubkey string
	AddedAt     time.Time

	// RevokedAt is when a re-link replaced the key; zero for the current
	// key.
	RevokedAt time.Time
}

// StoreTx is one open store transaction as the Manager uses it; its calls
// commit or roll back together. Errors not named below are the store's
// own (a broken connection, a conflict that the Store retries).
type StoreTx interface {
	// InsertLinkChallenge stores a new, unused challenge.
	InsertLinkChallenge(ctx context.Context, c StoredChallenge) error

	// LinkChallenge returns the challenge with the id, or an error
	// wrapping ErrChallengeNotFound.
	LinkChallenge(ctx context.Context, id string) (StoredChallenge, error)

	// UseLinkChallenge marks the challenge used at the time by the
	// provider it linked. Only an unused challenge can be used: of two
	// transactions using one, the second gets an error wrapping
	// ErrChallengeUsed (ErrChallengeNotFound when there is none).
	UseLinkChallenge(ctx context.Context, id, providerID string,
		at time.Time) error

	// UnusedChallenges counts the stored challenges not used yet
	// (expired or not, until they are swept), and of those the node's
	// that are still open at now.
	UnusedChallenges(ctx context.Context, nodePubkey string,
		now time.Time) (stored, openForNode int, err error)

	// DeleteExpiredChallenges removes the unused challenges that expired
	// before the time and returns how many.
	DeleteExpiredChallenges(ctx context.Context, before time.Time) (int64,
		error)

	// InsertProvider stores a new provider; AddAgentKey records its
	// agent key.
	InsertProvider(ctx context.Context, p StoredProvider) error

	// RelinkProvider records a new link of an existing provider (an
	// error wrapping ErrProviderNotFound when there is none) and resets
	// its reach to unknown.
	RelinkProvider(ctx context.Context, id, agentPubkey, alias string,
		status Status, linkedAt time.Time) error

	// SetProviderReach records a reachability check; an error wrapping
	// ErrProviderNotFound for an unknown provider.
	SetProviderReach(ctx context.Context, id string, reach ReachState,
		reason string, at time.Time) error

	// Provider returns the provider with the id, or an error wrapping
	// ErrProviderNotFound.
	Provider(ctx context.Context, id string) (StoredProvider, error)

	// Providers returns every provider, oldest first.
	Providers(ctx context.Context) ([]StoredProvider, error)

	// AddAgentKey records a new current agent key of the provider, whose
	// previous one RevokeAgentKeys revoked.
	AddAgentKey(ctx context.Context, providerID, agentPubkey string,
		at time.Time) error

	// RevokeAgentKeys revokes the provider's current agent key, if any,
	// at the time, and returns how many it revoked (0 or 1).
	RevokeAgentKeys(ctx context.Context, providerID string,
		at time.Time) (int64, error)

	// AgentKeys returns the provider's agent keys or, with providerID
	// empty, every provider's keys equal to agentPubkey; agentPubkey
	// empty matches every key. Oldest first.
	AgentKeys(ctx context.Context, providerID, agentPubkey string) (
		[]StoredAgentKey, error)

	// SetProviderRates replaces the provider's rate card (resource to
	// decimal string; empty clears it); an error wrapping
	// ErrProviderNotFound for an unknown provider.
	SetProviderRates(ctx context.Context, providerID string,
		rates map[string]string, at time.Time) error

	// ProviderRates returns the provider's rate card, resource to
	// decimal string; empty when it has none.
	ProviderRates(ctx context.Context, providerID string) (
		map[string]string, error)
}
