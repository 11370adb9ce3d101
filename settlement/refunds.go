package settlement

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/cenkalti/backoff/v4"
	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/lightningnetwork/lnd/lnwire"
	"github.com/lightningnetwork/lnd/routing/route"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/lightning"
	"github.com/sluice-ln/sluice/outbound"
)

// The ways a refund invoice is refused; each wraps ErrInvalidRefund.
var (
	// ErrRefundInvoiceMalformed: the invoice does not decode.
	ErrRefundInvoiceMalformed = errors.New("refund invoice does not decode")

	// ErrRefundWrongNetwork: the invoice is for another network.
	ErrRefundWrongNetwork = errors.New("refund invoice is for another " +
		"network")

	// ErrRefundInvoiceExpired: the invoice has expired, or expires too
	// soon to be paid.
	ErrRefundInvoiceExpired = errors.New("refund invoice expired")

	// ErrRefundAmountMismatch: the invoice asks an amount other than the
	// refund.
	ErrRefundAmountMismatch = errors.New("refund invoice amount is not " +
		"the refund")

	// ErrRefundToHub: the invoice or node key is the hub's own.
	ErrRefundToHub = errors.New("refund would pay the hub itself")
)

// RefundMinValidity is how long a refund invoice must still be payable
// when it is handed in.
const RefundMinValidity = 30 * time.Second

// RefundMethod is how a refund is paid.
type RefundMethod string

// The refund methods.
const (
	RefundByInvoice RefundMethod = "invoice"
	RefundByKeysend RefundMethod = "keysend"
)

// RefundState is where a refund is in its life: the one outbound
// lifecycle's status, stored as the same strings.
type RefundState = outbound.Status

// Refund states.
const (
	RefundPending   = outbound.StatusPending
	RefundSucceeded = outbound.StatusSucceeded
	RefundFailed    = outbound.StatusFailed
)

// refundFailpoints are the refunds' failpoints in the lifecycle; lnd's
// Pay tells nothing before the outcome, so there is none after the send.
var refundFailpoints = outbound.Failpoints{
	AfterIntent:  FailpointRefundAfterIntent,
	AfterSuccess: FailpointRefundAfterSuccess,
}

// Refund is a payment of what was left in a job's escrow to its buyer.
type Refund struct {
	PaymentHash    string
	Method         RefundMethod
	PaymentRequest string
	Dest           route.Vertex

	// Amount is what the buyer gets; FeeLimit the most routing may cost
	// (reserved from the escrow); Fee what it cost.
	Amount   ledger.MilliSatoshi
	FeeLimit ledger.MilliSatoshi
	Fee      ledger.MilliSatoshi

	// State is pending, succeeded or failed; Failure says why it failed.
	State   RefundState
	Failure string

	CreatedAt  time.Time
	ResolvedAt time.Time
}

// refundFromRow converts a stored refund.
func refundFromRow(r StoredRefund) Refund {
	out := Refund{
		PaymentHash: r.PaymentHash, Method: r.Method,
		PaymentRequest: r.PaymentRequest, Amount: r.Amount,
		FeeLimit: r.FeeLimit, Fee: r.Fee, State: r.State,
		Failure: r.Failure, CreatedAt: r.CreatedAt,
		ResolvedAt: r.ResolvedAt,
	}
	if raw, err := hex.DecodeString(r.DestPubkey); err == nil &&
		len(raw) == len(out.Dest) {

		copy(out.Dest[:], raw)
	}
	return out
}

// RefundTo says where a job's refund goes: a BOLT11 invoice of the buyer's
// (zero-amount, or for exactly the refund), or a keysend to the buyer's
// node. Both empty uses the node given when the job was created, if any.
type RefundTo struct {
	Invoice string

	Node    route.Vertex
	HasNode bool
}

// EndJobRequest ends a job.
type EndJobRequest struct {
	JobID string

	// By is CauseEndedByBuyer, CauseEndedByProvider,
	// CauseEndedByOperator or (the sweeper's) CauseProviderLost.
	By Cause

	// RefundTo is where the rest of the escrow goes.
	RefundTo RefundTo
}

// networks are the networks an invoice may be for, to name the one a
// refund invoice of the wrong network is for.
var networks = []struct {
	name   string
	params *chaincfg.Params
}{
	{"mainnet", &chaincfg.MainNetParams},
	{"testnet", &chaincfg.TestNet3Params},
	{"testnet4", &chaincfg.TestNet4Params},
	{"signet", &chaincfg.SigNetParams},
	{"simnet", &chaincfg.SimNetParams},
	{"regtest", &chaincfg.RegressionNetParams},
}

