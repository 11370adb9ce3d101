package dashboard

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/shopspring/decimal"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/outbound"
	"github.com/sluice-ln/sluice/shares"
	"github.com/sluice-ln/sluice/yield"
)

// vaultEpochs is how many of the latest epochs the vault page shows and
// charts.
const vaultEpochs = 50

// Vault reads the vault's recorded figures; yield.Vault implements it.
// Each call reads the store in one transaction; none asks lnd or tapd.
type Vault interface {
	State(ctx context.Context) (yield.State, error)
	Epochs(ctx context.Context, after uint64, limit int) (
		[]yield.StoredEpoch, error)
	Redemptions(ctx context.Context, f yield.RedemptionFilter) (
		[]yield.Redemption, error)
	Report(ctx context.Context, window time.Duration) (yield.Report,
		error)
}

var _ Vault = (*yield.Vault)(nil)

// ShareOps lists the share asset's epoch operations as the store recorded
// them (shares.Manager.EpochOps): each tranche's asset id and tapd's
// supply after each operation. It reads the store, never tapd.
type ShareOps interface {
	EpochOps(ctx context.Context) ([]shares.EpochOp, error)
}

// EpochRow is one reward epoch. ValuePerShare is the NAV one share
// (ledger.UnitsPerShare units) had when the epoch closed, before its
// reward bought shares: NAVAssets × UnitsPerShare ÷ NAVSupply, in msat.
type EpochRow struct {
	Number        uint64    `json:"number"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end,omitzero"`
	Closed        bool      `json:"closed"`
	Seconds       uint64    `json:"seconds"`
	EarnedMsat    int64     `json:"earned_msat"`
	FeesMsat      int64     `json:"fees_msat"`
	RewardMsat    int64     `json:"reward_msat"`
	IssuedUnits   int64     `json:"issued_units"`
	Root          string    `json:"root,omitempty"`
	ValuePerShare string    `json:"value_per_share_msat,omitempty"`
	SupplyUnits   int64     `json:"supply_units_at_close,omitempty"`

	// TrancheAssetID is the asset id of the epoch's tranche on tapd,
	// once minted; TrancheState its operation's state.
	TrancheAssetID string `json:"tranche_asset_id,omitempty"`
	TrancheState   string `json:"tranche_state,omitempty"`
}

// RedemptionRow is one pending redemption.
type RedemptionRow struct {
	ID            int64     `json:"id"`
	ProviderID    string    `json:"provider_id"`
	Units         int64     `json:"units"`
	RequestedMsat int64     `json:"requested_msat"`
	Status        string    `json:"status"`
	RequestedAt   time.Time `json:"requested_at"`
}

// StrategyRow is one strategy's allocation and yield over the report's
// window.
type StrategyRow struct {
	Name           string `json:"name"`
	PrincipalMsat  int64  `json:"principal_msat"`
	CapitalMsat    int64  `json:"capital_msat"`
	IncomeMsat     int64  `json:"income_msat"`
	CostMsat       int64  `json:"cost_msat"`
	NetMsat        int64  `json:"net_msat"`
	APR            string `json:"apr,omitempty"`
	ReturnInWindow string `json:"return,omitempty"`
}

// VaultView is the vault page's data.
type VaultView struct {
	AsOf time.Time `json:"as_of"`

	// Served is false when this sluiced runs no vault.
	Served bool `json:"served"`

	NAVMsat       int64     `json:"nav_msat"`
	IdleMsat      int64     `json:"idle_msat"`
	AllocatedMsat int64     `json:"allocated_msat"`
	FloorMsat     int64     `json:"floor_msat"`
	FloorMet      bool      `json:"floor_met"`
	SupplyUnits   int64     `json:"supply_units"`
	LockedUnits   int64     `json:"locked_units"`
	ValuePerShare string    `json:"value_per_share_msat"`
	QueueLen      int       `json:"queue_len"`
	QueueUnits    int64     `json:"queue_units"`
	QueuedMsat    int64     `json:"queued_msat"`
	OpenEpoch     uint64    `json:"open_epoch"`
	OpenEpochDue  time.Time `json:"open_epoch_due,omitzero"`

	// TapdSupplyUnits is tapd's supply of the share asset as last
	// recorded, after the latest tranche or burn that succeeded, at
	// TapdSupplyAt; TapdSupplyKnown is false when none is recorded (no
	// tapd, or no operation yet).
	TapdSupplyKnown bool      `json:"tapd_supply_known"`
	TapdSupplyUnits int64     `json:"tapd_supply_units"`
	TapdSupplyAt    time.Time `json:"tapd_supply_at,omitzero"`

	Epochs      []EpochRow      `json:"epochs"`
	Redemptions []RedemptionRow `json:"redemptions"`
	Strategies  []StrategyRow   `json:"strategies"`

	// ReportStart and ReportEnd bound the yield report's window: since
	// the strategies' first posting.
	ReportStart time.Time `json:"report_start,omitzero"`
	ReportEnd   time.Time `json:"report_end,omitzero"`
	VaultAPY    string    `json:"vault_apy,omitempty"`
}

