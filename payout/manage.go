package payout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-ln/sluice/ledger"
)

// What operators and providers ask of payouts: a provider's policy and its
// overrides, its status and what it was paid. The API (issue 6's live
// view) serves these.

// Status is a provider's payout status.
type Status struct {
	State  StatusState
	Reason string

	// Since is when the state began; zero for a provider never held
	// back.
	Since time.Time

	// RetryAt is when payouts are tried again; zero unless retrying or
	// blocked.
	RetryAt time.Time

	// Failures counts payouts that failed in a row.
	Failures int64
}

// ProviderView is what payouts know about one provider.
type ProviderView struct {
	ProviderID string

	// Policy is the effective policy: the defaults with Override
	// applied.
	Policy   Policy
	Override Override

	Status Status

	// Payable is earned and not yet sent, InFlight sent and not yet
	// settled (with its fee budget), PaidOut what reached the node.
	Payable  ledger.MilliSatoshi
	InFlight ledger.MilliSatoshi
	PaidOut  ledger.MilliSatoshi

	// Recent are the latest payouts, newest first.
	Recent []Payout
}

// Defaults returns the operator's default policy.
func (s *Scheduler) Defaults() Policy {
	return s.cfg.Defaults
}

// SetPolicy records the operator's override for a provider, replacing an
// earlier one, and returns the provider's effective policy. The result
// must validate (ErrInvalidPolicy otherwise); an unknown provider gives
// ErrProviderNotFound. It applies from the next scheduling round.
func (s *Scheduler) SetPolicy(ctx context.Context, providerID string,
	o Override) (Policy, error) {

	pol := s.cfg.Defaults.Apply(o)
	if err := pol.Validate(); err != nil {
		return Policy{}, fmt.Errorf("provider %s: %w", providerID, err)
	}
	now := s.cfg.Clock.Now().UTC()
	err := s.cfg.DB.ExecPayouts(ctx, false, func(tx TxStore) error {
		return tx.SetPayoutPolicy(ctx, providerID, o, now)
	})
	if errors.Is(err, ErrProviderNotFound) {
		return Policy{}, fmt.Errorf("%w: %q", ErrProviderNotFound,
			providerID)
	}
	if err != nil {
		return Policy{}, fmt.Errorf("payout policy of %s: %w",
			providerID, err)
	}
	log.Infof("Payout policy of provider %s set: %+v", providerID, pol)
	s.Wake()
	return pol, nil
}

// ClearPolicy removes a provider's override, so the defaults apply.
func (s *Scheduler) ClearPolicy(ctx context.Context, providerID string) error {
	err := s.cfg.DB.ExecPayouts(ctx, false, func(tx TxStore) error {
		return tx.DeletePayoutPolicy(ctx, providerID)
	})
	if err != nil {
		return fmt.Errorf("payout policy of %s: %w", providerID, err)
	}
	s.Wake()
	return nil
}

// Provider returns what payouts know about a provider, with its latest
// recent payouts (none for 0). A provider never linked gives
// ErrProviderNotFound.
func (s *Scheduler) Provider(ctx context.Context, providerID string,
	recent int) (ProviderView, error) {

	var v ProviderView
	err := s.cfg.DB.ExecPayouts(ctx, true, func(tx TxStore) error {
		var err error
		v, err = s.readView(ctx, tx, providerID, recent)
		return err
	})
	if err != nil {
		return ProviderView{}, fmt.Errorf("payouts of provider %s: %w",
			providerID, err)
	}
	return v, nil
}

// readView reads what payouts know about a provider in tx, with its latest
// recent payouts.
func (s *Scheduler) readView(ctx context.Context, tx TxStore,
	providerID string, recent int) (ProviderView, error) {

	v := ProviderView{ProviderID: providerID}
	linked, err := tx.ProviderExists(ctx, providerID)
	if err != nil {
		return ProviderView{}, err
	}
	if !linked {
		return ProviderView{}, fmt.Errorf("%w: %q",
			ErrProviderNotFound, providerID)
	}

	var ok bool
	v.Override, ok, err = tx.PayoutPolicy(ctx, providerID)
	switch {
	case err != nil:
		return ProviderView{}, err
	case !ok:
		v.Override = Override{}
	}
	v.Policy = s.cfg.Defaults.Apply(v.Override)

	st, ok, err := tx.PayoutStatus(ctx, providerID)
	switch {
	case err != nil:
		return ProviderView{}, err
	case ok:
		v.Status = st.Status
	default:
		v.Status = Status{State: StatusOK}
	}

	for _, acc := range []struct {
		account ledger.Account
		into    *ledger.MilliSatoshi
	}{
		{ledger.ProviderPayable(providerID), &v.Payable},
		{ledger.PayoutInFlight(providerID), &v.InFlight},
		{ledger.PaidOut(providerID), &v.PaidOut},
	} {
		*acc.into, err = tx.Balance(ctx, acc.account)
		if err != nil {
			return ProviderView{}, err
		}
	}

	if recent <= 0 {
		return v, nil
	}
	rows, err := tx.ProviderPayouts(ctx, providerID, recent)
	if err != nil {
		return ProviderView{}, err
	}
	for _, r := range rows {
		p, err := fromStore(r)
		if err != nil {
			return ProviderView{}, err
		}
		v.Recent = append(v.Recent, p)
	}
	return v, nil
}
