package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The channels domain's rows: link challenges, providers, their agent keys
// and rate cards. Keys are lower-case hex and rates decimal strings; the
// channels package parses and checks them, this file only stores them.

var (
	// ErrChallengeNotFound is returned when no link challenge has the id.
	ErrChallengeNotFound = errors.New("link challenge not found")

	// ErrChallengeUsed is returned by UseLinkChallenge when the challenge
	// was used already: a second completion lost the race.
	ErrChallengeUsed = errors.New("link challenge already used")

	// ErrProviderNotFound is returned when no provider has the id or
	// node key.
	ErrProviderNotFound = errors.New("provider not found")
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
	_, err := t.exec(ctx, `INSERT INTO link_challenges (id, node_pubkey,
		agent_pubkey, alias, message, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		c.ID, c.NodePubkey, c.AgentPubkey, c.Alias, c.Message,
		dbTime(c.CreatedAt), dbTime(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("insert link challenge %s: %w", c.ID, err)
	}
	return nil
}

// LinkChallenge returns the challenge with the id, or an error wrapping
// ErrChallengeNotFound.
func (t *Tx) LinkChallenge(ctx context.Context, id string) (LinkChallenge,
	error) {

	var (
		c          LinkChallenge
		usedAt     sql.NullTime
		providerID sql.NullString
	)
	err := t.queryRow(ctx, `SELECT id, node_pubkey, agent_pubkey, alias,
		message, created_at, expires_at, used_at, provider_id
		FROM link_challenges WHERE id = $1`, id).Scan(
		&c.ID, &c.NodePubkey, &c.AgentPubkey, &c.Alias, &c.Message,
		&c.CreatedAt, &c.ExpiresAt, &usedAt, &providerID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return LinkChallenge{}, fmt.Errorf("link challenge %q: %w", id,
			ErrChallengeNotFound)
	case err != nil:
		return LinkChallenge{}, fmt.Errorf("link challenge %q: %w", id,
			mapError(err))
	}
	c.CreatedAt = c.CreatedAt.UTC()
	c.ExpiresAt = c.ExpiresAt.UTC()
	c.UsedAt = fromNull(usedAt)
	c.ProviderID = providerID.String
	return c, nil
}

// UseLinkChallenge marks the challenge used at the time, by the provider it
// linked. It succeeds only for a challenge that is still unused, so of two
// transactions completing one challenge only one commits; the other gets
// an error wrapping ErrChallengeUsed (or ErrChallengeNotFound).
func (t *Tx) UseLinkChallenge(ctx context.Context, id, providerID string,
	at time.Time) error {

	res, err := t.exec(ctx, `UPDATE link_challenges
		SET used_at = $1, provider_id = $2
		WHERE id = $3 AND used_at IS NULL`,
		dbTime(at), providerID, id)
	if err != nil {
		return fmt.Errorf("use link challenge %s: %w", id, err)
	}
	n, err := res.RowsAffected()
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

	err = t.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE
			WHEN node_pubkey = $1 AND expires_at >= $2 THEN 1
			ELSE 0 END), 0)
		FROM link_challenges WHERE used_at IS NULL`, nodePubkey,
		dbTime(now)).Scan(&stored, &openForNode)
	if err != nil {
		return 0, 0, fmt.Errorf("count unused link challenges: %w",
			mapError(err))
	}
	return stored, openForNode, nil
}

// DeleteExpiredChallenges removes unused challenges that expired before
// the time and returns how many. Used challenges stay: they record which
// proof linked a provider.
func (t *Tx) DeleteExpiredChallenges(ctx context.Context,
	before time.Time) (int64, error) {

	res, err := t.exec(ctx, `DELETE FROM link_challenges
		WHERE used_at IS NULL AND expires_at < $1`, dbTime(before))
	if err != nil {
		return 0, fmt.Errorf("delete expired link challenges: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired link challenges: %w",
			mapError(err))
	}
	return n, nil
}

// providerColumns are the columns scanProvider reads, in order.
const providerColumns = `id, node_pubkey, agent_pubkey, alias, status,
	linked_at, created_at, reach, reach_reason, reach_checked_at`

