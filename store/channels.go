package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/store/sqlc"
)

// The channels domain's rows: link challenges, providers, their agent keys
// and rate cards. Keys are lower-case hex and rates decimal strings; the
// channels package parses and checks them, this file only stores them.

// The channels domain's sentinels are channels': the store returns them and
// the domain checks them with errors.Is, one error on both sides.
var (
	// ErrChallengeNotFound is returned when no link challenge has the id.
	ErrChallengeNotFound = channels.ErrChallengeNotFound

	// ErrChallengeUsed is returned by UseLinkChallenge when the challenge
	// was used already: a second completion lost the race.
	ErrChallengeUsed = channels.ErrChallengeUsed

	// ErrProviderNotFound is returned when no provider has the id or
	// node key.
	ErrProviderNotFound = channels.ErrProviderNotFound
)

// LinkChallenge is a row of link_challenges.
type LinkChallenge struct {
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

// Provider is a row of providers.
type Provider struct {
	ID          string
	NodePubkey  string
	AgentPubkey string
	Alias       string
	Status      string
	LinkedAt    time.Time
	CreatedAt   time.Time

	// Reach, ReachReason and ReachCheckedAt are the last reachability
	// check; ReachCheckedAt is zero when none ran.
	Reach          string
	ReachReason    string
	ReachCheckedAt time.Time
}

// AgentKey is a row of provider_agent_keys.
type AgentKey struct {
	ProviderID  string
	AgentPubkey string
	AddedAt     time.Time

	// RevokedAt is when a re-link replaced the key; zero for the current
	// key.
	RevokedAt time.Time
}

// InsertLinkChallenge stores a new, unused challenge.
func (t *Tx) InsertLinkChallenge(ctx context.Context, c LinkChallenge) error {
	err := t.q.InsertLinkChallenge(ctx, sqlc.InsertLinkChallengeParams{
		ID:          c.ID,
		NodePubkey:  c.NodePubkey,
		AgentPubkey: c.AgentPubkey,
		Alias:       c.Alias,
		Message:     c.Message,
		CreatedAt:   dbTime(c.CreatedAt),
		ExpiresAt:   dbTime(c.ExpiresAt),
	})
	if err != nil {
		return fmt.Errorf("insert link challenge %s: %w", c.ID,
			mapError(err))
	}
	return nil
}

// LinkChallenge returns the challenge with the id, or an error wrapping
// ErrChallengeNotFound.
func (t *Tx) LinkChallenge(ctx context.Context, id string) (LinkChallenge,
	error) {

	row, err := t.q.GetLinkChallenge(ctx, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return LinkChallenge{}, fmt.Errorf("link challenge %q: %w", id,
			ErrChallengeNotFound)
	case err != nil:
		return LinkChallenge{}, fmt.Errorf("link challenge %q: %w", id,
			mapError(err))
	}
	return LinkChallenge{
		ID:          row.ID,
		NodePubkey:  row.NodePubkey,
		AgentPubkey: row.AgentPubkey,
		Alias:       row.Alias,
		Message:     row.Message,
		CreatedAt:   row.CreatedAt.UTC(),
		ExpiresAt:   row.ExpiresAt.UTC(),
		UsedAt:      fromNull(row.UsedAt),
		ProviderID:  row.ProviderID.String,
	}, nil
}

// UseLinkChallenge marks the challenge used at the time, by the provider it
// linked. It succeeds only for a challenge that is still unused, so of two
// transactions completing one challenge only one commits; the other gets
// an error wrapping ErrChallengeUsed (or ErrChallengeNotFound).
func (t *Tx) UseLinkChallenge(ctx context.Context, id, providerID string,
	at time.Time) error {

	n, err := t.q.UseLinkChallenge(ctx, sqlc.UseLinkChallengeParams{
		UsedAt: sql.NullTime{Time: dbTime(at), Valid: true},
		ProviderID: sql.NullString{
			String: providerID,
			Valid:  true,
		},
		ID: id,
	})
	if err != nil {
		return fmt.Errorf("use link challenge %s: %w", id, mapError(err))
	}
	if n == 1 {
		return nil
	}

	// Say why: gone, or used.
	if _, err := t.LinkChallenge(ctx, id); err != nil {
		return err
	}
	return fmt.Errorf("link challenge %q: %w", id, ErrChallengeUsed)
}

// UnusedChallenges counts the stored challenges not used yet (expired or
// not, until they are swept), and of those the ones for the node that are
// still open at now.
func (t *Tx) UnusedChallenges(ctx context.Context, nodePubkey string,
	now time.Time) (stored, openForNode int, err error) {

	row, err := t.q.CountUnusedChallenges(ctx,
		sqlc.CountUnusedChallengesParams{
			NodePubkey: nodePubkey,
			Now:        dbTime(now),
		})
	if err != nil {
		return 0, 0, fmt.Errorf("count unused link challenges: %w",
			mapError(err))
	}
	return int(row.Stored), int(row.OpenForNode), nil
}

// DeleteExpiredChallenges removes unused challenges that expired before
// the time and returns how many. Used challenges stay: they record which
// proof linked a provider.
func (t *Tx) DeleteExpiredChallenges(ctx context.Context,
	before time.Time) (int64, error) {

	n, err := t.q.DeleteExpiredChallenges(ctx, dbTime(before))
	if err != nil {
		return 0, fmt.Errorf("delete expired link challenges: %w",
			mapError(err))
	}
	return n, nil
}

// providerFromRow is a providers row as a Provider.
func providerFromRow(row sqlc.Provider) Provider {
	return Provider{
		ID:             row.ID,
		NodePubkey:     row.NodePubkey,
		AgentPubkey:    row.AgentPubkey,
		Alias:          row.Alias,
		Status:         row.Status,
		LinkedAt:       row.LinkedAt.UTC(),
		CreatedAt:      row.CreatedAt.UTC(),
		Reach:          row.Reach,
		ReachReason:    row.ReachReason,
		ReachCheckedAt: fromNull(row.ReachCheckedAt),
	}
}

// InsertProvider stores a new provider. Its agent key is not recorded
// here; AddAgentKey does that.
func (t *Tx) InsertProvider(ctx context.Context, p Provider) error {
	reach := p.Reach
	if reach == "" {
		reach = "unknown"
	}
	err := t.q.InsertProvider(ctx, sqlc.InsertProviderParams{
		ID:             p.ID,
		NodePubkey:     p.NodePubkey,
		AgentPubkey:    p.AgentPubkey,
		Alias:          p.Alias,
		Status:         p.Status,
		LinkedAt:       dbTime(p.LinkedAt),
		CreatedAt:      dbTime(p.CreatedAt),
		Reach:          reach,
		ReachReason:    p.ReachReason,
		ReachCheckedAt: nullTime(p.ReachCheckedAt),
	})
	if err != nil {
		return fmt.Errorf("insert provider %s: %w", p.ID, mapError(err))
	}
	return nil
}

// RelinkProvider records a new link of an existing provider: its current
// agent key, alias, status and link time. Reachability is reset to unknown
// until it is checked again.
func (t *Tx) RelinkProvider(ctx context.Context, id, agentPubkey, alias,
	status string, linkedAt time.Time) error {

	n, err := t.q.RelinkProvider(ctx, sqlc.RelinkProviderParams{
		AgentPubkey: agentPubkey,
		Alias:       alias,
		Status:      status,
		LinkedAt:    dbTime(linkedAt),
		ID:          id,
	})
	return expectOneProvider(n, err, "relink provider", id)
}

// SetProviderReach records a reachability check.
func (t *Tx) SetProviderReach(ctx context.Context, id, reach, reason string,
	at time.Time) error {

	n, err := t.q.SetProviderReach(ctx, sqlc.SetProviderReachParams{
		Reach:          reach,
		ReachReason:    reason,
		ReachCheckedAt: sql.NullTime{Time: dbTime(at), Valid: true},
		ID:             id,
	})
	return expectOneProvider(n, err, "set reach of provider", id)
}

// expectOneProvider returns the statement's error, classified, or one
// wrapping ErrProviderNotFound unless it changed exactly one row.
func expectOneProvider(n int64, err error, what, id string) error {
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, id, mapError(err))
	}
	if n != 1 {
		return fmt.Errorf("%s %q: %w", what, id, ErrProviderNotFound)
	}
	return nil
}

