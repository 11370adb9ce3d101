package shares

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lightningnetwork/lnd/clock"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/outbound"
)

// mintOutcome is how a mint ended: the asset tapd holds when it succeeded.
type mintOutcome = outbound.Outcome[hubnode.MintedAsset]

// mintCall is one mint as an outbound call: Send adds the seedling and
// finalizes the batch, Track finds the batch by the asset's name; both
// wait until the batch is final.
type mintCall struct {
	minter   Minter
	seedling hubnode.Seedling
	feeRate  uint32
	poll     time.Duration
	clock    clock.Clock
}

var _ outbound.Call[hubnode.MintedAsset] = (*mintCall)(nil)

// failed is a failed outcome that says why.
func failed(format string, args ...any) mintOutcome {
	return mintOutcome{Status: outbound.StatusFailed,
		Failure: fmt.Sprintf(format, args...)}
}

// Send adds the seedling to tapd's pending batch and finalizes it.
func (c *mintCall) Send(ctx context.Context, accepted func()) (mintOutcome,
	error) {

	err := c.minter.MintAsset(ctx, c.seedling)
	switch {
	case errors.Is(err, hubnode.ErrSeedlingExists):
		return mintOutcome{}, fmt.Errorf("%w: %w", outbound.ErrExists,
			err)

	case errors.Is(err, hubnode.ErrMintRefused):
		return failed("%v", err), nil

	case err != nil:
		return mintOutcome{}, err
	}

	return c.finalize(ctx, accepted)
}

// finalize finalizes tapd's pending batch, which holds the seedling, and
// waits until it is final. A refusal leaves the seedling pending in tapd:
// it is an unknown outcome, tracked (and finalized) again.
func (c *mintCall) finalize(ctx context.Context, accepted func()) (
	mintOutcome, error) {

	b, err := c.minter.FinalizeBatch(ctx, c.feeRate)
	if err != nil {
		return mintOutcome{}, err
	}
	log.Infof("Share mint %q: batch %x broadcast (tx %v)", c.seedling.Name,
		b.Key, b.Txid)
	if accepted != nil {
		accepted()
	}

	return c.wait(ctx)
}

// Track finds the batch holding the seedling by its name: never seen when
// none does; finalized when a crash left it pending; followed until final.
func (c *mintCall) Track(ctx context.Context) (mintOutcome, error) {
	b, err := c.minter.MintBatch(ctx, c.seedling.Name)
	switch {
	case errors.Is(err, hubnode.ErrBatchNotFound):
		return mintOutcome{}, fmt.Errorf("%w: %w", outbound.ErrNotSeen,
			err)

	case err != nil:
		return mintOutcome{}, err

	case b.State == hubnode.BatchPending:
		return c.finalize(ctx, nil)
	}

	return c.wait(ctx)
}

// wait reads the seedling's batch until it is final (the asset tapd holds)
// or cancelled (failed).
func (c *mintCall) wait(ctx context.Context) (mintOutcome, error) {
	for {
		b, err := c.minter.MintBatch(ctx, c.seedling.Name)
		if err != nil {
			return mintOutcome{}, err
		}
		switch {
		case b.State.Cancelled():
			return failed("tapd batch %x %v", b.Key, b.State), nil

		case b.State == hubnode.BatchFinalized:
			a, err := c.minter.MintedAsset(ctx, c.seedling.Name,
				b.Txid)
			if err != nil {
				// A final batch whose asset is not listed
				// (tapd #1562): unknown, tracked again.
				return mintOutcome{}, err
			}
			return mintOutcome{Status: outbound.StatusSucceeded,
				Detail: a}, nil
		}
		log.Debugf("Share mint %q: batch %x %v", c.seedling.Name,
			b.Key, b.State)

		select {
		case <-c.clock.TickAfter(c.poll):
		case <-ctx.Done():
			return mintOutcome{}, ctx.Err()
		}
	}
}
