package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/lightningnetwork/lnd/lntypes"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/shares"
)

// Kind says which of Sluice's books a difference is in.
type Kind string

const (
	// KindFunding is a job's funding or top-up invoice against the hub's
	// settled invoice.
	KindFunding Kind = "funding"

	// KindPayout is a payout against the hub's payment.
	KindPayout Kind = "payout"

	// KindRefund is a refund against the hub's payment.
	KindRefund Kind = "refund"

	// KindTotal is a ledger total against lnd's.
	KindTotal Kind = "total"

	// KindShares is the vault's share supply against what its holders
	// hold: a check within Sluice's own books, in shares.
	KindShares Kind = "shares"

	// KindShareAsset is the share asset's supply in the hub's tapd
	// against the ledger's share supply at the last epoch tapd has
	// caught up with.
	KindShareAsset Kind = "share_asset"
)

// Difference is one place where Sluice's books and lnd disagree, or, for
// KindShares, where the share books disagree with themselves.
type Difference struct {
	Kind Kind

	// Subject names what differs: a payment hash, a payout id, or an
	// account kind for a total.
	Subject string

	// Sluice and Lnd say what each side has. For KindShares both sides
	// are Sluice's, so Sluice says both and Lnd that it has no part.
	Sluice string
	Lnd    string
}

// String formats the difference on one line.
func (d Difference) String() string {
	return fmt.Sprintf("%s %s: sluice has %s, lnd has %s", d.Kind,
		d.Subject, d.Sluice, d.Lnd)
}

// Totals are one side's sums.
type Totals struct {
	// Funded is what arrived on the hub for jobs: −hub_holdings in the
	// ledger, settled job invoices in lnd.
	Funded ledger.MilliSatoshi

	// PaidOut is what reached providers: Σ paid_out, and lnd's
	// succeeded payments of succeeded payouts.
	PaidOut ledger.MilliSatoshi

	// Refunded is what reached buyers: Σ refunded, and lnd's succeeded
	// payments of succeeded refunds.
	Refunded ledger.MilliSatoshi

	// RoutingFees is what routing cost: routing_fees, and the fees of
	// those payments.
	RoutingFees ledger.MilliSatoshi

	// Held is what the hub holds for Sluice's books. In the ledger it
	// is Σ buyer_escrow + Σ provider_payable + Σ payout_in_flight +
	// platform_fees + the vault's msat (vault + Σ strategy_principal),
	// less what strategies gained (−Σ strategy_yield, which no invoice
	// or payment shows); in lnd, Funded − PaidOut − Refunded −
	// RoutingFees. The ledger balances every transaction, so the two
	// differ only when the other totals do (and then Held is not
	// reported) or when the books were written around the ledger.
	Held ledger.MilliSatoshi
}

// ShareTotals are the vault's share books, in shares: the issuer's side
// and the holders', which must be equal. The ledger balances every
// transaction in shares, so a difference here means books written around
// it.
type ShareTotals struct {
	// Outstanding is the shares issued and not burnt: −share_supply.
	Outstanding ledger.Shares

	// Held is Σ provider_shares, and Locked Σ shares_locked (shares in
	// redemption requests not yet finalized).
	Held   ledger.Shares
	Locked ledger.Shares

	// Withdrawing is Σ shares_withdrawing (withdrawals whose send is
	// not complete), and Withdrawn Σ shares_withdrawn (shares the
	// providers took to their own tapd, still outstanding).
	Withdrawing ledger.Shares
	Withdrawn   ledger.Shares

	// Deposited is Σ shares_deposited: minus the shares providers
	// brought back into custody from their own tapd.
	Deposited ledger.Shares
}