// CheckRefundInvoice decodes a buyer's refund invoice and checks that the
// hub can pay it now: it decodes for the hub's network
// (ErrRefundInvoiceMalformed, ErrRefundWrongNetwork), is payable for at
// least RefundMinValidity more (ErrRefundInvoiceExpired), and does not pay
// the hub (ErrRefundToHub). Its amount is checked against the refund when
// the refund is made (CheckRefundAmount). Every error wraps
// ErrInvalidRefund.
func (m *Manager) CheckRefundInvoice(payReq string) (lightning.PaymentRequest,
	error) {

	return checkRefundInvoice(payReq, m.cfg.Network, m.params,
		m.cfg.HubNode, m.now())
}

// checkRefundInvoice is CheckRefundInvoice with its inputs given.
func checkRefundInvoice(payReq, network string, params *chaincfg.Params,
	hub route.Vertex, now time.Time) (lightning.PaymentRequest, error) {

	pr, err := lightning.DecodePaymentRequest(payReq, params)
	if err != nil {
		for _, n := range networks {
			if n.params == params || n.params.Bech32HRPSegwit ==
				params.Bech32HRPSegwit {
				continue
			}
			_, otherErr := lightning.DecodePaymentRequest(payReq,
				n.params)
			if otherErr == nil {
				return pr, fmt.Errorf("%w: %w: it is for %s, the "+
					"hub is on %s", ErrInvalidRefund,
					ErrRefundWrongNetwork, n.name, network)
			}
		}
		return pr, fmt.Errorf("%w: %w: %w", ErrInvalidRefund,
			ErrRefundInvoiceMalformed, err)
	}
	if left := pr.ExpiresAt.Sub(now); left < RefundMinValidity {
		return pr, fmt.Errorf("%w: %w: it expires at %s, less than %v "+
			"from now", ErrInvalidRefund, ErrRefundInvoiceExpired,
			pr.ExpiresAt.UTC().Format(time.RFC3339),
			RefundMinValidity)
	}
	if pr.Destination == hub {
		return pr, fmt.Errorf("%w: %w: the invoice is the hub's own",
			ErrInvalidRefund, ErrRefundToHub)
	}
	return pr, nil
}

// CheckRefundAmount checks a refund invoice's amount against the refund: a
// zero-amount invoice takes any refund, an invoice with an amount must ask
// exactly the refund (ErrRefundAmountMismatch, wrapping ErrInvalidRefund,
// naming the refund and how it was computed).
func CheckRefundAmount(pr lightning.PaymentRequest, refund, escrow,
	fee ledger.MilliSatoshi) error {

	asked := ledger.MilliSatoshi(pr.Amount)
	if asked == 0 || asked == refund {
		return nil
	}
	return fmt.Errorf("%w: %w: the invoice asks %d msat; the refund is "+
		"%d msat (escrow %d msat less a routing fee of %d msat); give "+
		"a zero-amount invoice or one for %d msat", ErrInvalidRefund,
		ErrRefundAmountMismatch, asked, refund, escrow, fee, refund)
}

// refundFeeCap is the most a refund of escrow may pay in routing fees:
// RefundFeeBase + RefundFeePPM of the escrow, and never more than the
// escrow.
func (m *Manager) refundFeeCap(escrow ledger.MilliSatoshi) ledger.MilliSatoshi {
	// PPM and Add fail only for a cap beyond any escrow (or a negative
	// escrow): the cap is the escrow then.
	share, err := escrow.PPM(m.cfg.RefundFeePPM)
	if err == nil {
		share, err = m.cfg.RefundFeeBase.Add(share)
	}
	if err != nil {
		return escrow
	}
	return min(share, escrow)
}

