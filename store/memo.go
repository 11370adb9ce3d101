package store

import (
	"maps"
	"slices"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/yield"
)

// txMemo keeps what one transaction read of rows that, inside it, change
// only through its own writes, so that reading a row again costs no
// statement: the state of accounts (written only by InsertTransaction,
// which updates the memo with the states it writes) and jobs (written by
// InsertJob, UpdateJobState and SetJobRefundPubkey, which forget the job)
// and usage meters (written by PutUsageMeter, which forgets the job's).
// Within a transaction a row read again holds what it held, plus the
// transaction's own writes: SQLite has one writer, and Postgres runs
// read-write transactions at SERIALIZABLE, on one snapshot. So a memo
// answers exactly what a second read would.
//
// Metering's group commit turns it on (MeteringStore.ExecUsage): there one
// batch reads its job and its escrow in metering, then again in
// settlement's solvency check after the charge, and the charge's accounts
// again in the vault's auto-stake. So do payouts' read-write transactions
// (DB.ExecPayouts), whose intent reads the balances its ledger move then
// posts to. Other transactions run without it.
type txMemo struct {
	// accounts holds the states read or written; a known account absent
	// from the store is held with found false.
	accounts map[ledger.Account]memoAccount

	// jobs holds the job rows read, with their resources.
	jobs map[string]Job

	// meters holds the usage meters read, by job; a job never metered
	// is held with found false. PutUsageMeter forgets the job's.
	meters map[string]memoMeter

	// links holds, by job, its provider's agent key and its first
	// funding as metering's reads found them (loadMeteringJobs): neither
	// changes inside a group commit.
	links map[string]memoLink

	// The vault's rows a group commit's charges each read: its policy
	// (PutPolicy forgets it), the providers' auto-stake percents
	// (SetAutoStake forgets the provider's) and the total of the
	// strategies' principal (forgotten when one is posted to).
	policy    *yield.Policy
	autoStake map[string]uint32
	allocated *ledger.MilliSatoshi
}

// memoMeter is a job's usage meter as the transaction read it.
type memoMeter struct {
	meter UsageMeter
	found bool
}

// memoLink is a job's provider's agent key (linked false when the
// provider is not stored) and when the job was first funded.
type memoLink struct {
	agentKey string
	linked   bool
	fundedAt time.Time
}

// memoAccount is an account's state as the transaction saw it last.
type memoAccount struct {
	state ledger.AccountState
	found bool
}

// remember turns the memo on for the rest of the transaction.
func (t *Tx) remember() {
	t.memo = &txMemo{
		accounts:  make(map[ledger.Account]memoAccount),
		jobs:      make(map[string]Job),
		meters:    make(map[string]memoMeter),
		links:     make(map[string]memoLink),
		autoStake: make(map[string]uint32),
	}
}

// memoAccount returns what the transaction knows of an account's state.
func (t *Tx) memoAccount(a ledger.Account) (memoAccount, bool) {
	if t.memo == nil {
		return memoAccount{}, false
	}
	m, ok := t.memo.accounts[a]
	return m, ok
}

// keepAccount records an account's state as read or written.
func (t *Tx) keepAccount(a ledger.Account, st ledger.AccountState,
	found bool) {

	if t.memo == nil {
		return
	}
	t.memo.accounts[a] = memoAccount{state: st, found: found}
}

// wroteAccount records an account's state as the transaction wrote it,
// and forgets a total it changes.
func (t *Tx) wroteAccount(a ledger.Account, st ledger.AccountState) {
	if t.memo == nil {
		return
	}
	t.keepAccount(a, st, true)
	if a.Kind == ledger.KindStrategyPrincipal {
		t.memo.allocated = nil
	}
}

// memoJob returns the job row the transaction read, if it did and has not
// written the job since.
func (t *Tx) memoJob(id string) (Job, bool) {
	if t.memo == nil {
		return Job{}, false
	}
	j, ok := t.memo.jobs[id]
	j.Resources = slices.Clone(j.Resources)
	return j, ok
}

