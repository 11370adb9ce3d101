package rpc

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
)

// Reconciler compares the ledger with the hub's lnd; the daemon's runs
// reconcile.Run over its store and lnd.
type Reconciler interface {
	// Reconcile returns the comparison's report. Differences are in the
	// report; an error means the comparison could not be made.
	Reconcile(ctx context.Context) (*reconcile.Report, error)
}

// ReconcilerFunc lets a function be a Reconciler.
type ReconcilerFunc func(ctx context.Context) (*reconcile.Report, error)

// Reconcile calls f.
func (f ReconcilerFunc) Reconcile(ctx context.Context) (*reconcile.Report,
	error) {

	return f(ctx)
}

// Reconcile compares the ledger with the hub's lnd and returns every
// difference.
func (s *operatorService) Reconcile(ctx context.Context,
	_ *connect.Request[sluicerpc.ReconcileRequest]) (
	*connect.Response[sluicerpc.ReconcileResponse], error) {

	if s.reconciler == nil {
		return nil, connect.NewError(connect.CodeUnimplemented,
			errors.New("reconciliation is not served"))
	}
	r, err := s.reconciler.Reconcile(ctx)
	if err != nil {
		if errors.Is(err, context.Canceled) ||
			errors.Is(err, context.DeadlineExceeded) {

			return nil, connect.NewError(connect.CodeCanceled, err)
		}
		log.Errorf("Reconcile: %v", err)
		return nil, connect.NewError(connect.CodeUnavailable,
			fmt.Errorf("reconcile: %w", err))
	}
	return connect.NewResponse(reconcileProto(r)), nil
}

// reconcileProto is a reconciliation report as the API shows it.
func reconcileProto(r *reconcile.Report) *sluicerpc.ReconcileResponse {
	resp := &sluicerpc.ReconcileResponse{
		At:              ts(r.At),
		Invoices:        int64(r.Invoices),
		Payouts:         int64(r.Payouts),
		Refunds:         int64(r.Refunds),
		Resolving:       int64(r.Resolving),
		ForeignInvoices: int64(r.ForeignInvoices),
		ForeignPayments: int64(r.ForeignPayments),
		Ledger:          totalsProto(r.Ledger),
		Lnd:             totalsProto(r.Lnd),
		Ok:              r.OK(),
		VaultMsat:       int64(r.Vault),
	}
	if c := r.ShareAsset; c != nil {
		resp.ShareAsset = &sluicerpc.ShareAssetCheck{
			Genesis:           c.Genesis,
			TapdIssuedUnits:   c.Tapd.Issued,
			TapdBurnedUnits:   c.Tapd.Burned,
			TapdHeldUnits:     c.Tapd.Held,
			LedgerSupplyUnits: int64(c.Ledger),
			Epoch:             c.Epoch,
			BehindEpochs:      int64(c.Behind),
			Matches:           c.Matches(),
			InFlight:          c.InFlight,
		}
		want, ok := c.HeldWant()
		resp.ShareAsset.HeldCompared = ok
		resp.ShareAsset.HeldWantUnits = want
	}
	for _, d := range r.Differences {
		resp.Differences = append(resp.Differences,
			&sluicerpc.ReconcileDifference{
				Kind: string(d.Kind), Subject: d.Subject,
				Sluice: d.Sluice, Lnd: d.Lnd,
			})
	}
	return resp
}

// totalsProto is one side's totals as the API shows them.
func totalsProto(t reconcile.Totals) *sluicerpc.ReconcileTotals {
	return &sluicerpc.ReconcileTotals{
		FundedMsat:      int64(t.Funded),
		PaidOutMsat:     int64(t.PaidOut),
		RefundedMsat:    int64(t.Refunded),
		RoutingFeesMsat: int64(t.RoutingFees),
		HeldMsat:        int64(t.Held),
	}
}