// EndJob ends a job on behalf of its buyer, its provider or the operator
// and refunds what is left in its escrow. The job moves to ended (a job
// awaiting funding too; its invoices are canceled), which stops usage at
// once. If a refund destination is known (given here, or the node given
// at creation) and the escrow holds more than the routing fee, a refund
// is recorded as pending and handed to lnd; GetJob follows it. Ending a
// job that has ended already only makes sense with a refund destination,
// for what a failed refund (or a late top-up) left in escrow.
//
// Errors: ErrJobNotFound; ErrJobEnded (ended or expired, and nothing to
// refund or no destination); ErrInvalidRefund and its kinds (the job is
// not ended then, unless the refund amount is what is wrong, which is only
// known once it has ended: the error then says the job ended);
// ErrRefundInFlight; ErrNoRoute.
func (m *Manager) EndJob(ctx context.Context, req EndJobRequest) (Status,
	error) {

	switch req.By {
	case CauseEndedByBuyer, CauseEndedByProvider, CauseEndedByOperator,
		CauseProviderLost:
	default:
		return Status{}, fmt.Errorf("%w: %q does not end a job",
			ErrInvalidJob, req.By)
	}

	dest := req.RefundTo
	var pr *lightning.PaymentRequest
	switch {
	case dest.Invoice != "" && dest.HasNode:
		return Status{}, fmt.Errorf("%w: give a refund invoice or a "+
			"node key, not both", ErrInvalidRefund)
	case dest.Invoice != "":
		decoded, err := m.CheckRefundInvoice(dest.Invoice)
		if err != nil {
			return Status{}, err
		}
		pr = &decoded
	case dest.HasNode && dest.Node == m.cfg.HubNode:
		return Status{}, fmt.Errorf("%w: %w: the node key is the "+
			"hub's", ErrInvalidRefund, ErrRefundToHub)
	}

	var (
		open   []StoredInvoice
		job    StoredJob
		ended  bool
		escrow ledger.MilliSatoshi
	)
	err := m.execTx(ctx, false, func(tx TxStore) error {
		open, ended = nil, false
		var err error
		job, err = tx.JobByID(ctx, req.JobID)
		if err != nil {
			return err
		}
		escrow, err = tx.Balance(ctx, ledger.BuyerEscrow(job.ID))
		if err != nil {
			return err
		}
		state := job.State
		switch {
		case state == StateExpired:
			return fmt.Errorf("%w: job %s expired unfunded",
				ErrJobEnded, job.ID)
		case state == StateEnded && (escrow == 0 ||
			(pr == nil && !dest.HasNode)):

			return fmt.Errorf("%w: job %s ended at %s; escrow "+
				"holds %d msat", ErrJobEnded, job.ID,
				job.EndedAt.Format(time.RFC3339), escrow)
		case state != StateEnded:
			err := m.transition(ctx, tx, &job, StateEnded, req.By,
				fmt.Sprintf("escrow %d msat", escrow))
			if err != nil {
				return err
			}
			ended = true
		}
		if dest.HasNode {
			err := tx.SetJobRefundPubkey(ctx, job.ID,
				hex.EncodeToString(dest.Node[:]), m.now())
			if err != nil {
				return err
			}
			job.RefundPubkey = hex.EncodeToString(dest.Node[:])
		}
		open, err = openInvoices(ctx, tx, job.ID)
		return err
	})
	if errors.Is(err, ErrJobNotFound) {
		return Status{}, fmt.Errorf("%w: %q", ErrJobNotFound, req.JobID)
	}
	if err != nil {
		return Status{}, err
	}
	if ended {
		log.Infof("Job %s ended (%s) with %d msat in escrow", job.ID,
			req.By, escrow)
	}

	err = m.afterEnd(ctx, job, open, pr, dest.Invoice, ended)
	st, stErr := m.GetJob(ctx, job.ID)
	if err != nil {
		if ended {
			err = fmt.Errorf("job %s ended, but its refund was not "+
				"sent: %w", job.ID, err)
		}
		return st, err
	}
	return st, stErr
}

// openInvoices returns a job's open invoices, which its end cancels.
func openInvoices(ctx context.Context, tx TxStore, jobID string) (
	[]StoredInvoice, error) {

	invoices, err := tx.JobInvoices(ctx, jobID)
	if err != nil {
		return nil, err
	}
	var open []StoredInvoice
	for _, inv := range invoices {
		if inv.State == InvoiceOpen {
			open = append(open, inv)
		}
	}
	return open, nil
}