// scanProvider reads one provider row.
func scanProvider(row rowScanner) (Provider, error) {
	var (
		p         Provider
		checkedAt sql.NullTime
	)
	err := row.Scan(&p.ID, &p.NodePubkey, &p.AgentPubkey, &p.Alias,
		&p.Status, &p.LinkedAt, &p.CreatedAt, &p.Reach, &p.ReachReason,
		&checkedAt)
	if err != nil {
		return Provider{}, err
	}
	p.LinkedAt = p.LinkedAt.UTC()
	p.CreatedAt = p.CreatedAt.UTC()
	p.ReachCheckedAt = fromNull(checkedAt)
	return p, nil
}

// InsertProvider stores a new provider. Its agent key is not recorded
// here; AddAgentKey does that.
func (t *Tx) InsertProvider(ctx context.Context, p Provider) error {
	reach := p.Reach
	if reach == "" {
		reach = "unknown"
	}
	_, err := t.exec(ctx, `INSERT INTO providers (`+providerColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		p.ID, p.NodePubkey, p.AgentPubkey, p.Alias, p.Status,
		dbTime(p.LinkedAt), dbTime(p.CreatedAt), reach, p.ReachReason,
		nullTime(p.ReachCheckedAt))
	if err != nil {
		return fmt.Errorf("insert provider %s: %w", p.ID, err)
	}
	return nil
}

// RelinkProvider records a new link of an existing provider: its current
// agent key, alias, status and link time. Reachability is reset to unknown
// until it is checked again.
func (t *Tx) RelinkProvider(ctx context.Context, id, agentPubkey, alias,
	status string, linkedAt time.Time) error {

	res, err := t.exec(ctx, `UPDATE providers SET agent_pubkey = $1,
		alias = $2, status = $3, linked_at = $4, reach = 'unknown',
		reach_reason = '', reach_checked_at = NULL WHERE id = $5`,
		agentPubkey, alias, status, dbTime(linkedAt), id)
	if err != nil {
		return fmt.Errorf("relink provider %s: %w", id, err)
	}
	return expectOneProvider(res, "relink provider", id)
}

// SetProviderReach records a reachability check.
func (t *Tx) SetProviderReach(ctx context.Context, id, reach, reason string,
	at time.Time) error {

	res, err := t.exec(ctx, `UPDATE providers SET reach = $1,
		reach_reason = $2, reach_checked_at = $3 WHERE id = $4`,
		reach, reason, dbTime(at), id)
	if err != nil {
		return fmt.Errorf("set reach of provider %s: %w", id, err)
	}
	return expectOneProvider(res, "set reach of provider", id)
}

// expectOneProvider returns an error wrapping ErrProviderNotFound unless the
// statement changed exactly one row.
func expectOneProvider(res sql.Result, what, id string) error {
	n, err := res.RowsAffected()
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
	p, err := scanProvider(t.queryRow(ctx, `SELECT `+providerColumns+`
		FROM providers WHERE id = $1`, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Provider{}, fmt.Errorf("provider %q: %w", id,
			ErrProviderNotFound)
	case err != nil:
		return Provider{}, fmt.Errorf("provider %q: %w", id,
			mapError(err))
	}
	return p, nil
}

// ProviderByNode returns the provider linked with the node key, or an
// error wrapping ErrProviderNotFound.
func (t *Tx) ProviderByNode(ctx context.Context, nodePubkey string) (
	Provider, error) {

	p, err := scanProvider(t.queryRow(ctx, `SELECT `+providerColumns+`
		FROM providers WHERE node_pubkey = $1`, nodePubkey))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Provider{}, fmt.Errorf("provider of node %s: %w",
			nodePubkey, ErrProviderNotFound)
	case err != nil:
		return Provider{}, fmt.Errorf("provider of node %s: %w",
			nodePubkey, mapError(err))
	}
	return p, nil
}