// keepJob records a job row as read.
func (t *Tx) keepJob(j Job) {
	if t.memo == nil {
		return
	}
	j.Resources = slices.Clone(j.Resources)
	t.memo.jobs[j.ID] = j
}

// forgetJob drops a job the transaction writes.
func (t *Tx) forgetJob(id string) {
	if t.memo != nil {
		delete(t.memo.jobs, id)
	}
}

// memoMeter returns the job's usage meter as the transaction read it.
func (t *Tx) memoMeter(jobID string) (memoMeter, bool) {
	if t.memo == nil {
		return memoMeter{}, false
	}
	m, ok := t.memo.meters[jobID]
	return m, ok
}

// keepMeter records a job's usage meter as read.
func (t *Tx) keepMeter(jobID string, m UsageMeter, found bool) {
	if t.memo != nil {
		t.memo.meters[jobID] = memoMeter{meter: m, found: found}
	}
}

// keepLink records a job's agent key and first funding as read.
func (t *Tx) keepLink(jobID, agentKey string, linked bool,
	fundedAt time.Time) {

	if t.memo != nil {
		t.memo.links[jobID] = memoLink{agentKey, linked, fundedAt}
	}
}

// memoMeteringJob returns what meteringJob returns of a job when the
// memo holds all of it: the job, its meter and its link.
func (t *Tx) memoMeteringJob(id string) (meteringJobRecord, bool) {
	if t.memo == nil {
		return meteringJobRecord{}, false
	}
	job, okJob := t.memoJob(id)
	m, okMeter := t.memo.meters[id]
	l, okLink := t.memo.links[id]
	if !okJob || !okMeter || !okLink {
		return meteringJobRecord{}, false
	}

	return meteringJobRecord{job: job, agentKey: l.agentKey,
		linked: l.linked, fundedAt: l.fundedAt, meter: m.meter,
		meterFound: m.found}, true
}

// forgetMeter drops the meter of a job the transaction writes.
func (t *Tx) forgetMeter(jobID string) {
	if t.memo != nil {
		delete(t.memo.meters, jobID)
	}
}

// memoPolicy returns the vault policy as the transaction read it.
func (t *Tx) memoPolicy() (yield.Policy, bool) {
	if t.memo == nil || t.memo.policy == nil {
		return yield.Policy{}, false
	}
	p := *t.memo.policy
	p.Caps = maps.Clone(p.Caps)
	return p, true
}

// keepPolicy records the vault policy as read; forgetPolicy drops it.
func (t *Tx) keepPolicy(p yield.Policy) {
	if t.memo != nil {
		p.Caps = maps.Clone(p.Caps)
		t.memo.policy = &p
	}
}

func (t *Tx) forgetPolicy() {
	if t.memo != nil {
		t.memo.policy = nil
	}
}

// memoAutoStake returns a provider's auto-stake percent as read.
func (t *Tx) memoAutoStake(providerID string) (uint32, bool) {
	if t.memo == nil {
		return 0, false
	}
	pct, ok := t.memo.autoStake[providerID]
	return pct, ok
}

// keepAutoStake records a provider's auto-stake percent as read;
// forgetAutoStake drops it.
func (t *Tx) keepAutoStake(providerID string, pct uint32) {
	if t.memo != nil {
		t.memo.autoStake[providerID] = pct
	}
}

func (t *Tx) forgetAutoStake(providerID string) {
	if t.memo != nil {
		delete(t.memo.autoStake, providerID)
	}
}

// memoAllocated returns the strategies' principal total as read.
func (t *Tx) memoAllocated() (ledger.MilliSatoshi, bool) {
	if t.memo == nil || t.memo.allocated == nil {
		return 0, false
	}
	return *t.memo.allocated, true
}

// keepAllocated records the strategies' principal total as read.
func (t *Tx) keepAllocated(total ledger.MilliSatoshi) {
	if t.memo != nil {
		t.memo.allocated = &total
	}
}

// forgetAll drops everything: a raw statement may have written anything.
func (t *Tx) forgetAll() {
	if t.memo != nil {
		t.remember()
	}
}
