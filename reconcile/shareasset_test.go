package reconcile

import (
	"context"
	"errors"
	"testing"

	"github.com/sluice-ln/sluice/hubnode"
	"github.com/sluice-ln/sluice/shares"
)

// checkFunc lets a function be a ShareAsset.
type checkFunc func() (shares.SupplyCheck, error)

func (f checkFunc) CheckSupply(context.Context) (shares.SupplyCheck, error) {
	return f()
}

// TestCompareShareAsset reports a difference only when tapd's issued less
// burned units differ from the ledger's supply at the last synced epoch,
// or, with nothing in flight, when the hub's tapd holds other than its
// supply less the shares withdrawn and not deposited back.
func TestCompareShareAsset(t *testing.T) {
	tests := []struct {
		name  string
		check shares.SupplyCheck
		err   error
		diffs int
	}{
		{name: "no genesis", check: shares.SupplyCheck{}},
		{name: "equal", check: shares.SupplyCheck{Genesis: true,
			Tapd: hubnode.GroupSupply{Issued: 1500, Burned: 300,
				Held: 1200},
			Ledger: 1200, Epoch: 3, Custody: true}},
		{name: "held less withdrawn, plus deposited",
			check: shares.SupplyCheck{Genesis: true,
				Tapd: hubnode.GroupSupply{Issued: 1500,
					Burned: 300, Held: 1050},
				Ledger: 1200, Epoch: 3, Custody: true,
				Outside: 150}},
		{name: "held short", diffs: 1, check: shares.SupplyCheck{
			Genesis: true, Tapd: hubnode.GroupSupply{Issued: 1500,
				Burned: 300, Held: 1100},
			Ledger: 1200, Epoch: 3, Custody: true}},
		{name: "held not compared in flight", check: shares.SupplyCheck{
			Genesis: true, Tapd: hubnode.GroupSupply{Issued: 1500,
				Burned: 300, Held: 900},
			Ledger: 1200, Epoch: 3, Behind: 1, Custody: true,
			InFlight: []string{"1 closed epochs' tranche or burn"}}},
		{name: "held not compared without custody",
			check: shares.SupplyCheck{Genesis: true,
				Tapd: hubnode.GroupSupply{Issued: 1500,
					Burned: 300, Held: 900},
				Ledger: 1200, Epoch: 3}},
		{name: "withdrawn above the supply", diffs: 1,
			check: shares.SupplyCheck{Genesis: true,
				Tapd:   hubnode.GroupSupply{Issued: 100},
				Ledger: 100, Custody: true, Outside: 200}},
		{name: "tapd short", diffs: 1, check: shares.SupplyCheck{
			Genesis: true, Tapd: hubnode.GroupSupply{Issued: 1000},
			Ledger: 1200, Epoch: 3}},
		{name: "burned above issued", diffs: 1, check: shares.SupplyCheck{
			Genesis: true, Tapd: hubnode.GroupSupply{Burned: 5},
			Ledger: 0}},
		{name: "tapd unreachable", err: errors.New("tapd down")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{}
			err := r.CompareShareAsset(context.Background(),
				checkFunc(func() (shares.SupplyCheck, error) {
					return tc.check, tc.err
				}))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || len(r.Differences) != tc.diffs ||
				r.ShareAsset == nil {

				t.Fatalf("err %v, differences %+v, check %+v", err,
					r.Differences, r.ShareAsset)
			}
			if tc.diffs > 0 && r.Differences[0].Kind != KindShareAsset {
				t.Errorf("kind %q", r.Differences[0].Kind)
			}
		})
	}
}
