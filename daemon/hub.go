package daemon

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/lightningnetwork/lnd/routing/route"

	"github.com/sluice-ln/sluice/store"
)

// ErrHubMismatch is returned by CheckHub, and so by Start, when the store
// was recorded with another hub node or network than the lnd sluiced is
// connected to. Starting anyway would resume the store's pending payouts
// on a node that never made them: it finds none, and pays them again.
var ErrHubMismatch = errors.New("the store belongs to another hub")

// Hub is the lnd node a store belongs to: its identity key and network.
type Hub struct {
	Node    route.Vertex
	Network string
}

// String is the hub as messages name it: node <hex> on <network>.
func (h Hub) String() string {
	return fmt.Sprintf("node %x on %s", h.Node[:], h.Network)
}

// HubRecords keeps the hub a store belongs to; the store implements it
// through storeHubs.
type HubRecords interface {
	// RecordedHub returns the hub recorded, and false when none is (a
	// new store, or one made before hubs were recorded).
	RecordedHub(ctx context.Context) (Hub, bool, error)

	// RecordHub records hub at the time given, replacing the hub
	// recorded before.
	RecordHub(ctx context.Context, hub Hub, at time.Time) error
}

// CheckHub makes sure the store belongs to the hub sluiced is connected
// to, before anything resumes from the store. On first start (no hub
// recorded) it records found. When the recorded hub differs in node or
// network it returns ErrHubMismatch naming both, unless allowChange (the
// operator's --hub.allowchange) says the move is meant: then it records
// found in place of the old hub, with a warning.
func CheckHub(ctx context.Context, records HubRecords, found Hub,
	allowChange bool, now time.Time) error {

	recorded, ok, err := records.RecordedHub(ctx)
	if err != nil {
		return fmt.Errorf("read the store's hub: %w", err)
	}

	switch {
	case !ok:
		log.Infof("Recording %s as this store's hub", found)

	case recorded == found:
		if allowChange {
			log.Infof("--hub.allowchange given, but the store " +
				"already belongs to this hub; remove the option")
		}
		return nil

	case !allowChange:
		return fmt.Errorf("%w: the store was recorded with %s, but "+
			"lnd is %s; point --lnd.host (and --network) at the "+
			"store's hub, or, if the store is meant to move to "+
			"this node, start once with --hub.allowchange (pending "+
			"payouts made by the old node are then paid again: "+
			"see docs/operations.md)", ErrHubMismatch, recorded,
			found)

	default:
		log.Warnf("--hub.allowchange: moving the store from %s to %s; "+
			"payouts still pending on the old node will be "+
			"tracked on the new one, which never saw them, and "+
			"paid again", recorded, found)
	}

	if err := records.RecordHub(ctx, found, now); err != nil {
		return fmt.Errorf("record the store's hub: %w", err)
	}

	return nil
}

// storeHubs keeps the hub in the store's hub row.
type storeHubs struct {
	db *store.DB
}

var _ HubRecords = storeHubs{}

// RecordedHub reads the hub row.
func (s storeHubs) RecordedHub(ctx context.Context) (Hub, bool, error) {
	var row store.HubIdentity
	err := s.db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			var err error
			row, err = tx.HubIdentity(ctx)
			return err
		})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Hub{}, false, nil

	case err != nil:
		return Hub{}, false, err
	}

	key, err := hex.DecodeString(row.NodePubkey)
	if err != nil || len(key) != len(route.Vertex{}) {
		return Hub{}, false, fmt.Errorf("the store's hub key %q is "+
			"not a 33-byte hex key", row.NodePubkey)
	}
	hub := Hub{Network: row.Network}
	copy(hub.Node[:], key)

	return hub, true, nil
}

// RecordHub writes the hub row.
func (s storeHubs) RecordHub(ctx context.Context, hub Hub,
	at time.Time) error {

	return s.db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		return tx.SetHubIdentity(ctx, store.HubIdentity{
			NodePubkey: hex.EncodeToString(hub.Node[:]),
			Network:    hub.Network,
			RecordedAt: at,
		})
	})
}
