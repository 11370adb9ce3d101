package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store/sqlc"
	"github.com/sluice-ln/sluice/yield/lease"
)

// The lease strategy's rows (migration 000016), converted from and to
// package lease's types. Each method is its own transaction: the strategy
// moves a lease by a compare-and-set on its state (UpdateLease), and its
// postings go through the vault's books.

// Compile-time check that the store is what the lease strategy needs.
var _ lease.Store = (*DB)(nil)

// InsertLease stores l unless its key is stored already; then that lease
// comes back with false.
func (d *DB) InsertLease(ctx context.Context, l lease.Lease) (lease.Lease,
	bool, error) {

	var (
		out     lease.Lease
		created bool
	)
	err := d.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		n, err := tx.q.InsertYieldLease(ctx, sqlc.InsertYieldLeaseParams{
			ID:               l.ID,
			IdemKey:          nullString(l.Key),
			Node:             l.Node.String(),
			CapacitySat:      int64(l.Capacity),
			Blocks:           int64(l.Blocks),
			RatePpb:          int64(l.RatePPB),
			PremiumMsat:      int64(l.Premium),
			Preimage:         l.Preimage.String(),
			PaymentHash:      l.Hash.String(),
			PaymentRequest:   l.PayReq,
			InvoiceExpiresAt: dbTime(l.InvoiceExpiresAt),
			State:            string(l.State),
			Reason:           l.Reason,
			ActionID:         l.ActionID,
			ChanPoint:        l.ChanPoint,
			HtlcExpiry:       int64(l.HTLCExpiry),
			StartHeight:      int64(l.StartHeight),
			ExpiryHeight:     int64(l.ExpiryHeight),
			Settled:          l.Settled,
			InvoiceDone:      l.InvoiceDone,
			RecognisedMsat:   int64(l.Recognised),
			RecognisedHeight: int64(l.RecognisedHeight),
			OpenCostPosted:   l.OpenCostPosted,
			CloseTxid:        l.CloseTxid,
			CloseCostPosted:  l.CloseCostPosted,
			Returned:         l.Returned,
			CreatedAt:        dbTime(l.CreatedAt),
			UpdatedAt:        dbTime(l.UpdatedAt),
		})
		if err != nil {
			return mapError(err)
		}
		created = n == 1
		var r sqlc.YieldLease
		if created {
			r, err = tx.q.GetYieldLease(ctx, l.ID)
		} else {
			r, err = tx.q.GetYieldLeaseByKey(ctx,
				nullString(l.Key))
		}
		if err != nil {
			return mapError(err)
		}
		out, err = leaseFromRow(r)
		return err
	})
	if err != nil {
		return lease.Lease{}, false, err
	}
	return out, created, nil
}

// Lease returns the lease with the id.
func (d *DB) Lease(ctx context.Context, id string) (lease.Lease, error) {
	var out lease.Lease
	err := d.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		r, err := tx.q.GetYieldLease(ctx, id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", lease.ErrLeaseNotFound, id)
		}
		if err != nil {
			return mapError(err)
		}
		out, err = leaseFromRow(r)
		return err
	})
	return out, err
}

// LeaseByKey returns the lease stored for the key.
func (d *DB) LeaseByKey(ctx context.Context, key string) (lease.Lease,
	error) {

	var out lease.Lease
	err := d.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		r, err := tx.q.GetYieldLeaseByKey(ctx, nullString(key))
		if errors.Is(err, sql.ErrNoRows) || key == "" {
			return fmt.Errorf("%w: key %q", lease.ErrLeaseNotFound,
				key)
		}
		if err != nil {
			return mapError(err)
		}
		out, err = leaseFromRow(r)
		return err
	})
	return out, err
}

// Leases returns the leases f selects, oldest first.
func (d *DB) Leases(ctx context.Context, f lease.Filter) ([]lease.Lease,
	error) {

	var node string
	if f.Node != nil {
		node = f.Node.String()
	}
	var out []lease.Lease
	err := d.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		out = nil
		rows, err := tx.q.ListYieldLeases(ctx, node)
		if err != nil {
			return mapError(err)
		}
		for _, r := range rows {
			if len(f.States) > 0 && !slices.Contains(f.States,
				lease.State(r.State)) {

				continue
			}
			l, err := leaseFromRow(r)
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		return nil
	})
	return out, err
}