// afterEnd is what follows a job's end once the end is committed, by
// EndJob or by the job's result (SubmitResult): no more money comes in,
// so the job's open invoices (top-ups) are canceled, and the rest of the
// escrow is refunded to pr (its text payReq) when given, else to the
// job's refund node when it has one. ended says the end was committed
// just now. Its errors are the refund's; a refund that cannot start now
// leaves the job owing, and the sweeper (retryRefunds) tries again.
func (m *Manager) afterEnd(ctx context.Context, job StoredJob,
	open []StoredInvoice, pr *lightning.PaymentRequest, payReq string,
	ended bool) error {

	// One that settled meanwhile is credited, and refunded below with
	// the rest.
	for _, inv := range open {
		if err := m.closeInvoice(ctx, inv, InvoiceCanceled); err != nil {
			log.Warnf("Job %s: cancel invoice %s: %v", job.ID,
				inv.PaymentHash, err)
		}
	}

	target, ok := refundTarget(job, pr, payReq)
	if !ok {
		return nil
	}
	err := m.startRefund(ctx, job.ID, target)
	switch {
	case errors.Is(err, ErrNothingToRefund):
		return nil

	// Ending the job just now, a refund already in flight can only be
	// of money that arrived as it ended: it takes the rest along.
	case errors.Is(err, ErrRefundInFlight) && ended:
		return nil
	}
	return err
}

// refundTarget is where a job's refund goes: the invoice given, else the
// job's refund node; false when neither is known.
func refundTarget(job StoredJob, pr *lightning.PaymentRequest,
	payReq string) (refundDest, bool) {

	if pr != nil {
		return refundDest{invoice: pr, payReq: payReq}, true
	}
	if job.RefundPubkey == "" {
		return refundDest{}, false
	}
	node, err := ParseNodeKey(job.RefundPubkey)
	if err != nil {
		return refundDest{}, false
	}
	return refundDest{node: node}, true
}

// refundDest is a checked refund destination.
type refundDest struct {
	// invoice is the decoded refund invoice and payReq its text; nil
	// for a keysend to node.
	invoice *lightning.PaymentRequest
	payReq  string
	node    route.Vertex
}

// destination is the node the refund reaches.
func (d refundDest) destination() route.Vertex {
	if d.invoice != nil {
		return d.invoice.Destination
	}
	return d.node
}

// startRefund quotes the routing fee of refunding the job's whole escrow,
// records the refund as a pending intent with its payment hash (and, for
// a keysend, its preimage) and hands it to a goroutine that pays it. The
// refund is what the escrow holds less the quoted fee, which is also the
// fee limit: the buyer pays the routing, from the escrow. ErrNothingToRefund
// when that leaves nothing.
func (m *Manager) startRefund(ctx context.Context, jobID string,
	dest refundDest) error {

	// The escrow can change between the quote and the record (a top-up
	// that settled as the job ended); quote again then.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = m.startRefundOnce(ctx, jobID, dest)
		if !errors.Is(err, errEscrowMoved) {
			return err
		}
		log.Debugf("Job %s: %v", jobID, err)
	}
	return err
}

// errEscrowMoved says the escrow changed while a refund was quoted.
var errEscrowMoved = errors.New("escrow changed while the refund was " +
	"quoted")

