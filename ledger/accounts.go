package ledger

import (
	"fmt"
	"strings"
)

// The account kinds. A posting adds its amount to an account, so a transfer
// "A → B of x" is the postings {A: -x, B: +x}. Kinds marked "per job", "per
// provider" or "per strategy" need the id of that thing as the account's Ref;
// the others exist once and take no Ref. Every kind counts millisatoshis
// unless it says it counts shares. docs/accounting.md draws the flows
// between them.
const (
	// KindHubHoldings is the counterparty of money that enters the ledger
	// over Lightning: a settled funding invoice moves money from here into
	// a buyer's escrow. Its balance is therefore minus everything that
	// ever arrived on the hub; it may go negative, and is in fact never
	// positive in normal operation. Singleton.
	KindHubHoldings AccountKind = "hub_holdings"

	// KindBuyerEscrow holds what a buyer paid for a job and has not yet
	// been used or refunded. Per job; may not go negative, which is how a
	// job that runs out of money is stopped.
	KindBuyerEscrow AccountKind = "buyer_escrow"

	// KindProviderPayable holds what a provider has earned and not yet
	// been sent, netted across its jobs. Per provider; may not go
	// negative.
	KindProviderPayable AccountKind = "provider_payable"

	// KindPayoutInFlight holds a provider's payouts that have been sent
	// to lnd and not yet settled or failed. Per provider; may not go
	// negative.
	KindPayoutInFlight AccountKind = "payout_in_flight"

	// KindPaidOut accumulates what a provider has been paid over
	// Lightning; money that lands here has left the hub. Per provider;
	// may not go negative.
	KindPaidOut AccountKind = "paid_out"

	// KindRefunded accumulates what was returned to a job's buyer over
	// Lightning; money that lands here has left the hub. Per job; may not
	// go negative.
	KindRefunded AccountKind = "refunded"

	// KindPlatformFees holds the platform's share of usage. Singleton; may
	// not go negative.
	KindPlatformFees AccountKind = "platform_fees"

	// KindRoutingFees accumulates the Lightning routing fees paid for
	// payouts and refunds; money that lands here has left the hub.
	// Singleton; may not go negative.
	KindRoutingFees AccountKind = "routing_fees"

	// KindVault holds capital staked into the yield vault (provider
	// earnings and platform fees) that is not allocated to a strategy:
	// the vault's idle assets. Singleton; may not go negative.
	KindVault AccountKind = "vault"

	// KindStrategyPrincipal holds vault capital allocated to one yield
	// strategy. Per strategy; may not go negative.
	KindStrategyPrincipal AccountKind = "strategy_principal"

	// KindStrategyYield is the source of one strategy's realised yield:
	// yield moves from here to the strategy's principal or the vault, so
	// its balance is minus the strategy's net yield. A loss moves money
	// back into it. Per strategy; may go negative.
	KindStrategyYield AccountKind = "strategy_yield"

	// KindShareSupply is the issuer's side of the vault's shares: shares
	// are issued from it to a holder and burnt back into it, so its
	// balance is minus the shares outstanding. Counts shares. Singleton;
	// may go negative, and is in fact never positive.
	KindShareSupply AccountKind = "share_supply"

	// KindProviderShares holds the vault shares a provider owns and may
	// redeem. Counts shares. Per provider; may not go negative.
	KindProviderShares AccountKind = "provider_shares"

	// KindSharesLocked holds a provider's shares locked in redemption
	// requests that are not yet finalized: they go back to
	// provider_shares when a request is cancelled and to the supply when
	// it is finalized. Counts shares. Per provider; may not go negative.
	KindSharesLocked AccountKind = "shares_locked"

	// KindSharesWithdrawing holds a provider's shares on their way out
	// of the hub's custody: a withdrawal queued or in an asset send not
	// yet complete. They go to shares_withdrawn when the send is
	// complete and back to provider_shares when it failed. Counts
	// shares. Per provider; may not go negative.
	KindSharesWithdrawing AccountKind = "shares_withdrawing"

	// KindSharesWithdrawn accumulates the shares a provider took out of
	// the hub's custody to its own tapd: still outstanding (the supply
	// is unchanged), held by the provider on chain. Counts shares. Per
	// provider; may not go negative.
	KindSharesWithdrawn AccountKind = "shares_withdrawn"

	// KindSharesDeposited is the source of the shares a provider
	// brought back into the hub's custody from a tapd of its own (or
	// anyone's: the shares it deposits need not be the ones it
	// withdrew): a deposit moves them from here to provider_shares, so
	// its balance is minus the shares the provider deposited. Counts
	// shares. Per provider; may go negative, and is in fact never
	// positive.
	KindSharesDeposited AccountKind = "shares_deposited"
)

