package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/shares"
)

// The story's last act: the vault's shares on tapd. A share supply exists
// only once an epoch with rewards has closed, and the genesis mints that
// supply, so the genesis is made during the work, at the first such close;
// the epochs that close after it are minted by sluiced as tranches. After
// the work provider1 withdraws its shares to its own tapd and verifies its
// reward in the last tranche against the chain.

// shareAct is what the last act carries from step to step.
type shareAct struct {
	// opsBefore is how many epoch operations (tranches and burns) the
	// share asset had before the work; baseEpoch is the last epoch
	// closed then.
	opsBefore int
	baseEpoch uint64

	// genesisDone gets the genesis command's outcome once; nil until the
	// story started one. genesisErr is that outcome once read, and
	// genesisEnded says it was.
	genesisDone  chan error
	genesisErr   error
	genesisEnded bool

	// announced is set once the story printed the genesis's success.
	announced bool

	sum ShareSummary
}

// shareStates are the states of the share asset's genesis and epoch
// operations as the API shows them.
const (
	statePending   = string(outbound.StatusPending)
	stateSucceeded = string(outbound.StatusSucceeded)
	stateFailed    = string(outbound.StatusFailed)
)

// getShares reads the share asset and its epoch operations.
func (s *story) getShares(ctx context.Context) (*sluicerpc.GetSharesResponse,
	error) {

	resp, err := s.operator.shares.GetShares(ctx, connect.NewRequest(
		&sluicerpc.GetSharesRequest{}))
	if err != nil {
		return nil, fmt.Errorf("get shares: %w", err)
	}
	return resp.Msg, nil
}

// shareBaseline notes where the share asset and the epochs stand before the
// work, so that the summary tells this story's tranches from earlier ones.
func (s *story) shareBaseline(ctx context.Context) error {
	sh, err := s.getShares(ctx)
	if err != nil {
		return err
	}
	s.act.opsBefore = len(sh.EpochOps)
	epochs, err := s.operator.vault.ListEpochs(ctx, connect.NewRequest(
		&sluicerpc.ListEpochsRequest{}))
	if err != nil {
		return fmt.Errorf("list epochs: %w", err)
	}
	for _, e := range epochs.Msg.Epochs {
		if e.Closed {
			s.act.baseEpoch = max(s.act.baseEpoch, e.Number)
		}
	}
	if a := sh.Asset; a != nil {
		// An earlier story made it: this one's epochs are its
		// tranches.
		s.act.announced = true
		fmt.Fprintf(s.out, "    share asset %s (%s) exists: the "+
			"story's epochs become its tranches\n", a.Name, a.State)
	}
	return nil
}

// mine mines one block on the network.
func (s *story) mine(ctx context.Context) error {
	if s.chain == nil {
		c, err := s.prof.Chain()
		if err != nil {
			return err
		}
		s.chain = c
	}
	if _, err := s.chain.MineBlocks(ctx, 1); err != nil {
		return fmt.Errorf("mine a block: %w", err)
	}
	return nil
}

// advanceShares looks at the share asset once and moves it on: it starts
// the genesis once the vault has a share supply, and mines a block while
// the genesis or an epoch's tranche or burn waits for one. It prints
// nothing but the genesis's command and success, so it may run between
// live lines.
func (s *story) advanceShares(ctx context.Context) (
	*sluicerpc.GetSharesResponse, error) {

	s.readGenesis()
	sh, err := s.getShares(ctx)
	if err != nil {
		return nil, err
	}
	a := sh.Asset
	if a == nil {
		if s.act.genesisDone != nil {
			// Started: tapd's batch is not made yet.
			return sh, nil
		}
		v, err := s.operator.vault.GetVault(ctx, connect.NewRequest(
			&sluicerpc.GetVaultRequest{}))
		if err != nil {
			return nil, fmt.Errorf("get vault: %w", err)
		}
		if v.Msg.SupplyUnits > 0 {
			s.startGenesis(ledger.Shares(v.Msg.SupplyUnits))
		}
		return sh, nil
	}

	pending := a.State == statePending
	for _, op := range sh.EpochOps {
		pending = pending || op.State == statePending
	}
	if pending {
		if err := s.mine(ctx); err != nil {
			return nil, err
		}
	}
	if a.State == stateSucceeded && !s.act.announced {
		s.act.announced = true
		fmt.Fprintf(s.out, "    share asset %s minted: %s, group "+
			"key %x\n", a.Name, ledger.Shares(a.AmountUnits),
			a.GroupKey)
	}
	return sh, nil
}

// startGenesis runs `sluice operator shares genesis` in the background: it
// waits until tapd's batch is final, which takes the blocks advanceShares
// mines meanwhile.
func (s *story) startGenesis(supply ledger.Shares) {
	name := "sluice-demo-" + time.Now().UTC().Format("20060102-150405")
	fmt.Fprintf(s.out, "    an epoch closed with rewards: the vault has "+
		"%s, the share asset's genesis mints them\n", supply)
	args := s.showCLI("operator", "shares", "genesis", "--name", name,
		"--timeout", sharesTimeout.String())
	done := make(chan error, 1)
	s.act.genesisDone = done
	go func() {
		var resp sluicerpc.GenesisResponse
		done <- s.execCLI(s.ctx, args, func(out []byte) error {
			return sluicerpc.JSONUnmarshalOptions.Unmarshal(out,
				&resp)
		})
	}()
}

