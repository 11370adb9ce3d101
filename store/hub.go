package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/store/sqlc"
)

// The hub row: which lnd node, on which network, this store belongs to.
// Package daemon decides what a difference means (it refuses to start);
// the store only keeps the one row.

// HubIdentity is the hub a store belongs to, as stored.
type HubIdentity struct {
	// NodePubkey is the hub lnd's compressed identity key, 66 lower-case
	// hex characters.
	NodePubkey string

	// Network is the bitcoin network the hub is on, in lnd's names.
	Network string

	// RecordedAt is when the identity was recorded.
	RecordedAt time.Time
}

// HubIdentity returns the hub the store belongs to, or an error wrapping
// ErrNotFound when none is recorded yet (a new store, or one made before
// the hub was recorded).
func (t *Tx) HubIdentity(ctx context.Context) (HubIdentity, error) {
	row, err := t.q.GetHub(ctx)
	h := HubIdentity{NodePubkey: row.NodePubkey, Network: row.Network,
		RecordedAt: row.RecordedAt}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return HubIdentity{}, fmt.Errorf("hub identity: %w",
			ErrNotFound)

	case err != nil:
		return HubIdentity{}, fmt.Errorf("hub identity: %w",
			mapError(err))
	}
	h.RecordedAt = h.RecordedAt.UTC()

	return h, nil
}

// SetHubIdentity records h as the hub the store belongs to, replacing the
// one recorded before, if any. A key that is not 66 characters or an empty
// network fails with ErrCheckViolation.
func (t *Tx) SetHubIdentity(ctx context.Context, h HubIdentity) error {
	err := t.q.SetHub(ctx, sqlc.SetHubParams{NodePubkey: h.NodePubkey,
		Network: h.Network, RecordedAt: dbTime(h.RecordedAt)})
	if err != nil {
		return fmt.Errorf("record hub %s on %s: %w", h.NodePubkey,
			h.Network, err)
	}

	return nil
}
