package devnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
)

// ErrNotRelayed is returned by MineBlocks when a transaction in the chain
// backend's mempool does not reach the miner in time.
var ErrNotRelayed = errors.New("transaction not relayed to the miner")

// maxGenerate is how many blocks one generate call asks for, so progress
// can be shown and no HTTP call runs for long.
const maxGenerate = 100

// Chain talks to the network's two btcd nodes: the chain backend that lnd
// uses and the miner.
type Chain struct {
	backend *rpcclient.Client
	miner   *rpcclient.Client

	// progress, when set, is called after each generate call.
	progress func(mined, total int)
}

// Chain connects to the profile's btcd and miner. The caller calls Close.
func (p *Profile) Chain() (*Chain, error) {
	return newChain(p.Btcd, p.Miner)
}

// MineBlocks mines n blocks on the profile's network; see Chain.MineBlocks.
func (p *Profile) MineBlocks(ctx context.Context, n int) ([]chainhash.Hash,
	error) {

	c, err := p.Chain()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.MineBlocks(ctx, n)
}

func newChain(backend, miner BtcdNode) (*Chain, error) {
	b, err := btcdClient(backend)
	if err != nil {
		return nil, err
	}
	m, err := btcdClient(miner)
	if err != nil {
		b.Shutdown()
		return nil, err
	}
	return &Chain{backend: b, miner: m}, nil
}

// btcdClient makes an HTTP POST JSON-RPC client for a btcd node.
func btcdClient(n BtcdNode) (*rpcclient.Client, error) {
	cert, err := os.ReadFile(n.TLSCertPath)
	if err != nil {
		return nil, fmt.Errorf("btcd %s: tls cert: %w", n.Name, err)
	}
	c, err := rpcclient.New(&rpcclient.ConnConfig{
		Host:         n.RPCHost,
		User:         n.RPCUser,
		Pass:         n.RPCPass,
		Certificates: cert,
		HTTPPostMode: true,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("btcd %s: rpc client: %w", n.Name, err)
	}
	return c, nil
}

// Close releases the RPC clients.
func (c *Chain) Close() {
	c.backend.Shutdown()
	c.miner.Shutdown()
}

// Height returns the chain backend's block count.
func (c *Chain) Height() (int64, error) {
	h, err := c.backend.GetBlockCount()
	if err != nil {
		return 0, fmt.Errorf("btcd height: %w", err)
	}
	return h, nil
}

// MineBlocks mines n blocks on the miner and returns their hashes once the
// chain backend has them. Every transaction in the backend's mempool (where
// lnd broadcasts) is first waited for in the miner's mempool, so it is in
// the first block.
func (c *Chain) MineBlocks(ctx context.Context, n int) ([]chainhash.Hash,
	error) {

	if n <= 0 {
		return nil, fmt.Errorf("mine blocks: n: must be positive, got %d",
			n)
	}
	if err := c.waitRelayed(ctx); err != nil {
		return nil, err
	}

	hashes := make([]chainhash.Hash, 0, n)
	for len(hashes) < n {
		if err := ctx.Err(); err != nil {
			return hashes, err
		}
		batch := min(n-len(hashes), maxGenerate)
		got, err := c.miner.Generate(uint32(batch))
		if err != nil {
			return hashes, fmt.Errorf("miner generate %d: %w",
				batch, err)
		}
		for _, h := range got {
			hashes = append(hashes, *h)
		}
		if c.progress != nil {
			c.progress(len(hashes), n)
		}
	}

	if err := c.waitSynced(ctx); err != nil {
		return hashes, err
	}
	return hashes, nil
}

// waitRelayed waits until the miner's mempool holds every transaction of
// the backend's mempool.
func (c *Chain) waitRelayed(ctx context.Context) error {
	var missing []*chainhash.Hash
	err := poll(ctx, 30*time.Second, "mempool relay to the miner",
		func(ctx context.Context) error {
			want, err := c.backend.GetRawMempool()
			if err != nil {
				return fmt.Errorf("btcd mempool: %w", err)
			}
			have, err := c.miner.GetRawMempool()
			if err != nil {
				return fmt.Errorf("miner mempool: %w", err)
			}
			in := make(map[chainhash.Hash]bool, len(have))
			for _, h := range have {
				in[*h] = true
			}
			missing = missing[:0]
			for _, h := range want {
				if !in[*h] {
					missing = append(missing, h)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("%w: %d transactions, first "+
					"%v", ErrNotRelayed, len(missing),
					missing[0])
			}
			return nil
		})
	return err
}

// waitSynced waits until the backend's best block is the miner's.
func (c *Chain) waitSynced(ctx context.Context) error {
	return poll(ctx, 30*time.Second, "btcd to sync with the miner",
		func(ctx context.Context) error {
			want, _, err := c.miner.GetBestBlock()
			if err != nil {
				return fmt.Errorf("miner best block: %w", err)
			}
			have, height, err := c.backend.GetBestBlock()
			if err != nil {
				return fmt.Errorf("btcd best block: %w", err)
			}
			if !have.IsEqual(want) {
				return fmt.Errorf("btcd at %d %v, miner at %v",
					height, have, want)
			}
			return nil
		})
}

// poll calls check until it returns nil, every 100 ms, for at most timeout.
// On timeout the error says what was awaited and the last check's error.
func poll(ctx context.Context, timeout time.Duration, what string,
	check func(ctx context.Context) error) error {

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		var stop *stopPolling
		if errors.As(last, &stop) {
			return stop.err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %w)",
				what, ctx.Err(), last)
		case <-ticker.C:
		}
	}
}

// stopPolling ends a poll at once with err: the awaited thing can no longer
// happen (for example, its process exited).
type stopPolling struct{ err error }

func (s *stopPolling) Error() string { return s.err.Error() }
