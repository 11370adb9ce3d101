package yield

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/ledger"
)

// Year is the year APR and APY are annualised to: 365 days.
const Year = 365 * 24 * time.Hour

// Report is the strategies' and the vault's yield over a window, every
// figure read from the ledger, whose entries name the lnd records they
// were posted from (Explain lists them).
type Report struct {
	// Start and End bound the window; SinceStart says it starts at the
	// strategies' first posting rather than End less a duration.
	Start      time.Time
	End        time.Time
	SinceStart bool

	Strategies []StrategyReport
	Vault      VaultReport
}

// Window is End less Start.
func (r Report) Window() time.Duration { return r.End.Sub(r.Start) }

// StrategyReport is one strategy's yield over the report's window.
type StrategyReport struct {
	Name string

	// Capital is the time-weighted principal in place over the window
	// (C̄), rounded down; CapitalEnd the principal at its end.
	Capital    ledger.MilliSatoshi
	CapitalEnd ledger.MilliSatoshi

	// Income and Costs are the lines, by kind, and their totals; Net
	// is Income less Costs (negative when it cost more than it earned).
	Income      []Line
	Costs       []Line
	IncomeTotal ledger.MilliSatoshi
	CostTotal   ledger.MilliSatoshi
	Net         ledger.MilliSatoshi

	// Return is Net / Capital over the window and APR the return
	// annualised: Return × Year / window. Both are unknown (HasReturn
	// false) while no capital was in place. APY is not given: what a
	// strategy earns goes to the idle vault, it does not compound in
	// the strategy.
	Return    decimal.Decimal
	APR       decimal.Decimal
	HasReturn bool

	// Entries are the ledger entries of its yield account in the
	// window, oldest first: what Explain lists.
	Entries []ledger.Entry
}

// Line is one kind of income or cost: its name, total and how many
// ledger entries made it.
type Line struct {
	Name    string
	Amount  ledger.MilliSatoshi
	Entries int
}

// VaultReport is the vault as a whole over the window.
type VaultReport struct {
	// Net is every strategy's net.
	Net ledger.MilliSatoshi

	// ValueStart and ValueEnd are one share's value (ledger.UnitsPerShare
	// units) in msat at the window's ends, exact to 18 decimals.
	ValueStart decimal.Decimal
	ValueEnd   decimal.Decimal

	// Return is ValueEnd / ValueStart − 1; APY its compounding over a
	// year, (1 + Return)^(Year/window) − 1: the vault's value per share
	// compounds what the strategies earn. HasAPY is false when it
	// cannot be computed (an empty window, a value at zero) or means
	// nothing: a window so short that the power is beyond e^50.
	Return decimal.Decimal
	APY    decimal.Decimal
	HasAPY bool
}

// LineName is the report line a strategy's yield entry belongs to, by its
// key's prefix: "routing fees", "open chain fees", ...
func LineName(key string) string {
	switch {
	case strings.HasPrefix(key, "yield-routing:"):
		return "routing fees"
	case strings.HasPrefix(key, "yield-lease:"):
		return "lease premium"
	case strings.HasPrefix(key, "yield-cost:open:"):
		return "open chain fees"
	case strings.HasPrefix(key, "yield-cost:close:"):
		return "close chain fees"
	case strings.HasPrefix(key, "yield-cost:rebalance:"):
		return "rebalance payments"
	default:
		return "other"
	}
}

