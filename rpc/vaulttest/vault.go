// Package vaulttest fakes the yield vault that rpc's VaultService calls
// (rpc.VaultBackend), for the handler tests and the CLI's. A Vault answers
// only the calls a test declared, each declared call once, in any order;
// it fails the test on any other call, and, when the test ends, on a
// declared call that never came. The package does not import rpc (rpc's own
// tests use it), so the check that Vault meets rpc.VaultBackend is in rpc's
// tests.
package vaulttest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/yield"
)

// AnyKey, as the key of an expected Stake or Redeem, matches whatever key
// the call brings: the one the server makes when the request has none.
// Keys records the keys that came.
const AnyKey = "\x00any key\x00"

// Vault is a fake vault. Declare each call with an Expect method; every
// declared call must come exactly once.
type Vault struct {
	t testing.TB

	mu       sync.Mutex
	expected []*expectation
	keys     []string
}

// expectation is one declared call and its answer.
type expectation struct {
	call    string
	results []any
	err     error
	used    bool
}

// New returns a fake that checks, when the test ends, that every declared
// call came.
func New(t testing.TB) *Vault {
	v := &Vault{t: t}
	t.Cleanup(v.check)
	return v
}

// describe writes a call as its method and arguments, which is what
// declared and made calls are matched by.
func describe(method string, args ...any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if s, ok := a.(string); ok {
			parts[i] = fmt.Sprintf("%q", s)
			continue
		}
		parts[i] = fmt.Sprintf("%+v", a)
	}
	return method + "(" + strings.Join(parts, ", ") + ")"
}

// expect declares a call and its answer.
func (v *Vault) expect(call string, err error, results ...any) *Vault {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.expected = append(v.expected, &expectation{call: call,
		results: results, err: err})
	return v
}

// answer finds the first unused declaration of call (or of alt, when not
// empty) and returns it, or fails the test and returns nil.
func (v *Vault) answer(call, alt string) *expectation {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range v.expected {
		if !e.used && (e.call == call || (alt != "" && e.call == alt)) {
			e.used = true
			return e
		}
	}
	v.t.Errorf("vaulttest: unexpected call %s", call)
	return nil
}

// give returns the declared answer's result i and error, or the zero value
// and an error for an undeclared call.
func give[T any](e *expectation, call string, i int) (T, error) {
	var zero T
	if e == nil {
		return zero, fmt.Errorf("vaulttest: unexpected call %s", call)
	}
	if len(e.results) <= i {
		return zero, e.err
	}
	return e.results[i].(T), e.err
}

// check fails the test for every declared call that never came.
func (v *Vault) check() {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range v.expected {
		if !e.used {
			v.t.Errorf("vaulttest: expected call %s never came",
				e.call)
		}
	}
}

// Keys returns the idempotency keys Stake and Redeem were called with, in
// order.
func (v *Vault) Keys() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.keys...)
}

// keyed records a call's key and returns the call as declared with it and
// with AnyKey.
func (v *Vault) keyed(method, key string, rest ...any) (string, string) {
	v.mu.Lock()
	v.keys = append(v.keys, key)
	v.mu.Unlock()
	return describe(method, append([]any{key}, rest...)...),
		describe(method, append([]any{AnyKey}, rest...)...)
}

// ExpectState declares a State call.
func (v *Vault) ExpectState(st yield.State, err error) *Vault {
	return v.expect(describe("State"), err, st)
}

// State answers as declared.
func (v *Vault) State(context.Context) (yield.State, error) {
	call := describe("State")
	return give[yield.State](v.answer(call, ""), call, 0)
}

// ExpectHolding declares a Holding call.
func (v *Vault) ExpectHolding(providerID string, h yield.Holding,
	err error) *Vault {

	return v.expect(describe("Holding", providerID), err, h)
}

// Holding answers as declared.
func (v *Vault) Holding(_ context.Context, providerID string) (
	yield.Holding, error) {

	call := describe("Holding", providerID)
	return give[yield.Holding](v.answer(call, ""), call, 0)
}

// ExpectStake declares a Stake call; key may be AnyKey.
func (v *Vault) ExpectStake(key, providerID string,
	amount ledger.MilliSatoshi, all bool, r yield.StakeResult,
	err error) *Vault {

	return v.expect(describe("Stake", key, providerID, amount, all), err,
		r)
}

// Stake answers as declared.
func (v *Vault) Stake(_ context.Context, key, providerID string,
	amount ledger.MilliSatoshi, all bool) (yield.StakeResult, error) {

	call, alt := v.keyed("Stake", key, providerID, amount, all)
	return give[yield.StakeResult](v.answer(call, alt), call, 0)
}

// ExpectSetAutoStake declares a SetAutoStake call.
func (v *Vault) ExpectSetAutoStake(providerID string, percent uint32,
	err error) *Vault {

	return v.expect(describe("SetAutoStake", providerID, percent), err)
}

// SetAutoStake answers as declared.
func (v *Vault) SetAutoStake(_ context.Context, providerID string,
	percent uint32) error {

	call := describe("SetAutoStake", providerID, percent)
	_, err := give[struct{}](v.answer(call, ""), call, 0)
	return err
}