// startRefundOnce is one attempt of startRefund.
func (m *Manager) startRefundOnce(ctx context.Context, jobID string,
	dest refundDest) error {

	var escrow ledger.MilliSatoshi
	err := m.execTx(ctx, true, func(tx TxStore) error {
		var err error
		escrow, err = tx.Balance(ctx, ledger.BuyerEscrow(jobID))
		return err
	})
	if err != nil {
		return err
	}
	if escrow <= 0 {
		return ErrNothingToRefund
	}

	feeCap := m.refundFeeCap(escrow)
	var fee ledger.MilliSatoshi
	rt, err := m.cfg.Routes.QueryRoute(ctx, dest.destination(),
		lnwire.MilliSatoshi(escrow), lnwire.MilliSatoshi(feeCap))
	switch {
	case err == nil:
		fee = ledger.MilliSatoshi(rt.Fee)
	case errors.Is(err, lightning.ErrNoRoute) && dest.invoice != nil &&
		len(dest.invoice.RouteHints) > 0:

		// The invoice's private route hints are not in the graph
		// the quote looks at; reserve the cap and let lnd use them.
		fee = feeCap
	case errors.Is(err, lightning.ErrNoRoute):
		return fmt.Errorf("%w: %v within a fee of %d msat: %w",
			ErrNoRoute, dest.destination(), feeCap, err)
	default:
		return fmt.Errorf("quote refund route: %w", err)
	}
	refund := escrow - fee
	if refund <= 0 {
		return fmt.Errorf("%w: escrow %d msat does not cover the "+
			"routing fee %d msat", ErrNothingToRefund, escrow, fee)
	}

	node := dest.destination()
	row := StoredRefund{
		JobID: jobID, DestPubkey: hex.EncodeToString(node[:]),
		Amount: refund, FeeLimit: fee, State: RefundPending,
		CreatedAt: m.now(),
	}
	if dest.invoice != nil {
		err := CheckRefundAmount(*dest.invoice, refund, escrow, fee)
		if err != nil {
			return err
		}
		row.Method = RefundByInvoice
		row.PaymentHash = dest.invoice.Hash.String()
		row.PaymentRequest = dest.payReq
	} else {
		var preimage lntypes.Preimage
		if _, err := rand.Read(preimage[:]); err != nil {
			return fmt.Errorf("refund preimage: %w", err)
		}
		row.Method = RefundByKeysend
		row.Preimage = hex.EncodeToString(preimage[:])
		row.PaymentHash = preimage.Hash().String()
	}
	err = m.execTx(ctx, false, func(tx TxStore) error {
		job, err := tx.JobByID(ctx, jobID)
		if err != nil {
			return err
		}
		if job.State != StateEnded {
			return fmt.Errorf("job %s is %s, not ended", jobID,
				job.State)
		}
		now, err := tx.Balance(ctx, ledger.BuyerEscrow(jobID))
		if err != nil {
			return err
		}
		if now != escrow {
			return fmt.Errorf("job %s: %w: from %d to %d msat",
				jobID, errEscrowMoved, escrow, now)
		}
		return tx.InsertRefund(ctx, row)
	})
	if errors.Is(err, ErrRefundInFlight) {
		return fmt.Errorf("%w: job %s", ErrRefundInFlight, jobID)
	}
	if err != nil {
		return fmt.Errorf("record refund of job %s: %w", jobID, err)
	}
	log.Infof("Job %s: refund %s of %d msat (fee limit %d msat) by %s "+
		"to %x", jobID, row.PaymentHash, refund, fee, row.Method,
		dest.destination())

	if !m.followRefund(row, false) {
		log.Warnf("Job %s: refund %s recorded; it is sent when "+
			"settlement runs", jobID, row.PaymentHash)
	}
	return nil
}

// followRefund sends (or, when resuming, first tracks) a pending refund in
// a goroutine, unless one follows it already. It returns false when the
// manager is not running; the refund stays pending for the next Start.
func (m *Manager) followRefund(r StoredRefund, resume bool) bool {
	m.mu.Lock()
	if m.refunding[r.PaymentHash] {
		m.mu.Unlock()
		return true
	}
	m.refunding[r.PaymentHash] = true
	m.mu.Unlock()

	ok := m.spawn(func(ctx context.Context) {
		defer func() {
			m.mu.Lock()
			delete(m.refunding, r.PaymentHash)
			m.mu.Unlock()
		}()
		if err := m.payRefund(ctx, r, resume); err != nil &&
			ctx.Err() == nil {

			log.Warnf("Refund %s of job %s: %v; retrying later",
				r.PaymentHash, r.JobID, err)
		}
	})
	if !ok {
		m.mu.Lock()
		delete(m.refunding, r.PaymentHash)
		m.mu.Unlock()
	}
	return ok
}

// payRefund pays a pending refund through the one outbound lifecycle and
// records how it ended. Resuming, it first asks lnd about the payment hash
// and sends only if lnd never saw it; a payment lnd has is followed to its
// end instead, so a refund is never paid twice. An unknown outcome is
// tracked again in place, with backoff, until ctx ends, as a payout's is.
func (m *Manager) payRefund(ctx context.Context, r StoredRefund,
	resume bool) error {

	hash, err := lntypes.MakeHashFromStr(r.PaymentHash)
	if err != nil {
		return err
	}
	pay, err := m.refundPayment(r)
	if err != nil {
		return err
	}
	call := outbound.Payment{Payer: m.cfg.Payments, Payment: pay,
		Hash: hash}
	driver := outbound.Driver{Hook: m.hit, Guard: m.cfg.SendGuard}
	out, err := outbound.Drive(ctx, driver, "refund "+r.PaymentHash, call,
		refundFailpoints, resume)
	if err != nil {
		return err
	}
	return m.resolveRefund(ctx, r, out)
}