// readGenesis takes the genesis command's outcome when it has ended.
func (s *story) readGenesis() {
	if s.act.genesisDone == nil || s.act.genesisEnded {
		return
	}
	select {
	case err := <-s.act.genesisDone:
		s.act.genesisErr, s.act.genesisEnded = err, true
	default:
	}
}

// waitTranches waits until the share asset's genesis succeeded and every
// epoch that holds the job's seconds is closed and minted: tapd's supply
// (the last operation's, or the genesis's) is the ledger's. It mines
// while tapd waits for blocks.
func (s *story) waitTranches(ctx context.Context) error {
	m, err := s.meter(ctx)
	if err != nil {
		return err
	}
	var sh *sluicerpc.GetSharesResponse
	err = poll(ctx, "the share asset and its tranches",
		500*time.Millisecond, func() error {
			sh, err = s.advanceShares(ctx)
			if err != nil {
				return err
			}
			return s.tranchesDone(ctx, sh, m.LastSeq)
		})
	if err != nil {
		return err
	}

	a := sh.Asset
	act := &s.act.sum
	act.Asset, act.GroupKey = a.Name, a.GroupKey
	act.Genesis = ledger.Shares(a.AmountUnits)
	var epochs []string
	for _, op := range sh.EpochOps[min(s.act.opsBefore,
		len(sh.EpochOps)):] {

		if op.Kind != string(shares.KindTranche) {
			continue
		}
		act.Tranches = append(act.Tranches, op.Epoch)
		act.TrancheUnits += ledger.Shares(op.AmountUnits)
		epochs = append(epochs, fmt.Sprint(op.Epoch))
	}
	fmt.Fprintf(s.out, "    share asset %s, group key %x: genesis %s, "+
		"%d tranches in the story (epochs %s), %s\n", a.Name,
		a.GroupKey, act.Genesis, len(act.Tranches),
		strings.Join(epochs, ", "), act.TrancheUnits)
	return nil
}

// tranchesDone says what the share asset still waits for, nil when
// nothing: the genesis, a pending epoch operation, an epoch holding the
// job's seconds still open, or tapd's supply behind the ledger's.
func (s *story) tranchesDone(ctx context.Context,
	sh *sluicerpc.GetSharesResponse, seconds uint64) error {

	a := sh.Asset
	switch {
	case a == nil && s.act.genesisDone == nil:
		return errors.New("no share supply yet")
	case a == nil && s.act.genesisEnded && s.act.genesisErr != nil:
		return fmt.Errorf("%w: genesis: %w", errGiveUp,
			s.act.genesisErr)
	case a == nil:
		return errors.New("genesis started, no batch yet")
	case a.State != stateSucceeded:
		return fmt.Errorf("genesis %s", a.State)
	}
	supply := a.AmountUnits
	for _, op := range sh.EpochOps {
		switch op.State {
		case stateFailed:
			return fmt.Errorf("%w: epoch %d's %s failed: %s",
				errGiveUp, op.Epoch, op.Kind, op.Failure)
		case statePending:
			return fmt.Errorf("epoch %d's %s pending", op.Epoch,
				op.Kind)
		}
		supply = op.SupplyAfterUnits
	}

	epochs, err := s.operator.vault.ListEpochs(ctx, connect.NewRequest(
		&sluicerpc.ListEpochsRequest{After: s.act.baseEpoch}))
	if err != nil {
		return fmt.Errorf("list epochs: %w", err)
	}
	var closed uint64
	for _, e := range epochs.Msg.Epochs {
		if e.Closed {
			closed += e.Seconds
		}
	}
	if closed < seconds {
		return fmt.Errorf("closed epochs hold %d of the job's %d "+
			"seconds", closed, seconds)
	}

	v, err := s.operator.vault.GetVault(ctx, connect.NewRequest(
		&sluicerpc.GetVaultRequest{}))
	if err != nil {
		return fmt.Errorf("get vault: %w", err)
	}
	if supply != v.Msg.SupplyUnits {
		return fmt.Errorf("tapd's supply %d units, the ledger's %d",
			supply, v.Msg.SupplyUnits)
	}
	return nil
}

// dialProviderTapd connects to provider1's tapd.
func (s *story) dialProviderTapd(ctx context.Context) (*hubnode.TapdWallet,
	error) {

	node, err := s.prof.Node(devnet.NodeProvider1)
	if err != nil {
		return nil, err
	}
	if node.Tapd == nil {
		return nil, fmt.Errorf("%w: %s", devnet.ErrNoTapd, node.Name)
	}
	w, err := hubnode.DialTapdWallet(ctx, node.Tapd.RPCHost,
		node.Tapd.TLSCertPath, node.Tapd.AdminMacaroonPath,
		s.prof.Network)
	if err != nil {
		return nil, fmt.Errorf("provider1's tapd: %w", err)
	}
	return w, nil
}

