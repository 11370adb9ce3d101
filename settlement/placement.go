package settlement

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluice-ln/sluice/channels"
)

// A job created without a provider is placed by the market; settlement
// keeps where it was placed (job_placements) and places it again when
// that provider does not start it in time (a job funded, or low on
// balance, that its agent has not started: State.Startable; a suspended
// one waits for a top-up where it is): the job moves, escrow and all
// (escrow is the job's account, not the provider's), to the provider the
// market takes next, never to one that let it lapse before. A job its
// buyer named a provider for stays where it is. docs/market.md has the
// rule.

// FormatMaxRates writes a buyer's maximum rates for placement as
// "cpu=0.01,mem=2", resources in order; empty for none. ParseMaxRates reads
// it back.
func FormatMaxRates(max channels.RateCard) string {
	keys := make([]string, 0, len(max))
	for k := range max {
		keys = append(keys, string(k))
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + max[channels.Resource(k)].String()
	}
	return strings.Join(parts, ",")
}

// ParseMaxRates reads what FormatMaxRates wrote.
func ParseMaxRates(s string) (channels.RateCard, error) {
	raw := map[string]string{}
	if s != "" {
		for _, part := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(part, "=")
			if !ok {
				return nil, fmt.Errorf("max rate %q is not "+
					"resource=rate", part)
			}
			raw[k] = v
		}
	}
	return channels.ParseRateCard(raw)
}

// StoredPlacement is one placement of a job as the store keeps it.
type StoredPlacement struct {
	JobID      string
	Seq        int64
	ProviderID string
	MaxRates   string
	PlacedAt   time.Time

	// LapsedAt is when the job left this provider for not being
	// started in time; zero for the current placement.
	LapsedAt time.Time

	// FundedAt is when the job's funding invoice settled; set only by
	// UnstartedPlacements.
	FundedAt time.Time
}

// ServedJob is a job a serving agent started and has not submitted the
// result of.
type ServedJob struct {
	ID         string
	ProviderID string
}

// Placer places a job again; the market satisfies it through daemon.
type Placer interface {
	// Replace returns the provider the market takes now for spec under
	// max, leaving out the providers in exclude, with its rate card.
	// When none fits the error wraps ErrNoPlacement.
	Replace(ctx context.Context, spec Spec, max channels.RateCard,
		exclude []string) (string, channels.RateCard, error)

	// LastSeen is the provider's last heartbeat; false when it never
	// sent one.
	LastSeen(ctx context.Context, providerID string) (time.Time, bool,
		error)
}

// ErrNoPlacement is returned by a Placer when no provider fits.
var ErrNoPlacement = errors.New("no provider to place the job on")

// Defaults of the placement knobs.
const (
	// DefaultStartTimeout is how long a placed job may wait, funded,
	// for its provider's agent to start it before it is placed again.
	DefaultStartTimeout = 2 * time.Minute

	// DefaultLostAfter is how long after its provider's last heartbeat
	// a started job with a workload is ended: its sandbox died with the
	// agent, or the machine is gone.
	DefaultLostAfter = time.Minute
)

// replaceLapsed places again every placed job in a startable state whose
// provider has not started it within StartTimeout of its funding or its
// last placement.
func (m *Manager) replaceLapsed(ctx context.Context) error {
	var rows []StoredPlacement
	err := m.execTx(ctx, true, func(tx TxStore) error {
		var err error
		rows, err = tx.UnstartedPlacements(ctx)
		return err
	})
	if err != nil {
		return err
	}
	now := m.now()
	for _, p := range rows {
		since := p.PlacedAt
		if p.FundedAt.After(since) {
			since = p.FundedAt
		}
		if now.Sub(since) < m.cfg.StartTimeout {
			continue
		}
		if err := m.replace(ctx, p); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Warnf("Job %s: placing it again: %v", p.JobID, err)
		}
	}
	return nil
}