// refundPayment is the payment lnd makes for a refund.
func (m *Manager) refundPayment(r StoredRefund) (lightning.Payment, error) {
	pay := lightning.Payment{
		Invoice:  r.PaymentRequest,
		FeeLimit: lnwire.MilliSatoshi(r.FeeLimit),
	}
	switch r.Method {
	case RefundByKeysend:
		node, err := ParseNodeKey(r.DestPubkey)
		if err != nil {
			return pay, err
		}
		preimage, err := lntypes.MakePreimageFromStr(r.Preimage)
		if err != nil {
			return pay, fmt.Errorf("refund %s preimage: %w",
				r.PaymentHash, err)
		}
		pay.Dest, pay.Preimage = node, preimage
		pay.Amount = lnwire.MilliSatoshi(r.Amount)

	case RefundByInvoice:
		// A zero-amount invoice takes the refund's amount; one with
		// an amount asks exactly it (checked when recorded) and
		// lnd refuses an amount given twice.
		pr, err := lightning.DecodePaymentRequest(r.PaymentRequest,
			m.params)
		if err != nil {
			return pay, err
		}
		if pr.Amount == 0 {
			pay.Amount = lnwire.MilliSatoshi(r.Amount)
		}
	}
	return pay, nil
}

// resolveRefund records a refund's outcome. When it succeeded with fee f,
// the escrow pays the refund and the fee: {escrow: −(amount+f), refunded:
// +amount, routing fees: +f}, under the key refund:<payment hash>. What
// the fee limit reserved beyond f stays in the escrow.
func (m *Manager) resolveRefund(ctx context.Context, r StoredRefund,
	out outbound.PaymentOutcome) error {

	err := outbound.Transition(r.State, out.Status)
	if err != nil {
		return fmt.Errorf("refund %s: %w", r.PaymentHash, err)
	}
	res := out.Detail
	now := m.now()
	err = m.execTx(ctx, false, func(tx TxStore) error {
		if out.Status == RefundFailed {
			return tx.ResolveRefund(ctx, RefundOutcome{
				PaymentHash: r.PaymentHash,
				State:       RefundFailed,
				Failure:     out.Failure, ResolvedAt: now,
			})
		}
		fee := ledger.MilliSatoshi(res.Fee)
		err := tx.ResolveRefund(ctx, RefundOutcome{
			PaymentHash: r.PaymentHash,
			State:       RefundSucceeded,
			Fee:         fee, ResolvedAt: now,
		})
		if err != nil {
			return err
		}
		total, err := r.Amount.Add(fee)
		if err != nil {
			return err
		}
		postings := []ledger.Posting{
			{Account: ledger.BuyerEscrow(r.JobID), Amount: -total},
			{Account: ledger.Refunded(r.JobID), Amount: r.Amount},
		}
		if fee > 0 {
			postings = append(postings, ledger.Posting{
				Account: ledger.RoutingFees(), Amount: fee,
			})
		}
		_, err = m.cfg.Ledger.PostTx(ctx, tx, ledger.Transaction{
			IdempotencyKey: "refund:" + r.PaymentHash,
			Description: fmt.Sprintf("refund of job %s by %s",
				r.JobID, r.Method),
			Postings: postings,
		})
		return err
	})
	if errors.Is(err, outbound.ErrInvalidTransition) {
		// Resolved by another goroutine first.
		return nil
	}
	if err != nil {
		return fmt.Errorf("record outcome of refund %s: %w",
			r.PaymentHash, err)
	}
	if m.cfg.Refunds != nil {
		done := refundFromRow(r)
		done.State, done.ResolvedAt = out.Status, now
		if out.Status == RefundSucceeded {
			done.Fee = ledger.MilliSatoshi(res.Fee)
		} else {
			done.Failure = out.Failure
		}
		m.cfg.Refunds.RefundResolved(done)
	}
	if out.Status == RefundSucceeded {
		log.Infof("Refund %s of job %s: paid %d msat, fee %d msat",
			r.PaymentHash, r.JobID, r.Amount, res.Fee)
	} else {
		log.Warnf("Refund %s of job %s failed: %s", r.PaymentHash,
			r.JobID, out.Failure)
	}
	return nil
}

