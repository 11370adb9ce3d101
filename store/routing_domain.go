package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store/sqlc"
	"github.com/sluice-ln/sluice/yield/routing"
)

// The routing strategy's channels (migration 000015), converted from and
// to package routing's types.

// Compile-time check that the store is what the routing strategy needs.
var _ routing.Store = (*DB)(nil)

// routingChannel is a yield_channels row as package routing keeps it.
func routingChannel(row sqlc.YieldChannel) (routing.Channel, error) {
	peer, err := route.NewVertexFromStr(row.Peer)
	if err != nil {
		return routing.Channel{}, fmt.Errorf("routing channel of "+
			"action %d: peer %q: %w", row.ActionID, row.Peer, err)
	}
	if row.ShortChanID < 0 || row.OpenHeight < 0 ||
		row.OpenHeight > math.MaxUint32 {

		return routing.Channel{}, fmt.Errorf("routing channel of "+
			"action %d: short channel id %d or height %d out of "+
			"range", row.ActionID, row.ShortChanID, row.OpenHeight)
	}
	return routing.Channel{
		ActionID:        row.ActionID,
		ChanPoint:       row.ChanPoint.String,
		Peer:            peer,
		Capacity:        ledger.MilliSatoshi(row.CapacityMsat),
		Memo:            row.Memo,
		Status:          routing.ChannelStatus(row.Status),
		ShortChanID:     uint64(row.ShortChanID),
		OpenHeight:      uint32(row.OpenHeight),
		OpenedAt:        row.OpenedAt.UTC(),
		OpenTxid:        row.OpenTxid,
		OpenCostPosted:  row.OpenCostPosted,
		CloseTxid:       row.CloseTxid,
		CloseCostPosted: row.CloseCostPosted,
		Returned:        row.Returned,
		UpdatedAt:       row.UpdatedAt.UTC(),
	}, nil
}

// nullText is s for a nullable column: NULL for "".
func nullText(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// checkRoutingChannel refuses what the columns cannot hold as given.
func checkRoutingChannel(ch routing.Channel) error {
	switch {
	case !ch.Status.Valid():
		return fmt.Errorf("routing channel of action %d: status %q: "+
			"%w", ch.ActionID, ch.Status, ErrCheckViolation)

	case ch.ShortChanID > math.MaxInt64:
		return fmt.Errorf("routing channel of action %d: short "+
			"channel id %d: %w", ch.ActionID, ch.ShortChanID,
			ErrCheckViolation)
	}
	return nil
}

// InsertRoutingChannel records ch unless its action has a row, and
// returns the row stored.
func (db *DB) InsertRoutingChannel(ctx context.Context, ch routing.Channel) (
	routing.Channel, error) {

	if err := checkRoutingChannel(ch); err != nil {
		return routing.Channel{}, err
	}
	var got routing.Channel
	err := db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		err := tx.q.InsertYieldChannel(ctx,
			sqlc.InsertYieldChannelParams{
				ActionID:        ch.ActionID,
				ChanPoint:       nullText(ch.ChanPoint),
				Peer:            ch.Peer.String(),
				CapacityMsat:    int64(ch.Capacity),
				Memo:            ch.Memo,
				Status:          string(ch.Status),
				ShortChanID:     int64(ch.ShortChanID),
				OpenHeight:      int64(ch.OpenHeight),
				OpenedAt:        dbTime(ch.OpenedAt),
				OpenTxid:        ch.OpenTxid,
				OpenCostPosted:  ch.OpenCostPosted,
				CloseTxid:       ch.CloseTxid,
				CloseCostPosted: ch.CloseCostPosted,
				Returned:        ch.Returned,
				UpdatedAt:       dbTime(ch.UpdatedAt),
			})
		if err != nil {
			return mapError(err)
		}
		row, err := tx.q.GetYieldChannel(ctx, ch.ActionID)
		if err != nil {
			return mapError(err)
		}
		got, err = routingChannel(row)
		return err
	})
	if err != nil {
		return routing.Channel{}, fmt.Errorf("routing channel of "+
			"action %d: %w", ch.ActionID, err)
	}
	return got, nil
}

// RoutingChannels returns every routing channel row, in the order
// recorded.
func (db *DB) RoutingChannels(ctx context.Context) ([]routing.Channel, error) {
	var out []routing.Channel
	err := db.ExecTx(ctx, TxOptions{ReadOnly: true}, func(tx *Tx) error {
		rows, err := tx.q.ListYieldChannels(ctx)
		if err != nil {
			return fmt.Errorf("routing channels: %w", mapError(err))
		}
		out = make([]routing.Channel, 0, len(rows))
		for _, row := range rows {
			ch, err := routingChannel(row)
			if err != nil {
				return err
			}
			out = append(out, ch)
		}
		return nil
	})
	return out, err
}

// UpdateRoutingChannel writes what changes over the channel's life to its
// action's row: the point and txids only where the row has none, the
// flags only from false to true.
func (db *DB) UpdateRoutingChannel(ctx context.Context,
	ch routing.Channel) error {

	if err := checkRoutingChannel(ch); err != nil {
		return err
	}
	return db.ExecTx(ctx, TxOptions{}, func(tx *Tx) error {
		n, err := tx.q.UpdateYieldChannel(ctx,
			sqlc.UpdateYieldChannelParams{
				ChanPoint:       nullText(ch.ChanPoint),
				OpenTxid:        ch.OpenTxid,
				CloseTxid:       ch.CloseTxid,
				Status:          string(ch.Status),
				ShortChanID:     int64(ch.ShortChanID),
				OpenHeight:      int64(ch.OpenHeight),
				OpenCostPosted:  ch.OpenCostPosted,
				CloseCostPosted: ch.CloseCostPosted,
				Returned:        ch.Returned,
				UpdatedAt:       dbTime(ch.UpdatedAt),
				ActionID:        ch.ActionID,
			})
		switch {
		case err != nil:
			return fmt.Errorf("routing channel of action %d: %w",
				ch.ActionID, mapError(err))

		case n == 0:
			return fmt.Errorf("%w: action %d",
				routing.ErrChannelNotFound, ch.ActionID)
		}
		return nil
	})
}