// Report is the outcome of one reconciliation.
type Report struct {
	At time.Time

	// Invoices, Payouts and Refunds count what was compared: job
	// invoices lnd settled, and every payout and refund in the store.
	Invoices int
	Payouts  int
	Refunds  int

	// Resolving counts payouts and refunds still pending in Sluice:
	// lnd may have resolved them a moment ago, and Sluice follows.
	Resolving int

	// Foreign counts lnd's invoices and payments that are not Sluice's
	// (the hub's other business); they are not compared.
	ForeignInvoices int
	ForeignPayments int

	// Ledger and Lnd are the totals on each side.
	Ledger Totals
	Lnd    Totals

	// Vault is the vault's msat within Ledger.Held: vault +
	// Σ strategy_principal.
	Vault ledger.MilliSatoshi

	// Shares are the ledger's share books.
	Shares ShareTotals

	// ShareAsset is the share asset's check against the hub's tapd;
	// nil when sluiced runs without tapd.
	ShareAsset *shares.SupplyCheck

	// Differences lists every disagreement; none is expected.
	Differences []Difference
}

// OK reports whether the books and lnd agree.
func (r *Report) OK() bool {
	return len(r.Differences) == 0
}

// differ records a difference.
func (r *Report) differ(kind Kind, subject, sluice, lnd string) {
	r.Differences = append(r.Differences, Difference{
		Kind: kind, Subject: subject, Sluice: sluice, Lnd: lnd,
	})
}

// books is what one read-only store transaction gives.
type books struct {
	// invoices are the job invoices of the hashes lnd settled, and
	// credits the amounts their fund:<hash> transactions moved.
	invoices map[lntypes.Hash]Invoice
	credits  map[lntypes.Hash]ledger.MilliSatoshi

	payouts []Payment
	refunds []Payment
	totals  Totals
	vault   ledger.MilliSatoshi
	shares  ShareTotals

	// locked is each provider's shares_locked balance, and redeeming
	// the shares of its pending redemptions.
	locked    map[string]ledger.Shares
	redeeming map[string]ledger.Shares

	// withdrawing is each provider's shares_withdrawing balance, and
	// unsent the shares of its withdrawals not complete.
	withdrawing map[string]ledger.Shares
	unsent      map[string]ledger.Shares
}

// Run compares Sluice's books with the hub's lnd and reports every
// difference. It reads lnd's settled invoices first, then the store in one
// transaction, then lnd's payments: a payout or refund that resolves in
// between shows as pending in the store, which is not a difference, while a
// final state in the store must already be final in lnd.
func Run(ctx context.Context, db DB, lnd Lnd) (*Report, error) {
	settled, err := lnd.SettledInvoices(ctx)
	if err != nil {
		return nil, fmt.Errorf("lnd's invoices: %w", err)
	}
	b, err := readBooks(ctx, db, settled)
	if err != nil {
		return nil, err
	}
	payments, err := lnd.Payments(ctx)
	if err != nil {
		return nil, fmt.Errorf("lnd's payments: %w", err)
	}

	r := &Report{At: time.Now().UTC(), Ledger: b.totals, Vault: b.vault,
		Shares: b.shares}
	r.funding(settled, b)
	sluiceHashes := r.payments(payments, b)
	for _, p := range payments {
		if !sluiceHashes[p.Hash] {
			r.ForeignPayments++
		}
	}
	if err := r.lndHeld(); err != nil {
		return nil, err
	}
	r.compareTotals()
	r.compareShares()
	r.compareLocked(b)
	r.compareWithdrawing(b)

	if r.OK() {
		log.Infof("Reconciled %d invoices, %d payouts, %d refunds "+
			"with lnd: no difference", r.Invoices, r.Payouts,
			r.Refunds)
	} else {
		log.Warnf("Reconciliation found %d differences with lnd",
			len(r.Differences))
	}
	return r, nil
}