// kindInfo is what the ledger knows about one kind.
type kindInfo struct {
	// unit is what the kind's accounts count.
	unit Unit

	// perThing is true when each account of the kind names a job,
	// provider or strategy in its Ref.
	perThing bool

	// mayGoNegative is true for accounts that stand for money outside
	// the ledger (where it came from) rather than money the ledger holds.
	mayGoNegative bool
}

var kinds = map[AccountKind]kindInfo{
	KindHubHoldings:       {unit: UnitMsat, mayGoNegative: true},
	KindBuyerEscrow:       {unit: UnitMsat, perThing: true},
	KindProviderPayable:   {unit: UnitMsat, perThing: true},
	KindPayoutInFlight:    {unit: UnitMsat, perThing: true},
	KindPaidOut:           {unit: UnitMsat, perThing: true},
	KindRefunded:          {unit: UnitMsat, perThing: true},
	KindPlatformFees:      {unit: UnitMsat},
	KindRoutingFees:       {unit: UnitMsat},
	KindVault:             {unit: UnitMsat},
	KindStrategyPrincipal: {unit: UnitMsat, perThing: true},
	KindStrategyYield:     {unit: UnitMsat, perThing: true, mayGoNegative: true},
	KindShareSupply:       {unit: UnitShares, mayGoNegative: true},
	KindProviderShares:    {unit: UnitShares, perThing: true},
	KindSharesLocked:      {unit: UnitShares, perThing: true},
	KindSharesWithdrawing: {unit: UnitShares, perThing: true},
	KindSharesWithdrawn:   {unit: UnitShares, perThing: true},
	KindSharesDeposited:   {unit: UnitShares, perThing: true, mayGoNegative: true},
}

// Kinds returns every account kind, in the order they are declared.
func Kinds() []AccountKind {
	return []AccountKind{
		KindHubHoldings, KindBuyerEscrow, KindProviderPayable,
		KindPayoutInFlight, KindPaidOut, KindRefunded,
		KindPlatformFees, KindRoutingFees, KindVault,
		KindStrategyPrincipal, KindStrategyYield,
		KindShareSupply, KindProviderShares, KindSharesLocked,
		KindSharesWithdrawing, KindSharesWithdrawn,
		KindSharesDeposited,
	}
}

// Known reports whether k is one of the kinds this package declares.
func (k AccountKind) Known() bool {
	_, ok := kinds[k]
	return ok
}

// Unit returns what accounts of kind k count: UnitMsat or UnitShares, and
// "" for an unknown kind.
func (k AccountKind) Unit() Unit {
	return kinds[k].unit
}

// MayGoNegative reports whether an account of kind k may have a balance
// below zero. Only the accounts that stand for value outside the ledger
// (hub holdings, strategy yield, the share supply and share
// deposits) may; an unknown
// kind may not.
func (k AccountKind) MayGoNegative() bool {
	return kinds[k].mayGoNegative
}

// PerThing reports whether accounts of kind k exist once per job, provider
// or strategy, and so need a Ref.
func (k AccountKind) PerThing() bool {
	return kinds[k].perThing
}

// HubHoldings is the hub's Lightning holdings account.
func HubHoldings() Account { return Account{Kind: KindHubHoldings} }

// BuyerEscrow is the escrow account of one job.
func BuyerEscrow(jobID string) Account {
	return Account{Kind: KindBuyerEscrow, Ref: jobID}
}

// ProviderPayable is what one provider has earned and not been sent.
func ProviderPayable(providerID string) Account {
	return Account{Kind: KindProviderPayable, Ref: providerID}
}

// PayoutInFlight is one provider's payouts in flight.
func PayoutInFlight(providerID string) Account {
	return Account{Kind: KindPayoutInFlight, Ref: providerID}
}

// PaidOut is what one provider has been paid.
func PaidOut(providerID string) Account {
	return Account{Kind: KindPaidOut, Ref: providerID}
}