// Report reads the yield of every allocator and of the vault over the
// window ending now: window long, or since the strategies' first posting
// when window is zero. A negative window is ErrInvalidWindow.
func (v *Vault) Report(ctx context.Context, window time.Duration) (Report,
	error) {

	if window < 0 {
		return Report{}, fmt.Errorf("%w: %v", ErrInvalidWindow, window)
	}
	end := v.clock.Now().UTC()
	r := Report{End: end, Start: end.Add(-window), SinceStart: window == 0}

	hist := make(map[ledger.Account][]ledger.Entry)
	read := func(a ledger.Account) ([]ledger.Entry, error) {
		if h, ok := hist[a]; ok {
			return h, nil
		}
		h, err := v.ledger.History(ctx, a, 0, 0)
		if err != nil {
			return nil, fmt.Errorf("history of %v: %w", a, err)
		}
		hist[a] = h
		return h, nil
	}

	allocs := v.allocators()
	if r.SinceStart {
		r.Start = end
		for _, a := range allocs {
			for _, acct := range []ledger.Account{
				ledger.StrategyPrincipal(a.Name()),
				ledger.StrategyYield(a.Name()),
			} {
				h, err := read(acct)
				if err != nil {
					return Report{}, err
				}
				if len(h) > 0 && h[0].Time.Before(r.Start) {
					r.Start = h[0].Time
				}
			}
		}
	}

	for _, a := range allocs {
		principal, err := read(ledger.StrategyPrincipal(a.Name()))
		if err != nil {
			return Report{}, err
		}
		yields, err := read(ledger.StrategyYield(a.Name()))
		if err != nil {
			return Report{}, err
		}
		sr, err := strategyReport(a.Name(), principal, yields, r.Start,
			r.End)
		if err != nil {
			return Report{}, err
		}
		r.Strategies = append(r.Strategies, sr)
		r.Vault.Net += sr.Net
	}

	vault, err := read(ledger.Vault())
	if err != nil {
		return Report{}, err
	}
	supply, err := read(ledger.ShareSupply())
	if err != nil {
		return Report{}, err
	}
	var principals [][]ledger.Entry
	for _, a := range allocs {
		principals = append(principals,
			hist[ledger.StrategyPrincipal(a.Name())])
	}
	r.Vault.ValueStart = shareValueAt(r.Start, vault, supply, principals)
	r.Vault.ValueEnd = shareValueAt(r.End, vault, supply, principals)
	r.Vault.Return, r.Vault.APY, r.Vault.HasAPY = vaultAPY(
		r.Vault.ValueStart, r.Vault.ValueEnd, r.Window())

	return r, nil
}

// strategyReport sums one strategy's entries over [start, end].
func strategyReport(name string, principal, yields []ledger.Entry,
	start, end time.Time) (StrategyReport, error) {

	sr := StrategyReport{
		Name:       name,
		CapitalEnd: balanceAt(principal, end),
	}
	sr.Capital = timeWeighted(principal, start, end)

	income := make(map[string]*Line)
	costs := make(map[string]*Line)
	var err error
	for _, e := range yields {
		if e.Time.Before(start) || e.Time.After(end) {
			continue
		}
		sr.Entries = append(sr.Entries, e)
		name := LineName(e.IdempotencyKey)
		// Income leaves the yield account (negative there), costs
		// enter it.
		lines, amt := income, -e.Amount
		if e.Amount > 0 {
			lines, amt = costs, e.Amount
		}
		l := lines[name]
		if l == nil {
			l = &Line{Name: name}
			lines[name] = l
		}
		if l.Amount, err = l.Amount.Add(amt); err != nil {
			return StrategyReport{}, err
		}
		l.Entries++
	}
	sr.Income, sr.IncomeTotal = sortedLines(income)
	sr.Costs, sr.CostTotal = sortedLines(costs)
	sr.Net = sr.IncomeTotal - sr.CostTotal

	window := end.Sub(start)
	if sr.Capital > 0 && window > 0 {
		sr.HasReturn = true
		sr.Return = decimal.NewFromInt(int64(sr.Net)).DivRound(
			decimal.NewFromInt(int64(sr.Capital)), 18)
		sr.APR = sr.Return.Mul(decimal.NewFromInt(int64(Year))).
			DivRound(decimal.NewFromInt(int64(window)), 18)
	}

	return sr, nil
}