// replace moves the job of placement p to the provider the market takes
// now, leaving out every provider it was placed on before; with none to
// take, the job stays.
func (m *Manager) replace(ctx context.Context, p StoredPlacement) error {
	max, err := ParseMaxRates(p.MaxRates)
	if err != nil {
		return fmt.Errorf("stored max rates: %w", err)
	}
	var (
		job    StoredJob
		placed []StoredPlacement
	)
	err = m.execTx(ctx, true, func(tx TxStore) error {
		var err error
		if job, err = tx.JobByID(ctx, p.JobID); err != nil {
			return err
		}
		placed, err = tx.JobPlacements(ctx, p.JobID)
		return err
	})
	if err != nil {
		return err
	}
	spec := Spec{}
	exclude := make([]string, 0, len(placed))
	for _, r := range job.Resources {
		spec[r.Resource] = r.MaxPerSecond
	}
	for _, q := range placed {
		exclude = append(exclude, q.ProviderID)
	}
	to, rates, err := m.cfg.Placer.Replace(ctx, spec, max, exclude)
	if errors.Is(err, ErrNoPlacement) {
		if !m.stuck[p.JobID] {
			log.Infof("Job %s: provider %s did not start it; "+
				"no other provider to place it on yet: %v",
				p.JobID, p.ProviderID, err)
			m.stuck[p.JobID] = true
		}
		return nil
	}
	if err != nil {
		return err
	}
	price, err := PricePerSecond(spec, rates)
	if err != nil {
		return fmt.Errorf("provider %s: %w", to, err)
	}
	now := m.now()
	err = m.execTx(ctx, false, func(tx TxStore) error {
		job, err := tx.JobByID(ctx, p.JobID)
		if err != nil {
			return err
		}
		if job.ProviderID != p.ProviderID || !job.State.Startable() ||
			!job.StartedAt.IsZero() {

			return fmt.Errorf("%w: job %s is %s on provider %s",
				ErrStale, job.ID, job.State, job.ProviderID)
		}
		card := map[channels.Resource]string{}
		for _, r := range job.Resources {
			card[r.Resource] = rateOrZero(rates, r.Resource).String()
		}
		err = tx.MoveJob(ctx, JobMove{
			ID: job.ID, From: p.ProviderID, To: to,
			PricePerSecond: price.String(), Rates: card, At: now,
		})
		if err != nil {
			return err
		}
		if err := tx.LapsePlacement(ctx, job.ID, p.Seq, now); err != nil {
			return err
		}
		err = tx.InsertJobPlacement(ctx, StoredPlacement{
			JobID: job.ID, Seq: p.Seq + 1, ProviderID: to,
			MaxRates: p.MaxRates, PlacedAt: now,
		})
		if err != nil {
			return err
		}
		err = tx.InsertJobEvent(ctx, StoredEvent{
			JobID: job.ID, From: job.State, To: job.State,
			Cause: CausePlacedAgain,
			Detail: fmt.Sprintf("provider %s did not start it "+
				"within %v; moved to provider %s at %s msat/s",
				p.ProviderID, m.cfg.StartTimeout, to, price),
			At: now,
		})
		if err != nil {
			return err
		}
		// At the new price the runway may rise above the buffer
		// (the job is funded again, for its placement) or fall
		// below it.
		job.ProviderID, job.PricePerSecond = to, price.String()
		_, err = m.evaluateBy(ctx, tx, &job, CausePlacedAgain)
		return err
	})
	if errors.Is(err, ErrStale) {
		// Started, ended or moved meanwhile: nothing to do.
		return nil
	}
	if err != nil {
		return err
	}
	delete(m.stuck, p.JobID)
	log.Infof("Job %s: provider %s did not start it within %v; placed "+
		"again on provider %s at %s msat/s", p.JobID, p.ProviderID,
		m.cfg.StartTimeout, to, price)
	return nil
}

// endLost ends, as CauseProviderLost, every started job with a workload
// and no result whose provider's last heartbeat is more than LostAfter
// old: a sandboxed run does not outlive its agent. The buyer is refunded
// the rest as for any end.
func (m *Manager) endLost(ctx context.Context) error {
	var served []ServedJob
	err := m.execTx(ctx, true, func(tx TxStore) error {
		var err error
		served, err = tx.ServedJobs(ctx)
		return err
	})
	if err != nil {
		return err
	}
	now := m.now()
	lost := map[string]time.Duration{}
	for _, j := range served {
		gone, seen := lost[j.ProviderID]
		if !seen {
			last, ok, err := m.cfg.Placer.LastSeen(ctx, j.ProviderID)
			if err != nil {
				return err
			}
			gone = 0
			if ok && now.Sub(last) > m.cfg.LostAfter {
				gone = now.Sub(last)
			}
			lost[j.ProviderID] = gone
		}
		if gone == 0 {
			continue
		}
		log.Warnf("Job %s: provider %s sent no heartbeat for %v; "+
			"ending the job", j.ID, j.ProviderID,
			gone.Truncate(time.Second))
		_, err := m.EndJob(ctx, EndJobRequest{
			JobID: j.ID, By: CauseProviderLost,
		})
		if err != nil && !errors.Is(err, ErrJobEnded) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			log.Warnf("Job %s: ending it: %v", j.ID, err)
		}
	}
	return nil
}