// Provider returns the provider with the id, or an error wrapping
// ErrProviderNotFound.
func (t *Tx) Provider(ctx context.Context, id string) (Provider, error) {
	row, err := t.q.GetProvider(ctx, id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Provider{}, fmt.Errorf("provider %q: %w", id,
			ErrProviderNotFound)
	case err != nil:
		return Provider{}, fmt.Errorf("provider %q: %w", id,
			mapError(err))
	}
	return providerFromRow(row), nil
}

// ProviderByNode returns the provider linked with the node key, or an
// error wrapping ErrProviderNotFound.
func (t *Tx) ProviderByNode(ctx context.Context, nodePubkey string) (
	Provider, error) {

	row, err := t.q.GetProviderByNode(ctx, nodePubkey)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Provider{}, fmt.Errorf("provider of node %s: %w",
			nodePubkey, ErrProviderNotFound)
	case err != nil:
		return Provider{}, fmt.Errorf("provider of node %s: %w",
			nodePubkey, mapError(err))
	}
	return providerFromRow(row), nil
}

// Providers returns every provider, oldest first.
func (t *Tx) Providers(ctx context.Context) ([]Provider, error) {
	rows, err := t.q.ListProviders(ctx)
	if err != nil {
		return nil, fmt.Errorf("list providers: %w", mapError(err))
	}

	var out []Provider
	for _, row := range rows {
		out = append(out, providerFromRow(row))
	}
	return out, nil
}

