package store

import (
	"context"
	"time"

	"github.com/sluice-ln/sluice/channels"
)

// Compile-time check that the store is what channels' Manager needs.
var _ channels.Store = (*DB)(nil)

// ExecChannels runs fn in one transaction over channels' rows
// (channels.StoreTx), retried as ExecTx retries.
func (d *DB) ExecChannels(ctx context.Context, readOnly bool,
	fn func(channels.StoreTx) error) error {

	return d.ExecTx(ctx, TxOptions{ReadOnly: readOnly},
		func(tx *Tx) error {
			return fn(channelsTx{tx: tx})
		})
}

// channelsTx is a store transaction as channels uses it: channels' rows,
// converted from and to the store's. Its not-found and used errors are
// channels' sentinels already (store/channels.go).
type channelsTx struct {
	tx *Tx
}

// Compile-time check that channelsTx is channels' transaction.
var _ channels.StoreTx = channelsTx{}

func (c channelsTx) InsertLinkChallenge(ctx context.Context,
	ch channels.StoredChallenge) error {

	return c.tx.InsertLinkChallenge(ctx, LinkChallenge{
		ID:          ch.ID,
		NodePubkey:  ch.NodePubkey,
		AgentPubkey: ch.AgentPubkey,
		Alias:       ch.Alias,
		Message:     ch.Message,
		CreatedAt:   ch.CreatedAt,
		ExpiresAt:   ch.ExpiresAt,
		UsedAt:      ch.UsedAt,
		ProviderID:  ch.ProviderID,
	})
}

func (c channelsTx) LinkChallenge(ctx context.Context, id string) (
	channels.StoredChallenge, error) {

	ch, err := c.tx.LinkChallenge(ctx, id)
	if err != nil {
		return channels.StoredChallenge{}, err
	}
	return channels.StoredChallenge{
		ID:          ch.ID,
		NodePubkey:  ch.NodePubkey,
		AgentPubkey: ch.AgentPubkey,
		Alias:       ch.Alias,
		Message:     ch.Message,
		CreatedAt:   ch.CreatedAt,
		ExpiresAt:   ch.ExpiresAt,
		UsedAt:      ch.UsedAt,
		ProviderID:  ch.ProviderID,
	}, nil
}

func (c channelsTx) UseLinkChallenge(ctx context.Context, id,
	providerID string, at time.Time) error {

	return c.tx.UseLinkChallenge(ctx, id, providerID, at)
}

func (c channelsTx) UnusedChallenges(ctx context.Context, nodePubkey string,
	now time.Time) (int, int, error) {

	return c.tx.UnusedChallenges(ctx, nodePubkey, now)
}

func (c channelsTx) DeleteExpiredChallenges(ctx context.Context,
	before time.Time) (int64, error) {

	return c.tx.DeleteExpiredChallenges(ctx, before)
}

func (c channelsTx) InsertProvider(ctx context.Context,
	p channels.StoredProvider) error {

	return c.tx.InsertProvider(ctx, Provider{
		ID:             p.ID,
		NodePubkey:     p.NodePubkey,
		AgentPubkey:    p.AgentPubkey,
		Alias:          p.Alias,
		Status:         string(p.Status),
		LinkedAt:       p.LinkedAt,
		CreatedAt:      p.CreatedAt,
		Reach:          string(p.Reach),
		ReachReason:    p.ReachReason,
		ReachCheckedAt: p.ReachCheckedAt,
	})
}

func (c channelsTx) RelinkProvider(ctx context.Context, id, agentPubkey,
	alias string, status channels.Status, linkedAt time.Time) error {

	return c.tx.RelinkProvider(ctx, id, agentPubkey, alias, string(status),
		linkedAt)
}

func (c channelsTx) SetProviderReach(ctx context.Context, id string,
	reach channels.ReachState, reason string, at time.Time) error {

	return c.tx.SetProviderReach(ctx, id, string(reach), reason, at)
}

// storedProvider is a providers row as channels keeps it.
func storedProvider(p Provider) channels.StoredProvider {
	return channels.StoredProvider{
		ID:             p.ID,
		NodePubkey:     p.NodePubkey,
		AgentPubkey:    p.AgentPubkey,
		Alias:          p.Alias,
		Status:         channels.Status(p.Status),
		LinkedAt:       p.LinkedAt,
		CreatedAt:      p.CreatedAt,
		Reach:          channels.ReachState(p.Reach),
		ReachReason:    p.ReachReason,
		ReachCheckedAt: p.ReachCheckedAt,
	}
}

func (c channelsTx) Provider(ctx context.Context, id string) (
	channels.StoredProvider, error) {

	p, err := c.tx.Provider(ctx, id)
	if err != nil {
		return channels.StoredProvider{}, err
	}
	return storedProvider(p), nil
}

func (c channelsTx) Providers(ctx context.Context) ([]channels.StoredProvider,
	error) {

	rows, err := c.tx.Providers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]channels.StoredProvider, len(rows))
	for i, p := range rows {
		out[i] = storedProvider(p)
	}
	return out, nil
}

func (c channelsTx) AddAgentKey(ctx context.Context, providerID,
	agentPubkey string, at time.Time) error {

	return c.tx.AddAgentKey(ctx, providerID, agentPubkey, at)
}

func (c channelsTx) RevokeAgentKeys(ctx context.Context, providerID string,
	at time.Time) (int64, error) {

	return c.tx.RevokeAgentKeys(ctx, providerID, at)
}

func (c channelsTx) AgentKeys(ctx context.Context, providerID,
	agentPubkey string) ([]channels.StoredAgentKey, error) {

	rows, err := c.tx.AgentKeys(ctx, providerID, agentPubkey)
	if err != nil {
		return nil, err
	}
	out := make([]channels.StoredAgentKey, len(rows))
	for i, k := range rows {
		out[i] = channels.StoredAgentKey{
			ProviderID:  k.ProviderID,
			AgentPubkey: k.AgentPubkey,
			AddedAt:     k.AddedAt,
			RevokedAt:   k.RevokedAt,
		}
	}
	return out, nil
}

func (c channelsTx) SetProviderRates(ctx context.Context, providerID string,
	rates map[string]string, at time.Time) error {

	return c.tx.SetProviderRates(ctx, providerID, rates, at)
}

func (c channelsTx) ProviderRates(ctx context.Context, providerID string) (
	map[string]string, error) {

	return c.tx.ProviderRates(ctx, providerID)
}