// vaultView reads the vault page.
func (v *views) vaultView(ctx context.Context) (VaultView, error) {
	out := VaultView{AsOf: v.now().UTC(), Epochs: []EpochRow{},
		Redemptions: []RedemptionRow{}, Strategies: []StrategyRow{}}
	if v.vault == nil {
		return out, nil
	}
	out.Served = true
	st, err := v.vault.State(ctx)
	if err != nil {
		return VaultView{}, err
	}
	out.NAVMsat, out.IdleMsat = int64(st.Assets), int64(st.Idle)
	out.AllocatedMsat = int64(st.Allocated)
	out.FloorMsat, out.FloorMet = int64(st.Floor), st.FloorMet
	out.SupplyUnits, out.LockedUnits = int64(st.Supply), int64(st.Locked)
	out.ValuePerShare = st.ShareValueExact
	out.QueueLen, out.QueueUnits = st.QueueLen, int64(st.QueueShares)
	out.QueuedMsat = int64(st.Queued)
	out.OpenEpoch, out.OpenEpochDue = st.Epoch.Number, st.Due

	var after uint64
	if st.Epoch.Number > vaultEpochs {
		after = st.Epoch.Number - vaultEpochs
	}
	epochs, err := v.vault.Epochs(ctx, after, vaultEpochs)
	if err != nil {
		return VaultView{}, err
	}
	for _, e := range epochs {
		row := EpochRow{Number: e.Number, Start: e.Start, End: e.End,
			Closed: e.Closed, Seconds: e.Seconds,
			EarnedMsat: int64(e.Earned), FeesMsat: int64(e.Fees),
			RewardMsat:  int64(e.Reward),
			IssuedUnits: int64(e.Issued)}
		if e.Closed {
			row.Root = hex.EncodeToString(e.Root[:])
			if e.NAVSupply > 0 {
				row.ValuePerShare = decimal.NewFromInt(
					int64(e.NAVAssets)).Mul(
					decimal.NewFromInt(
						ledger.UnitsPerShare)).Div(
					decimal.NewFromInt(
						int64(e.NAVSupply))).String()
			}
			if e.TotalsKnown {
				row.SupplyUnits = int64(e.Totals.Supply)
			}
		}
		out.Epochs = append(out.Epochs, row)
	}

	if v.shareOps != nil {
		ops, err := v.shareOps.EpochOps(ctx)
		if err != nil {
			return VaultView{}, err
		}
		tranches := map[uint64]shares.EpochOp{}
		for _, op := range ops {
			if op.State != outbound.StatusSucceeded {
				if op.Kind == shares.KindTranche {
					if _, ok := tranches[op.Epoch]; !ok {
						tranches[op.Epoch] = op
					}
				}
				continue
			}
			if op.Kind == shares.KindTranche {
				tranches[op.Epoch] = op
			}
			if !op.ResolvedAt.Before(out.TapdSupplyAt) {
				out.TapdSupplyKnown = true
				out.TapdSupplyUnits = int64(op.SupplyAfter)
				out.TapdSupplyAt = op.ResolvedAt
			}
		}
		for i := range out.Epochs {
			if op, ok := tranches[out.Epochs[i].Number]; ok {
				out.Epochs[i].TrancheAssetID = hex.EncodeToString(
					op.AssetID)
				out.Epochs[i].TrancheState = string(op.State)
			}
		}
	}

	queue, err := v.vault.Redemptions(ctx, yield.RedemptionFilter{
		States: []yield.RedemptionState{yield.RedemptionPending},
	})
	if err != nil {
		return VaultView{}, err
	}
	for _, r := range queue {
		out.Redemptions = append(out.Redemptions, RedemptionRow{
			ID: r.ID, ProviderID: r.ProviderID,
			Units: int64(r.Shares), RequestedMsat: int64(r.Requested),
			Status: r.Status(), RequestedAt: r.RequestedAt})
	}

	rep, err := v.vault.Report(ctx, 0)
	if err != nil {
		return VaultView{}, err
	}
	out.ReportStart, out.ReportEnd = rep.Start, rep.End
	if rep.Vault.HasAPY {
		out.VaultAPY = rep.Vault.APY.StringFixed(6)
	}
	for _, s := range rep.Strategies {
		row := StrategyRow{Name: s.Name,
			PrincipalMsat: int64(st.Strategies[s.Name]),
			CapitalMsat:   int64(s.Capital),
			IncomeMsat:    int64(s.IncomeTotal),
			CostMsat:      int64(s.CostTotal), NetMsat: int64(s.Net)}
		if s.HasReturn {
			row.APR = s.APR.StringFixed(6)
			row.ReturnInWindow = s.Return.StringFixed(6)
		}
		out.Strategies = append(out.Strategies, row)
	}
	return out, nil
}