// sortedLines returns the lines by name and their total.
func sortedLines(m map[string]*Line) ([]Line, ledger.MilliSatoshi) {
	out := make([]Line, 0, len(m))
	var total ledger.MilliSatoshi
	for _, l := range m {
		out = append(out, *l)
		total += l.Amount
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })

	return out, total
}

// balanceAt is the account's balance at t: the balance after its last
// entry at or before t, zero before its first.
func balanceAt(h []ledger.Entry, t time.Time) ledger.MilliSatoshi {
	var b ledger.MilliSatoshi
	for _, e := range h {
		if e.Time.After(t) {
			break
		}
		b = e.BalanceAfter
	}

	return b
}

// sharesAt is a share account's balance at t.
func sharesAt(h []ledger.Entry, t time.Time) ledger.Shares {
	var s ledger.Shares
	for _, e := range h {
		if e.Time.After(t) {
			break
		}
		s = e.SharesAfter
	}

	return s
}

// timeWeighted is the account's balance averaged over [start, end] by
// time, rounded down: Σ balance × time held / window.
func timeWeighted(h []ledger.Entry, start, end time.Time) ledger.MilliSatoshi {
	window := end.Sub(start)
	if window <= 0 {
		return 0
	}
	sum := decimal.Zero
	at := start
	bal := balanceAt(h, start)
	for _, e := range h {
		if !e.Time.After(start) {
			continue
		}
		if e.Time.After(end) {
			break
		}
		sum = sum.Add(decimal.NewFromInt(int64(bal)).Mul(
			decimal.NewFromInt(int64(e.Time.Sub(at)))))
		at, bal = e.Time, e.BalanceAfter
	}
	sum = sum.Add(decimal.NewFromInt(int64(bal)).Mul(
		decimal.NewFromInt(int64(end.Sub(at)))))

	return ledger.MilliSatoshi(sum.Div(decimal.NewFromInt(
		int64(window))).Floor().IntPart())
}

// shareValueAt is one share's value in msat at t, (A+1)/(S+V) ×
// UnitsPerShare, from the balances the ledger held then.
func shareValueAt(t time.Time, vault, supply []ledger.Entry,
	principals [][]ledger.Entry) decimal.Decimal {

	assets := balanceAt(vault, t)
	for _, p := range principals {
		assets += balanceAt(p, t)
	}
	s := -sharesAt(supply, t)

	return decimal.NewFromInt(int64(assets)+1).Mul(
		decimal.NewFromInt(int64(ledger.UnitsPerShare))).DivRound(
		decimal.NewFromInt(int64(s)+VirtualShares), shareValueDigits)
}

// maxAPYExponent bounds x in APY = e^x − 1: a short window annualised
// gives powers beyond any meaning (e^50 is 5 × 10^21), and computing them
// to 18 places takes a long time. Beyond it the APY is not given.
var maxAPYExponent = decimal.NewFromInt(50)

// vaultAPY is the return from v0 to v1 and its compounding over a year,
// e^(ln(v1/v0) × Year/window) − 1.
func vaultAPY(v0, v1 decimal.Decimal, window time.Duration) (
	decimal.Decimal, decimal.Decimal, bool) {

	if window <= 0 || !v0.IsPositive() || !v1.IsPositive() {
		return decimal.Zero, decimal.Zero, false
	}
	growth := v1.DivRound(v0, shareValueDigits)
	ret := growth.Sub(decimal.NewFromInt(1))
	ln, err := growth.Ln(shareValueDigits)
	if err != nil {
		return ret, decimal.Zero, false
	}
	x := ln.Mul(decimal.NewFromInt(int64(Year))).DivRound(
		decimal.NewFromInt(int64(window)), shareValueDigits)
	if x.Abs().GreaterThan(maxAPYExponent) {
		return ret, decimal.Zero, false
	}
	pow, err := x.ExpTaylor(shareValueDigits)
	if err != nil {
		return ret, decimal.Zero, false
	}

	return ret, pow.Sub(decimal.NewFromInt(1)).Round(shareValueDigits), true
}