// withdrawShares has provider1 register an address of its own tapd and
// withdraw what it holds in the hub's custody, mines until the withdrawal
// is withdrawn (6 confirmations), and waits until provider1's tapd shows
// the units.
func (s *story) withdrawShares(ctx context.Context) error {
	act := &s.act.sum
	var set sluicerpc.SetWithdrawAddressResponse
	err := s.runCLI(ctx, &set, "provider", "shares", "address",
		"--devnet", s.prof.Dir, "--node", devnet.NodeProvider1)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "    provider1's tapd address %.40s...\n",
		set.Address.GetAddr())

	h, err := s.provider.vault.GetHolding(ctx, connect.NewRequest(
		&sluicerpc.GetHoldingRequest{ProviderId: s.providerID}))
	if err != nil {
		return fmt.Errorf("get holding: %w", err)
	}
	held := ledger.Shares(h.Msg.Holding.GetSharesUnits())
	if held <= 0 {
		return fmt.Errorf("provider1 holds %s in custody: nothing to "+
			"withdraw", held)
	}

	tapd, err := s.dialProviderTapd(ctx)
	if err != nil {
		return err
	}
	defer tapd.Close()
	before, err := tapd.GroupBalance(ctx, act.GroupKey)
	if err != nil {
		return fmt.Errorf("provider1's tapd: %w", err)
	}
	act.ProviderTapdBefore = ledger.Shares(before)

	var wr sluicerpc.WithdrawResponse
	err = s.runCLI(ctx, &wr, "provider", "shares", "withdraw",
		"--amount", sharesArg(held))
	if err != nil {
		return err
	}
	id := wr.Withdrawal.GetId()
	err = poll(ctx, "the withdrawal", 500*time.Millisecond, func() error {
		l, err := s.provider.shares.ListWithdrawals(ctx,
			connect.NewRequest(&sluicerpc.ListWithdrawalsRequest{
				ProviderId: s.providerID}))
		if err != nil {
			return fmt.Errorf("list withdrawals: %w", err)
		}
		for _, w := range l.Msg.Withdrawals {
			if w.Id != id {
				continue
			}
			switch w.State {
			case "withdrawn":
				return nil
			case "returned":
				return fmt.Errorf("%w: withdrawal %d "+
					"returned: %s", errGiveUp, id, w.Failure)
			case "sending":
				if err := s.mine(ctx); err != nil {
					return err
				}
			}
			return fmt.Errorf("withdrawal %d %s", id, w.State)
		}
		return fmt.Errorf("%w: no withdrawal %d", errGiveUp, id)
	})
	if err != nil {
		return err
	}
	act.Withdrawn = held

	// The ledger says withdrawn once the send is complete; provider1's
	// tapd shows the units once it has their proofs.
	err = poll(ctx, "provider1's tapd to hold the shares",
		500*time.Millisecond, func() error {
			got, err := tapd.GroupBalance(ctx, act.GroupKey)
			if err != nil {
				return err
			}
			act.ProviderTapd = ledger.Shares(got)
			if act.ProviderTapd-act.ProviderTapdBefore != held {
				return fmt.Errorf("it holds %s, had %s",
					act.ProviderTapd,
					act.ProviderTapdBefore)
			}
			return nil
		})
	if err != nil {
		// The summary shows the difference.
		fmt.Fprintf(s.out, "    %v\n", err)
	}
	fmt.Fprintf(s.out, "    withdrew %s; provider1's tapd holds %s of "+
		"the group\n", held, act.ProviderTapd)
	return nil
}

// sharesArg is an amount as the CLI's --amount takes it: shares with three
// decimals.
func sharesArg(n ledger.Shares) string {
	return fmt.Sprintf("%d.%03d", int64(n)/ledger.UnitsPerShare,
		int64(n)%ledger.UnitsPerShare)
}

// verifyReward runs `sluice shares verify` as provider1, with its own tapd,
// on the last tranche the story minted. A verification that fails at a
// step is kept for the summary, which fails on it; a command that could
// not check anything fails the step.
func (s *story) verifyReward(ctx context.Context) error {
	act := &s.act.sum
	if len(act.Tranches) == 0 {
		return errors.New("no tranche was minted in the story: no " +
			"epoch to verify")
	}
	epoch := act.Tranches[len(act.Tranches)-1]
	args := s.showCLI("shares", "verify", "--epoch", fmt.Sprint(epoch),
		"--devnet", s.prof.Dir)
	var rep shares.Report
	err := s.execCLI(ctx, args, func(out []byte) error {
		return json.Unmarshal(out, &rep)
	})
	if len(rep.Steps) == 0 {
		if err == nil {
			err = errors.New("the verification has no steps")
		}
		return err
	}
	for _, st := range rep.Steps {
		verdict := "ok"
		if !st.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(s.out, "    step %d %s: %s\n", st.Number, verdict,
			st.Title)
	}
	act.Verify = &rep
	return nil
}
