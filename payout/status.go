package payout

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/ledger"
)

// endedStates are the job states in which a job earns no more
// (settlement's StateEnded and StateExpired); payouts does not import
// settlement, so it names them as the store keeps them.
var endedStates = map[string]bool{"ended": true, "expired": true}

// JobEarnings is one job's part of a provider's status.
type JobEarnings struct {
	JobID string
	State string

	// SecondsMetered is the job's last accepted seq: seqs count metered
	// seconds from 1, without gaps.
	SecondsMetered int64

	// Earned is what the provider earned on the job: its usage less the
	// platform's fee.
	Earned ledger.MilliSatoshi

	// Escrow is what the job's escrow holds.
	Escrow ledger.MilliSatoshi
}

// ProviderStatus is a provider's live view: its payout view, how many
// payouts it had, and what each of its jobs metered and earned, all read
// in one transaction, so the numbers agree with each other.
type ProviderStatus struct {
	ProviderView

	// AsOf is when the snapshot was read.
	AsOf time.Time

	// Payouts counts every payout tried, Succeeded those paid.
	Payouts   int64
	Succeeded int64

	// LastPayoutAt is when the latest successful payout settled; zero
	// before the first.
	LastPayoutAt time.Time

	// Jobs are the provider's jobs, newest first.
	Jobs []JobEarnings
}

// ProviderStatus returns a provider's live view in one read-only
// transaction: balances, payout status and counts, and its jobs that
// have not ended (every job when allJobs). ErrProviderNotFound for a
// provider never linked.
func (s *Scheduler) ProviderStatus(ctx context.Context, providerID string,
	allJobs bool) (ProviderStatus, error) {

	var st ProviderStatus
	err := s.cfg.DB.ExecPayouts(ctx, true, func(tx TxStore) error {
		st = ProviderStatus{AsOf: s.cfg.Clock.Now().UTC()}
		var err error
		st.ProviderView, err = s.readView(ctx, tx, providerID, 0)
		if err != nil {
			return err
		}

		counts, err := tx.ProviderPayoutCounts(ctx, providerID)
		if err != nil {
			return err
		}
		st.Payouts, st.Succeeded = counts.Total, counts.Succeeded
		st.LastPayoutAt = counts.LastPaidAt

		st.Jobs, err = readEarnings(ctx, tx, providerID, allJobs)
		return err
	})
	if err != nil {
		return ProviderStatus{}, fmt.Errorf("status of provider %s: %w",
			providerID, err)
	}
	return st, nil
}

// readEarnings reads what each of a provider's jobs metered and earned.
func readEarnings(ctx context.Context, tx TxStore, providerID string,
	allJobs bool) ([]JobEarnings, error) {

	jobs, err := tx.ProviderJobs(ctx, providerID)
	if err != nil {
		return nil, err
	}
	var out []JobEarnings
	for _, j := range jobs {
		if !allJobs && endedStates[j.State] {
			continue
		}
		e := JobEarnings{JobID: j.ID, State: j.State,
			SecondsMetered: j.LastSeq, Earned: j.Charged - j.Fees}
		e.Escrow, err = tx.Balance(ctx, ledger.BuyerEscrow(j.ID))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}