// AddAgentKey records a new current agent key for the provider. The
// provider's previous current key must have been revoked first
// (RevokeAgentKeys); a second current key is refused with
// ErrUniqueViolation, as is a key the provider had before.
func (t *Tx) AddAgentKey(ctx context.Context, providerID,
	agentPubkey string, at time.Time) error {

	err := t.q.InsertAgentKey(ctx, sqlc.InsertAgentKeyParams{
		ProviderID:  providerID,
		AgentPubkey: agentPubkey,
		AddedAt:     dbTime(at),
	})
	if err != nil {
		return fmt.Errorf("add agent key of provider %s: %w",
			providerID, mapError(err))
	}
	return nil
}

// RevokeAgentKeys revokes the provider's current agent key, if any, at the
// time, and returns how many keys it revoked (0 or 1).
func (t *Tx) RevokeAgentKeys(ctx context.Context, providerID string,
	at time.Time) (int64, error) {

	n, err := t.q.RevokeAgentKeys(ctx, sqlc.RevokeAgentKeysParams{
		RevokedAt:  sql.NullTime{Time: dbTime(at), Valid: true},
		ProviderID: providerID,
	})
	if err != nil {
		return 0, fmt.Errorf("revoke agent keys of provider %s: %w",
			providerID, mapError(err))
	}
	return n, nil
}

// AgentKeys returns the agent keys of the provider, or, with providerID
// empty, every provider's keys that equal agentPubkey; agentPubkey empty
// matches every key. Oldest first.
func (t *Tx) AgentKeys(ctx context.Context, providerID,
	agentPubkey string) ([]AgentKey, error) {

	rows, err := t.q.ListAgentKeys(ctx, sqlc.ListAgentKeysParams{
		ProviderID:  providerID,
		AgentPubkey: agentPubkey,
	})
	if err != nil {
		return nil, fmt.Errorf("agent keys: %w", mapError(err))
	}

	var out []AgentKey
	for _, row := range rows {
		out = append(out, AgentKey{
			ProviderID:  row.ProviderID,
			AgentPubkey: row.AgentPubkey,
			AddedAt:     row.AddedAt.UTC(),
			RevokedAt:   fromNull(row.RevokedAt),
		})
	}
	return out, nil
}

// SetProviderRates replaces the provider's rate card with rates (resource
// to decimal string); an empty map clears it.
func (t *Tx) SetProviderRates(ctx context.Context, providerID string,
	rates map[string]string, at time.Time) error {

	if _, err := t.Provider(ctx, providerID); err != nil {
		return err
	}
	if err := t.q.DeleteProviderRates(ctx, providerID); err != nil {
		return fmt.Errorf("clear rates of provider %s: %w", providerID,
			mapError(err))
	}
	for resource, rate := range rates {
		err := t.q.InsertProviderRate(ctx, sqlc.InsertProviderRateParams{
			ProviderID: providerID,
			Resource:   resource,
			Rate:       rate,
			UpdatedAt:  dbTime(at),
		})
		if err != nil {
			return fmt.Errorf("set rate %s of provider %s: %w",
				resource, providerID, mapError(err))
		}
	}
	return nil
}

// ProviderRates returns the provider's rate card, resource to decimal
// string; empty when it has none.
func (t *Tx) ProviderRates(ctx context.Context, providerID string) (
	map[string]string, error) {

	rows, err := t.q.ListProviderRates(ctx, providerID)
	if err != nil {
		return nil, fmt.Errorf("rates of provider %s: %w", providerID,
			mapError(err))
	}

	out := make(map[string]string, len(rows))
	for _, row := range rows {
		out[row.Resource] = row.Rate
	}
	return out, nil
}