// ExpectRedeem declares a Redeem call; key may be AnyKey.
func (v *Vault) ExpectRedeem(key, providerID string, shares ledger.Shares,
	r yield.Redemption, err error) *Vault {

	return v.expect(describe("Redeem", key, providerID, int64(shares)),
		err, r)
}

// Redeem answers as declared.
func (v *Vault) Redeem(_ context.Context, key, providerID string,
	shares ledger.Shares) (yield.Redemption, error) {

	call, alt := v.keyed("Redeem", key, providerID, int64(shares))
	return give[yield.Redemption](v.answer(call, alt), call, 0)
}

// ExpectCancelRedeem declares a CancelRedeem call.
func (v *Vault) ExpectCancelRedeem(providerID string, id int64,
	r yield.Redemption, err error) *Vault {

	return v.expect(describe("CancelRedeem", providerID, id), err, r)
}

// CancelRedeem answers as declared.
func (v *Vault) CancelRedeem(_ context.Context, providerID string,
	id int64) (yield.Redemption, error) {

	call := describe("CancelRedeem", providerID, id)
	return give[yield.Redemption](v.answer(call, ""), call, 0)
}

// ExpectRedemptions declares a Redemptions call.
func (v *Vault) ExpectRedemptions(f yield.RedemptionFilter,
	rs []yield.Redemption, err error) *Vault {

	return v.expect(describe("Redemptions", f), err, rs)
}

// Redemptions answers as declared.
func (v *Vault) Redemptions(_ context.Context,
	f yield.RedemptionFilter) ([]yield.Redemption, error) {

	call := describe("Redemptions", f)
	return give[[]yield.Redemption](v.answer(call, ""), call, 0)
}

// ExpectEpochs declares an Epochs call.
func (v *Vault) ExpectEpochs(after uint64, limit int,
	es []yield.StoredEpoch, err error) *Vault {

	return v.expect(describe("Epochs", after, limit), err, es)
}

// Epochs answers as declared.
func (v *Vault) Epochs(_ context.Context, after uint64,
	limit int) ([]yield.StoredEpoch, error) {

	call := describe("Epochs", after, limit)
	return give[[]yield.StoredEpoch](v.answer(call, ""), call, 0)
}

// ExpectEpoch declares an Epoch call.
func (v *Vault) ExpectEpoch(number uint64, e yield.StoredEpoch,
	cs []yield.Contribution, err error) *Vault {

	return v.expect(describe("Epoch", number), err, e, cs)
}

// Epoch answers as declared.
func (v *Vault) Epoch(_ context.Context, number uint64) (yield.StoredEpoch,
	[]yield.Contribution, error) {

	call := describe("Epoch", number)
	e := v.answer(call, "")
	epoch, err := give[yield.StoredEpoch](e, call, 0)
	if e == nil {
		return epoch, nil, err
	}
	cs, err := give[[]yield.Contribution](e, call, 1)
	return epoch, cs, err
}

// ExpectRewardProof declares a RewardProof call.
func (v *Vault) ExpectRewardProof(number uint64, providerID string,
	p yield.RewardProof, err error) *Vault {

	return v.expect(describe("RewardProof", number, providerID), err, p)
}

// RewardProof answers as declared.
func (v *Vault) RewardProof(_ context.Context, number uint64,
	providerID string) (yield.RewardProof, error) {

	call := describe("RewardProof", number, providerID)
	return give[yield.RewardProof](v.answer(call, ""), call, 0)
}

// ExpectSetPolicy declares a SetPolicy call. A nil and an empty caps map
// are the same call.
func (v *Vault) ExpectSetPolicy(floorBPS uint32,
	caps map[string]ledger.MilliSatoshi, p yield.Policy,
	err error) *Vault {

	return v.expect(describe("SetPolicy", floorBPS, capsText(caps)), err,
		p)
}

// SetPolicy answers as declared.
func (v *Vault) SetPolicy(_ context.Context, floorBPS uint32,
	caps map[string]ledger.MilliSatoshi) (yield.Policy, error) {

	call := describe("SetPolicy", floorBPS, capsText(caps))
	return give[yield.Policy](v.answer(call, ""), call, 0)
}

// capsText writes caps in key order (fmt sorts map keys), nil as empty.
func capsText(caps map[string]ledger.MilliSatoshi) string {
	if len(caps) == 0 {
		return "map[]"
	}
	raw := make(map[string]int64, len(caps))
	for k, c := range caps {
		raw[k] = int64(c)
	}
	return fmt.Sprint(raw)
}

// ExpectShutdown declares a Shutdown call.
func (v *Vault) ExpectShutdown(on bool, p yield.Policy, err error) *Vault {
	return v.expect(describe("Shutdown", on), err, p)
}

// Shutdown answers as declared.
func (v *Vault) Shutdown(_ context.Context, on bool) (yield.Policy, error) {
	call := describe("Shutdown", on)
	return give[yield.Policy](v.answer(call, ""), call, 0)
}