// readBooks reads, in one transaction, the job invoices and credits of
// the settled hashes, every payout and refund, and the ledger's totals.
func readBooks(ctx context.Context, db DB,
	settled []hubnode.SettledInvoice) (*books, error) {

	b := &books{}
	err := db.ReadBooks(ctx, func(tx BooksTx) error {
		*b = books{
			invoices: make(map[lntypes.Hash]Invoice),
			credits:  make(map[lntypes.Hash]ledger.MilliSatoshi),
		}
		for _, inv := range settled {
			if err := b.readInvoice(ctx, tx, inv.Hash); err != nil {
				return err
			}
		}

		var err error
		if b.payouts, err = tx.Payouts(ctx); err != nil {
			return err
		}
		if b.refunds, err = tx.Refunds(ctx); err != nil {
			return err
		}
		return b.readTotals(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("sluice's books: %w", err)
	}
	return b, nil
}

// readInvoice reads the job invoice with the hash, if it is one, and what
// its funding transaction credited.
func (b *books) readInvoice(ctx context.Context, tx BooksTx,
	hash lntypes.Hash) error {

	inv, err := tx.JobInvoice(ctx, hash)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	b.invoices[hash] = inv

	stored, err := tx.TransactionByKey(ctx, "fund:"+hash.String())
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	for _, p := range stored.Transaction.Postings {
		if p.Account.Kind == ledger.KindBuyerEscrow {
			b.credits[hash] += p.Amount
		}
	}
	return nil
}

// readTotals reads the ledger's totals, each unit's apart.
func (b *books) readTotals(ctx context.Context, tx BooksTx) error {
	for _, t := range []struct {
		kind ledger.AccountKind
		into *ledger.Shares
	}{
		{ledger.KindShareSupply, &b.shares.Outstanding},
		{ledger.KindProviderShares, &b.shares.Held},
		{ledger.KindSharesLocked, &b.shares.Locked},
		{ledger.KindSharesWithdrawing, &b.shares.Withdrawing},
		{ledger.KindSharesWithdrawn, &b.shares.Withdrawn},
		{ledger.KindSharesDeposited, &b.shares.Deposited},
	} {
		total, err := tx.ShareKindTotal(ctx, t.kind)
		if err != nil {
			return err
		}
		*t.into = total
	}
	outstanding, err := b.shares.Outstanding.Neg()
	if err != nil {
		return fmt.Errorf("share supply: %w", err)
	}
	b.shares.Outstanding = outstanding
	if b.locked, err = tx.ShareBalances(ctx,
		ledger.KindSharesLocked); err != nil {

		return err
	}
	if b.redeeming, err = tx.PendingRedemptionShares(ctx); err != nil {
		return err
	}
	if b.withdrawing, err = tx.ShareBalances(ctx,
		ledger.KindSharesWithdrawing); err != nil {

		return err
	}
	if b.unsent, err = tx.PendingWithdrawalShares(ctx); err != nil {
		return err
	}

	for _, t := range []struct {
		kind ledger.AccountKind
		into *ledger.MilliSatoshi
	}{
		{ledger.KindHubHoldings, &b.totals.Funded},
		{ledger.KindPaidOut, &b.totals.PaidOut},
		{ledger.KindRefunded, &b.totals.Refunded},
		{ledger.KindRoutingFees, &b.totals.RoutingFees},
	} {
		total, err := tx.KindTotal(ctx, t.kind)
		if err != nil {
			return err
		}
		*t.into = total
	}
	b.totals.Funded = -b.totals.Funded
	return b.readHeld(ctx, tx)
}

// readHeld sums what the ledger says the hub holds, the vault's msat
// apart.
func (b *books) readHeld(ctx context.Context, tx BooksTx) error {
	sum := func(kinds ...ledger.AccountKind) (ledger.MilliSatoshi,
		error) {

		var total ledger.MilliSatoshi
		for _, k := range kinds {
			t, err := tx.KindTotal(ctx, k)
			if err != nil {
				return 0, err
			}
			if total, err = total.Add(t); err != nil {
				return 0, fmt.Errorf("held, at %s: %w", k, err)
			}
		}
		return total, nil
	}
	var err error
	b.vault, err = sum(ledger.KindVault, ledger.KindStrategyPrincipal)
	if err != nil {
		return err
	}
	held, err := sum(ledger.KindBuyerEscrow, ledger.KindProviderPayable,
		ledger.KindPayoutInFlight, ledger.KindPlatformFees,
		ledger.KindStrategyYield)
	if err != nil {
		return err
	}
	if b.totals.Held, err = held.Add(b.vault); err != nil {
		return fmt.Errorf("held with the vault: %w", err)
	}
	return nil
}

// lndHeld works out what lnd's invoices and payments say the hub holds
// for Sluice.
func (r *Report) lndHeld() error {
	held := r.Lnd.Funded
	for _, out := range []ledger.MilliSatoshi{r.Lnd.PaidOut,
		r.Lnd.Refunded, r.Lnd.RoutingFees} {

		var err error
		if held, err = held.Sub(out); err != nil {
			return fmt.Errorf("lnd's held total: %w", err)
		}
	}
	r.Lnd.Held = held
	return nil
}

// funding compares each settled invoice that is a job's with its credit.
func (r *Report) funding(settled []hubnode.SettledInvoice, b *books) {
	for _, inv := range settled {
		row, ok := b.invoices[inv.Hash]
		if !ok {
			r.ForeignInvoices++
			continue
		}
		r.Invoices++
		paid := ledger.MilliSatoshi(inv.AmountPaid)
		r.Lnd.Funded += paid
		subject := inv.Hash.String()

		credit, credited := b.credits[inv.Hash]
		switch {
		case !credited:
			r.differ(KindFunding, subject, fmt.Sprintf(
				"no credit for job %s's invoice (%s)",
				row.JobID, row.State), fmt.Sprintf(
				"it settled for %v", paid))

		case credit != paid:
			r.differ(KindFunding, subject, fmt.Sprintf(
				"a credit of %v to job %s", credit,
				row.JobID), fmt.Sprintf("it settled for %v",
				paid))

		case row.AmountPaid != paid:
			r.differ(KindFunding, subject, fmt.Sprintf(
				"the invoice paid %v", row.AmountPaid),
				fmt.Sprintf("it settled for %v", paid))
		}
	}
}

// payments compares every payout and refund with lnd's payment of its
// hash and returns the hashes that are Sluice's.
func (r *Report) payments(payments []hubnode.PaymentRecord,
	b *books) map[lntypes.Hash]bool {

	byHash := make(map[lntypes.Hash]hubnode.PaymentRecord,
		len(payments))
	for _, p := range payments {
		byHash[p.Hash] = p
	}
	ours := make(map[lntypes.Hash]bool)

	for _, p := range b.payouts {
		r.Payouts++
		hash, err := lntypes.MakeHashFromStr(p.PaymentHash)
		if err != nil {
			r.differ(KindPayout, p.ID, "hash "+p.PaymentHash,
				"nothing to compare")
			continue
		}
		ours[hash] = true
		pay, inLnd := byHash[hash]
		r.compare(KindPayout, "payout "+p.ID, p.State, p.Amount,
			p.Fee, pay, inLnd, &r.Lnd.PaidOut)
	}

	for _, f := range b.refunds {
		r.Refunds++
		hash, err := lntypes.MakeHashFromStr(f.PaymentHash)
		if err != nil {
			r.differ(KindRefund, f.PaymentHash, "a bad hash",
				"nothing to compare")
			continue
		}
		ours[hash] = true
		pay, inLnd := byHash[hash]
		r.compare(KindRefund, "refund "+f.PaymentHash+" of job "+
			f.JobID, f.State, f.Amount, f.Fee, pay, inLnd,
			&r.Lnd.Refunded)
	}
	return ours
}

// compare checks one payout or refund in state with amount and fee
// against lnd's payment of its hash, and adds what lnd paid for a
// succeeded one to its total and the fees.
func (r *Report) compare(kind Kind, subject string, state outbound.Status,
	amount, fee ledger.MilliSatoshi, pay hubnode.PaymentRecord, inLnd bool,
	total *ledger.MilliSatoshi) {

	lndSays := "no payment"
	if inLnd {
		lndSays = "a payment " + pay.State.String()
		if pay.State == hubnode.PaymentSucceeded {
			lndSays = fmt.Sprintf("a payment of %v with fee %v",
				ledger.MilliSatoshi(pay.Amount),
				ledger.MilliSatoshi(pay.Fee))
		}
	}

	switch state {
	case outbound.StatusPending:
		r.Resolving++
		if inLnd && pay.State == hubnode.PaymentSucceeded {
			// Counted once Sluice records it.
			return
		}

	case outbound.StatusSucceeded:
		sluiceSays := fmt.Sprintf("succeeded, %v with fee %v", amount,
			fee)
		if !inLnd || pay.State != hubnode.PaymentSucceeded {
			r.differ(kind, subject, sluiceSays, lndSays)
			return
		}
		*total += ledger.MilliSatoshi(pay.Amount)
		r.Lnd.RoutingFees += ledger.MilliSatoshi(pay.Fee)
		if ledger.MilliSatoshi(pay.Amount) != amount ||
			ledger.MilliSatoshi(pay.Fee) != fee {

			r.differ(kind, subject, sluiceSays, lndSays)
		}

	case outbound.StatusFailed:
		if inLnd && pay.State != hubnode.PaymentFailed {
			r.differ(kind, subject, "failed", lndSays)
		}

	default:
		r.differ(kind, subject, "state "+string(state), lndSays)
	}
}

// compareTotals compares the ledger's totals with lnd's.
func (r *Report) compareTotals() {
	agree := true
	for _, t := range []struct {
		name        string
		ledger, lnd ledger.MilliSatoshi
	}{
		{"funded (-hub_holdings)", r.Ledger.Funded, r.Lnd.Funded},
		{"paid_out", r.Ledger.PaidOut, r.Lnd.PaidOut},
		{"refunded", r.Ledger.Refunded, r.Lnd.Refunded},
		{"routing_fees", r.Ledger.RoutingFees, r.Lnd.RoutingFees},
	} {
		if t.ledger != t.lnd {
			agree = false
			r.differ(KindTotal, t.name, t.ledger.String(),
				t.lnd.String())
		}
	}

	// Held follows from the totals above while the ledger balances: a
	// difference in it is news only when they agree.
	if agree && r.Ledger.Held != r.Lnd.Held {
		r.differ(KindTotal, "held (escrow + payable + in flight + "+
			"platform_fees + vault + strategy_principal + "+
			"strategy_yield)", r.Ledger.Held.String(),
			r.Lnd.Held.String())
	}
}

// compareLocked compares each provider's shares_locked with the shares of
// its pending redemptions: a request locks its shares when it is made and
// they leave shares_locked when it is finalized (burnt) or cancelled
// (back to the provider), so the two are equal at every commit.
func (r *Report) compareLocked(b *books) {
	r.compareByProvider(b.locked, b.redeeming, ledger.SharesLocked,
		"locked against %v in pending redemptions")
}

// compareWithdrawing compares each provider's shares_withdrawing with the
// shares of its withdrawals not complete: a withdrawal moves its shares
// there when it is asked for, and out when its send is complete
// (withdrawn) or failed (back to custody), so the two are equal at every
// commit.
func (r *Report) compareWithdrawing(b *books) {
	r.compareByProvider(b.withdrawing, b.unsent, ledger.SharesWithdrawing,
		"withdrawing against %v in withdrawals not complete")
}

// compareByProvider reports each provider whose balance in have differs
// from the shares its records want, in the order of their ids: account
// names the provider's account, and against says what want is (a format
// of want).
func (r *Report) compareByProvider(have, want map[string]ledger.Shares,
	account func(providerID string) ledger.Account, against string) {

	providers := make(map[string]bool, len(have))
	for p := range have {
		providers[p] = true
	}
	for p := range want {
		providers[p] = true
	}
	ids := make([]string, 0, len(providers))
	for p := range providers {
		ids = append(ids, p)
	}
	sort.Strings(ids)

	for _, p := range ids {
		if have[p] == want[p] {
			continue
		}
		r.differ(KindShares, account(p).String(),
			fmt.Sprintf("%v "+against, have[p], want[p]),
			"no part: a check of Sluice's own books")
	}
}

// compareShares compares the shares outstanding with what holders hold:
// in custody (held, locked, withdrawing) and withdrawn to their own tapd,
// less what they deposited back (which custody holds again).
func (r *Report) compareShares() {
	s := r.Shares
	held, err := s.Held.Add(s.Locked)
	if err == nil {
		held, err = held.Add(s.Withdrawing)
	}
	if err == nil {
		held, err = held.Add(s.Withdrawn)
	}
	if err == nil {
		held, err = held.Add(s.Deposited)
	}
	if err == nil && held == s.Outstanding {
		return
	}

	holders := fmt.Sprintf("%v held", held)
	if err != nil {
		holders = "more than fits in int64 held"
	}
	r.differ(KindShares, "share_supply", fmt.Sprintf("%v outstanding "+
		"(-share_supply) against %s (provider_shares %v + "+
		"shares_locked %v + shares_withdrawing %v + shares_withdrawn "+
		"%v + shares_deposited %v)", s.Outstanding, holders, s.Held,
		s.Locked, s.Withdrawing, s.Withdrawn, s.Deposited),
		"no part: a check of Sluice's own books")
}

// ShareAsset is the share asset as reconcile checks it; shares.Manager
// implements it.
type ShareAsset interface {
	// CheckSupply reads the group's supply from the hub's tapd and the
	// ledger's supply it should equal.
	CheckSupply(ctx context.Context) (shares.SupplyCheck, error)
}

// CompareShareAsset adds the share asset's check to the report: tapd's
// supply of the group (its universe's issuance less its burns) must equal
// the ledger's share supply at the last epoch tapd caught up with. Epochs
// whose tranche or burn is still to come are counted, not differences.
func (r *Report) CompareShareAsset(ctx context.Context, a ShareAsset) error {
	c, err := a.CheckSupply(ctx)
	if err != nil {
		return fmt.Errorf("share asset: %w", err)
	}
	r.ShareAsset = &c
	if !c.Genesis {
		return nil
	}
	if !c.Matches() {
		at := "the genesis"
		if c.Epoch > 0 {
			at = fmt.Sprintf("epoch %d's close", c.Epoch)
		}
		r.differ(KindShareAsset, "supply", fmt.Sprintf("%v at %s",
			c.Ledger, at), fmt.Sprintf("%d units issued less %d "+
			"burned in tapd", c.Tapd.Issued, c.Tapd.Burned))
	}
	r.compareHeld(c)
	return nil
}

// compareHeld compares the hub tapd's holdings of the group with what the
// ledger says it should hold (shares.SupplyCheck's HeldWant) when nothing
// is in flight: a difference is a send or receive the ledger did not
// record, or one recorded that tapd did not make.
func (r *Report) compareHeld(c shares.SupplyCheck) {
	if !c.Custody || !c.Matches() || len(c.InFlight) > 0 {
		return
	}
	supply, _ := c.Tapd.Supply()
	want, ok := c.HeldWant()
	switch {
	case !ok:
		r.differ(KindShareAsset, "held", fmt.Sprintf("%v outside "+
			"custody (withdrawn less deposited) does not fit in a "+
			"supply of %d", c.Outside, supply),
			"no part: a check of Sluice's own books")

	case c.Tapd.Held != want:
		r.differ(KindShareAsset, "held", fmt.Sprintf("%d units in "+
			"custody (supply %d less %v withdrawn and not "+
			"deposited back)", want, supply, c.Outside),
			fmt.Sprintf("%d units held by the hub's tapd",
				c.Tapd.Held))
	}
}
