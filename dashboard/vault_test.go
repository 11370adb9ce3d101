package dashboard

import (
	"context"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/yield"
)

// fakeVault is the vault's recorded figures: two closed epochs and an
// open one, one pending redemption, one strategy.
type fakeVault struct{}

func (fakeVault) State(context.Context) (yield.State, error) {
	return yield.State{Assets: 2_000_000, Idle: 1_500_000,
		Allocated: 500_000, Supply: 4_000, Locked: 1_000,
		ShareValueExact: "500", Floor: 1_000_000, FloorMet: true,
		QueueLen: 1, QueueShares: 1_000, Queued: 500_000,
		Epoch:      yield.StoredEpoch{Number: 3},
		Strategies: map[string]ledger.MilliSatoshi{"routing": 500_000},
	}, nil
}

func (fakeVault) Epochs(context.Context, uint64, int) ([]yield.StoredEpoch,
	error) {

	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return []yield.StoredEpoch{
		{Number: 1, Start: at, End: at.Add(time.Hour), Closed: true,
			NAVAssets: 1_000_000, NAVSupply: 3_000, Issued: 100},
		{Number: 2, Start: at.Add(time.Hour), End: at.Add(2 * time.Hour),
			Closed: true, NAVAssets: 1_900_000, NAVSupply: 3_800},
		{Number: 3, Start: at.Add(2 * time.Hour)},
	}, nil
}

func (fakeVault) Redemptions(context.Context, yield.RedemptionFilter) (
	[]yield.Redemption, error) {

	return []yield.Redemption{{StoredRedemption: yield.StoredRedemption{
		ID: 7, ProviderID: "p1", Shares: 1_000, Requested: 500_000,
		State: yield.RedemptionPending}}}, nil
}

func (fakeVault) Report(context.Context, time.Duration) (yield.Report,
	error) {

	return yield.Report{Strategies: []yield.StrategyReport{{
		Name: "routing", Capital: 400_000, IncomeTotal: 900,
		CostTotal: 100, Net: 800}}}, nil
}

// fakeShareOps recorded epoch 1's tranche and a later burn.
type fakeShareOps struct{}

func (fakeShareOps) EpochOps(context.Context) ([]shares.EpochOp, error) {
	at := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	return []shares.EpochOp{
		{Epoch: 1, Kind: shares.KindTranche, AssetID: []byte{0xab},
			State: outbound.StatusSucceeded, SupplyAfter: 3_100,
			ResolvedAt: at},
		{Epoch: 2, Kind: shares.KindBurn,
			State: outbound.StatusSucceeded, SupplyAfter: 3_000,
			ResolvedAt: at.Add(time.Hour)},
		{Epoch: 2, Kind: shares.KindTranche,
			State: outbound.StatusPending},
	}, nil
}

// TestVaultView: the vault page's figures are the recorded ones, value per
// share at each closed epoch is its NAV at the close, tapd's supply is the
// one recorded after the latest operation.
func TestVaultView(t *testing.T) {
	v := &views{vault: fakeVault{}, shareOps: fakeShareOps{},
		now: time.Now}
	got, err := v.vaultView(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Served || got.NAVMsat != 2_000_000 || got.IdleMsat != 1_500_000 ||
		got.FloorMsat != 1_000_000 || !got.FloorMet ||
		got.SupplyUnits != 4_000 || got.ValuePerShare != "500" ||
		got.QueueLen != 1 || len(got.Redemptions) != 1 ||
		got.Redemptions[0].Status != "pending" {

		t.Fatalf("vault: %+v", got)
	}
	if !got.TapdSupplyKnown || got.TapdSupplyUnits != 3_000 {
		t.Fatalf("tapd supply: %+v", got)
	}
	if len(got.Epochs) != 3 ||
		got.Epochs[0].ValuePerShare != "333333.3333333333333333" ||
		got.Epochs[1].ValuePerShare != "500000" ||
		got.Epochs[2].ValuePerShare != "" ||
		got.Epochs[0].TrancheAssetID != "ab" ||
		got.Epochs[1].TrancheState != "pending" {

		t.Fatalf("epochs: %+v", got.Epochs)
	}
	if len(got.Strategies) != 1 || got.Strategies[0].PrincipalMsat !=
		500_000 || got.Strategies[0].NetMsat != 800 {

		t.Fatalf("strategies: %+v", got.Strategies)
	}

	none, err := (&views{now: time.Now}).vaultView(context.Background())
	if err != nil || none.Served {
		t.Fatalf("without a vault: %+v, %v", none, err)
	}
}