// Refunded is what one job's buyer has been refunded.
func Refunded(jobID string) Account {
	return Account{Kind: KindRefunded, Ref: jobID}
}

// PlatformFees is the platform's fee account.
func PlatformFees() Account { return Account{Kind: KindPlatformFees} }

// RoutingFees is the account of Lightning routing fees paid.
func RoutingFees() Account { return Account{Kind: KindRoutingFees} }

// Vault is the yield vault's unallocated capital.
func Vault() Account { return Account{Kind: KindVault} }

// StrategyPrincipal is the capital allocated to one strategy.
func StrategyPrincipal(strategyID string) Account {
	return Account{Kind: KindStrategyPrincipal, Ref: strategyID}
}

// StrategyYield is the yield source of one strategy.
func StrategyYield(strategyID string) Account {
	return Account{Kind: KindStrategyYield, Ref: strategyID}
}

// ShareSupply is the issuer's side of the vault's shares.
func ShareSupply() Account { return Account{Kind: KindShareSupply} }

// ProviderShares is the vault shares one provider owns.
func ProviderShares(providerID string) Account {
	return Account{Kind: KindProviderShares, Ref: providerID}
}

// SharesLocked is one provider's shares locked in redemption requests.
func SharesLocked(providerID string) Account {
	return Account{Kind: KindSharesLocked, Ref: providerID}
}

// SharesWithdrawing is one provider's shares in withdrawals not yet
// complete.
func SharesWithdrawing(providerID string) Account {
	return Account{Kind: KindSharesWithdrawing, Ref: providerID}
}

// SharesDeposited is the source of the shares one provider deposited back
// into the hub's custody.
func SharesDeposited(providerID string) Account {
	return Account{Kind: KindSharesDeposited, Ref: providerID}
}

// SharesWithdrawn is the shares one provider withdrew to its own tapd.
func SharesWithdrawn(providerID string) Account {
	return Account{Kind: KindSharesWithdrawn, Ref: providerID}
}

// MaxRefLen is the longest Ref an account may have, in bytes: enough for a
// hex node public key (66) or a UUID (36) with room to spare.
const MaxRefLen = 128

// refChar reports whether r may appear in a Ref: ASCII letters and digits,
// and '-', '_' and '.'. The charset leaves ':' free as the separator in
// Account.String and keeps refs safe in logs, URLs and file names.
func refChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
		r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// Validate checks that the account's kind is known and that its Ref is
// present (1 to MaxRefLen characters of [A-Za-z0-9._-]) for per-thing kinds
// and empty for singletons. Errors wrap ErrInvalidAccount.
func (a Account) Validate() error {
	info, ok := kinds[a.Kind]
	switch {
	case !ok:
		return fmt.Errorf("%w: kind %q is not known", ErrInvalidAccount,
			a.Kind)

	case !info.perThing && a.Ref != "":
		return fmt.Errorf("%w: kind %s exists once and takes no ref, "+
			"got %q", ErrInvalidAccount, a.Kind, a.Ref)

	case !info.perThing:
		return nil

	case a.Ref == "":
		return fmt.Errorf("%w: kind %s needs a ref", ErrInvalidAccount,
			a.Kind)

	case len(a.Ref) > MaxRefLen:
		return fmt.Errorf("%w: %s ref is %d bytes, at most %d",
			ErrInvalidAccount, a.Kind, len(a.Ref), MaxRefLen)
	}

	for _, r := range a.Ref {
		if !refChar(r) {
			return fmt.Errorf("%w: %s ref %q has %q, want only "+
				"[A-Za-z0-9._-]", ErrInvalidAccount, a.Kind,
				a.Ref, r)
		}
	}

	return nil
}

// String formats the account as "kind" for singletons and "kind:ref"
// otherwise; ParseAccount reads it back.
func (a Account) String() string {
	if a.Ref == "" {
		return string(a.Kind)
	}

	return string(a.Kind) + ":" + a.Ref
}

// ParseAccount reads an account written as by Account.String and validates
// it.
func ParseAccount(s string) (Account, error) {
	kind, ref, _ := strings.Cut(s, ":")
	a := Account{Kind: AccountKind(kind), Ref: ref}
	if err := a.Validate(); err != nil {
		return Account{}, fmt.Errorf("account %q: %w", s, err)
	}

	return a, nil
}