// UpdateLease writes l's changing fields if its row is in state from.
func (d *DB) UpdateLease(ctx context.Context, l lease.Lease,
	from lease.State) error {

	return d.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		n, err := tx.q.UpdateYieldLease(ctx, sqlc.UpdateYieldLeaseParams{
			ID:               l.ID,
			FromState:        string(from),
			State:            string(l.State),
			Reason:           l.Reason,
			PaymentRequest:   l.PayReq,
			ActionID:         l.ActionID,
			ChanPoint:        l.ChanPoint,
			HtlcExpiry:       int64(l.HTLCExpiry),
			StartHeight:      int64(l.StartHeight),
			ExpiryHeight:     int64(l.ExpiryHeight),
			Settled:          l.Settled,
			InvoiceDone:      l.InvoiceDone,
			RecognisedMsat:   int64(l.Recognised),
			RecognisedHeight: int64(l.RecognisedHeight),
			OpenCostPosted:   l.OpenCostPosted,
			CloseTxid:        l.CloseTxid,
			CloseCostPosted:  l.CloseCostPosted,
			Returned:         l.Returned,
			UpdatedAt:        dbTime(l.UpdatedAt),
		})
		if err != nil {
			return mapError(err)
		}
		if n == 1 {
			return nil
		}
		cur, err := tx.q.GetYieldLease(ctx, l.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %s", lease.ErrLeaseNotFound,
				l.ID)
		}
		if err != nil {
			return mapError(err)
		}
		return fmt.Errorf("%w: lease %s is %s, not %s",
			lease.ErrStateChanged, l.ID, cur.State, from)
	})
}

// nullString is s, NULL when empty.
func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// leaseFromRow converts a yield_leases row.
func leaseFromRow(r sqlc.YieldLease) (lease.Lease, error) {
	node, err := route.NewVertexFromStr(r.Node)
	if err != nil {
		return lease.Lease{}, fmt.Errorf("lease %s: node: %w", r.ID,
			err)
	}
	pre, err := lntypes.MakePreimageFromStr(r.Preimage)
	if err != nil {
		return lease.Lease{}, fmt.Errorf("lease %s: preimage: %w",
			r.ID, err)
	}
	hash, err := lntypes.MakeHashFromStr(r.PaymentHash)
	if err != nil {
		return lease.Lease{}, fmt.Errorf("lease %s: hash: %w", r.ID,
			err)
	}
	return lease.Lease{
		ID:               r.ID,
		Key:              r.IdemKey.String,
		Node:             node,
		Capacity:         btcutil.Amount(r.CapacitySat),
		Blocks:           uint32(r.Blocks),
		RatePPB:          uint64(r.RatePpb),
		Premium:          ledger.MilliSatoshi(r.PremiumMsat),
		Preimage:         pre,
		Hash:             hash,
		PayReq:           r.PaymentRequest,
		InvoiceExpiresAt: r.InvoiceExpiresAt.UTC(),
		State:            lease.State(r.State),
		Reason:           r.Reason,
		ActionID:         r.ActionID,
		ChanPoint:        r.ChanPoint,
		HTLCExpiry:       uint32(r.HtlcExpiry),
		StartHeight:      uint32(r.StartHeight),
		ExpiryHeight:     uint32(r.ExpiryHeight),
		Settled:          r.Settled,
		InvoiceDone:      r.InvoiceDone,
		Recognised:       ledger.MilliSatoshi(r.RecognisedMsat),
		RecognisedHeight: uint32(r.RecognisedHeight),
		OpenCostPosted:   r.OpenCostPosted,
		CloseTxid:        r.CloseTxid,
		CloseCostPosted:  r.CloseCostPosted,
		Returned:         r.Returned,
		CreatedAt:        r.CreatedAt.UTC(),
		UpdatedAt:        r.UpdatedAt.UTC(),
	}, nil
}