// resumeRefunds follows every pending refund that no goroutine follows:
// after a restart, that is all of them. Each is tracked first and sent only
// if lnd never saw it.
func (m *Manager) resumeRefunds(ctx context.Context) error {
	var pending []StoredRefund
	err := m.execTx(ctx, true, func(tx TxStore) error {
		var err error
		pending, err = tx.PendingRefunds(ctx)
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range pending {
		m.followRefund(r, true)
	}
	return nil
}

// refundRetry is when the sweeper refunds an owed job next, how long it
// waits after that, and the waits that follow (outbound.Doubling from
// RefundRetry to MaxRefundRetry).
type refundRetry struct {
	at    time.Time
	wait  time.Duration
	waits *backoff.ExponentialBackOff
}

// retryRefunds refunds, by keysend to their refund node, the ended jobs
// that still owe their buyer money: a refund that found no route or
// failed, a refund that reserved more fee than lnd charged, money that came
// in after the job ended. The first try comes RefundRetry after the job
// began to owe (it ended, or its last refund ended), so that EndJob's own
// refund goes first; each try that leaves it owing doubles the wait, up to
// MaxRefundRetry. The doubled waits live in memory: after a restart, each
// owed job's next try is RefundRetry after it began to owe.
func (m *Manager) retryRefunds(ctx context.Context) error {
	// now is read before the snapshot, so that a refund the snapshot
	// shows pending was still pending at now: read after it, now could
	// be later than the refund's end, and the next try would wait from
	// a time the sweeper happened to look rather than from the failure.
	now := m.now()
	var jobs []OwedJob
	err := m.execTx(ctx, true, func(tx TxStore) error {
		var err error
		jobs, err = tx.OwedEndedJobs(ctx)
		return err
	})
	if err != nil {
		return err
	}

	owed := make(map[string]refundRetry, len(jobs))
	for _, j := range jobs {
		r, seen := m.owed[j.ID]
		switch {
		case !seen:
			since, err := m.owingSince(ctx, j.ID)
			if err != nil {
				log.Warnf("Job %s: when it began to owe: %v",
					j.ID, err)
				since = now
			}
			waits := outbound.Doubling(m.cfg.RefundRetry,
				m.cfg.MaxRefundRetry)
			wait := waits.NextBackOff()
			r = refundRetry{at: since.Add(wait), wait: wait,
				waits: waits}
		case j.RefundPending:
			// Its refund is on its way; the wait starts over
			// from now if it fails.
			r.at = now.Add(r.wait)
		case !now.Before(r.at):
			m.refundToNode(ctx, j.ID, "what it still owes")
			r.wait = r.waits.NextBackOff()
			r.at = now.Add(r.wait)
		}
		owed[j.ID] = r
	}
	m.owed = owed
	return ctx.Err()
}

// owingSince is when an owed job began to owe as it does now: when it
// ended, or when its last refund ended, whichever is later.
func (m *Manager) owingSince(ctx context.Context, jobID string) (time.Time,
	error) {

	var since time.Time
	err := m.execTx(ctx, true, func(tx TxStore) error {
		job, err := tx.JobByID(ctx, jobID)
		if err != nil {
			return err
		}
		refunds, err := tx.JobRefunds(ctx, jobID)
		if err != nil {
			return err
		}
		since = job.EndedAt
		for _, r := range refunds {
			if r.ResolvedAt.After(since) {
				since = r.ResolvedAt
			}
		}
		return nil
	})
	return since, err
}

// refundToNode refunds what an ended job's escrow holds to the job's
// refund node, when it has one and no refund is in flight; why says what
// left the money there, for the log.
func (m *Manager) refundToNode(ctx context.Context, jobID, why string) {
	var job StoredJob
	err := m.execTx(ctx, true, func(tx TxStore) error {
		var err error
		job, err = tx.JobByID(ctx, jobID)
		return err
	})
	if err != nil {
		log.Warnf("Job %s: refund of %s: %v", jobID, why, err)
		return
	}
	target, ok := refundTarget(job, nil, "")
	if !ok {
		log.Infof("Job %s ended and holds %s; it waits in escrow "+
			"for EndJob with a refund destination", jobID, why)
		return
	}
	log.Infof("Job %s: refunding %s", jobID, why)
	err = m.startRefund(ctx, jobID, target)
	switch {
	case err == nil, errors.Is(err, ErrRefundInFlight),
		errors.Is(err, ErrNothingToRefund):
	default:
		log.Warnf("Job %s: refund of %s: %v", jobID, why, err)
	}
}