// Providers returns every provider, oldest first.
func (t *Tx) Providers(ctx context.Context) ([]Provider, error) {
	rows, err := t.query(ctx, `SELECT `+providerColumns+`
		FROM providers ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list providers: %w", err)
	}
	defer rows.Close()

	var out []Provider
	for rows.Next() {
		p, err := scanProvider(rows)
		if err != nil {
			return nil, fmt.Errorf("list providers: %w",
				mapError(err))
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list providers: %w", mapError(err))
	}
	return out, nil
}

// AddAgentKey records a new current agent key for the provider. The
// provider's previous current key must have been revoked first
// (RevokeAgentKeys); a second current key is refused with
// ErrUniqueViolation, as is a key the provider had before.
func (t *Tx) AddAgentKey(ctx context.Context, providerID,
	agentPubkey string, at time.Time) error {

	_, err := t.exec(ctx, `INSERT INTO provider_agent_keys
		(provider_id, agent_pubkey, added_at) VALUES ($1, $2, $3)`,
		providerID, agentPubkey, dbTime(at))
	if err != nil {
		return fmt.Errorf("add agent key of provider %s: %w",
			providerID, err)
	}
	return nil
}

// RevokeAgentKeys revokes the provider's current agent key, if any, at the
// time, and returns how many keys it revoked (0 or 1).
func (t *Tx) RevokeAgentKeys(ctx context.Context, providerID string,
	at time.Time) (int64, error) {

	res, err := t.exec(ctx, `UPDATE provider_agent_keys SET revoked_at = $1
		WHERE provider_id = $2 AND revoked_at IS NULL`,
		dbTime(at), providerID)
	if err != nil {
		return 0, fmt.Errorf("revoke agent keys of provider %s: %w",
			providerID, err)
	}
	n, err := res.RowsAffected()
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

	rows, err := t.query(ctx, `SELECT provider_id, agent_pubkey, added_at,
		revoked_at FROM provider_agent_keys
		WHERE ($1 = '' OR provider_id = $1)
		AND ($2 = '' OR agent_pubkey = $2)
		ORDER BY added_at, agent_pubkey`, providerID, agentPubkey)
	if err != nil {
		return nil, fmt.Errorf("agent keys: %w", err)
	}
	defer rows.Close()

	var out []AgentKey
	for rows.Next() {
		var (
			k         AgentKey
			revokedAt sql.NullTime
		)
		err := rows.Scan(&k.ProviderID, &k.AgentPubkey, &k.AddedAt,
			&revokedAt)
		if err != nil {
			return nil, fmt.Errorf("agent keys: %w", mapError(err))
		}
		k.AddedAt = k.AddedAt.UTC()
		k.RevokedAt = fromNull(revokedAt)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("agent keys: %w", mapError(err))
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
	_, err := t.exec(ctx, `DELETE FROM provider_rates
		WHERE provider_id = $1`, providerID)
	if err != nil {
		return fmt.Errorf("clear rates of provider %s: %w", providerID,
			err)
	}
	for resource, rate := range rates {
		_, err := t.exec(ctx, `INSERT INTO provider_rates
			(provider_id, resource, rate, updated_at)
			VALUES ($1, $2, $3, $4)`,
			providerID, resource, rate, dbTime(at))
		if err != nil {
			return fmt.Errorf("set rate %s of provider %s: %w",
				resource, providerID, err)
		}
	}
	return nil
}

// ProviderRates returns the provider's rate card, resource to decimal
// string; empty when it has none.
func (t *Tx) ProviderRates(ctx context.Context, providerID string) (
	map[string]string, error) {

	rows, err := t.query(ctx, `SELECT resource, rate FROM provider_rates
		WHERE provider_id = $1`, providerID)
	if err != nil {
		return nil, fmt.Errorf("rates of provider %s: %w", providerID,
			err)
	}
	defer rows.Close()

	out := make(map[string]string)
	for rows.Next() {
		var resource, rate string
		if err := rows.Scan(&resource, &rate); err != nil {
			return nil, fmt.Errorf("rates of provider %s: %w",
				providerID, mapError(err))
		}
		out[resource] = rate
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rates of provider %s: %w", providerID,
			mapError(err))
	}
	return out, nil
}
