package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/payout"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/vaulttest"
	"github.com/sluice-ln/sluice/yield"
	"github.com/urfave/cli"
)

// vaultProvider is the provider whose macaroon the vault tests use.
const vaultProvider = "prov-cli"

// vaultSluiced is an API server whose vault is a fake, with the
// provider macaroon of vaultProvider in <dir>/regtest/provider.macaroon.
type vaultSluiced struct {
	dir, addr string
	vault     *vaulttest.Vault
}

// startVaultSluiced serves the vault (a fake) and the provider status
// (fixed).
func startVaultSluiced(t *testing.T) vaultSluiced {
	t.Helper()
	dir := t.TempDir()
	v := vaulttest.New(t)
	srv := startServer(t, dir, rpc.Config{
		Info:      fixedInfo{Network: "regtest"},
		Vault:     v,
		Providers: noProviders{},
		Payouts: fixedPayouts{payout.ProviderStatus{
			ProviderView: payout.ProviderView{PaidOut: 1_000,
				Status: payout.Status{State: payout.StatusOK}},
			AsOf: time.Now(),
		}},
	})
	_, agentPub := btcec.PrivKeyFromBytes(bytes.Repeat([]byte{6}, 32))
	agent, err := channels.ParseAgentKey(
		agentPub.SerializeCompressed()[1:])
	if err != nil {
		t.Fatal(err)
	}
	mac, err := srv.BakeProviderMacaroon(vaultProvider, agent)
	if err != nil {
		t.Fatal(err)
	}
	err = os.WriteFile(filepath.Join(dir, "regtest", rpcclient.ProviderMacaroonFile),
		mac, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return vaultSluiced{dir: dir, addr: srv.Addr(), vault: v}
}

// run runs `sluice --rpcserver ... --sluicedir ... args` with the vault's
// commands; the provider macaroon is used unless args name another.
func (s vaultSluiced) run(args ...string) (string, error) {
	var out bytes.Buffer
	app := cli.NewApp()
	app.Name = "sluice"
	app.Flags = globalFlags
	app.Commands = []cli.Command{vaultCommand, providerCommand,
		operatorCommand}
	app.Writer = &out
	err := app.Run(append([]string{"sluice", "--rpcserver", s.addr,
		"--sluicedir", s.dir}, args...))
	return out.String(), err
}

// operator runs args with the operator macaroon.
func (s vaultSluiced) operator(args ...string) (string, error) {
	return s.run(append([]string{"--macaroonpath", filepath.Join(s.dir,
		"regtest", "operator.macaroon")}, args...)...)
}

// contains fails the test unless out has every want.
func contains(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, out)
		}
	}
}

// TestVaultShow prints the vault for a person and as JSON.
func TestVaultShow(t *testing.T) {
	t.Parallel()
	s := startVaultSluiced(t)
	due := time.Now().Add(30 * time.Minute)
	st := yield.State{
		Assets: 1_500_000, Idle: 200_000, Allocated: 1_300_000,
		Supply: 1_400_000, Locked: 2_500,
		ShareValue: 1071, ShareValueExact: "1071.4278",
		Floor: 300_000, FloorMet: false,
		QueueLen: 1, QueueShares: 2_500, Queued: 2_677,
		Policy: yield.Policy{FloorBPS: 2000, Caps: map[string]ledger.
			MilliSatoshi{"routing": 2_000_000}},
		Epoch: yield.StoredEpoch{Number: 7,
			Start: due.Add(-30 * time.Minute), Seconds: 60,
			Earned: 5_400, Fees: 600},
		Due: due,
		Strategies: map[string]ledger.MilliSatoshi{
			"reserve": 200_000, "routing": 1_300_000},
	}
	s.vault.ExpectState(st, nil).ExpectState(st, nil)

	out, err := s.run("vault", "show")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "vault show", out,
		"nav:", "1500000 msat (1500.000 sat)",
		"1400.000 shares (1400000 units), 2.500 shares locked",
		"1071 msat per share (exactly 1071.4278 msat)",
		"300000 msat (300.000 sat), NOT met: idle is 100000 msat short",
		"1 pending, 2.500 shares, asking 2677 msat",
		"20.00 % of NAV", "routing 2000000 msat",
		"7 open since", "(in 30m", "60 s metered",
		"reserve 200000 msat", "shut down:", "no: staking")

	out, err = s.operator("vault", "show", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var js map[string]any
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if js["share_value_exact_msat"] != "1071.4278" ||
		js["supply_units"] != "1400000" || js["floor_met"] != false {

		t.Errorf("--json: %s", out)
	}
}

// TestVaultNotServed checks that a sluiced without a vault says so.
func TestVaultNotServed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, dir, rpc.Config{Info: fixedInfo{
		Network: "regtest"}})
	s := vaultSluiced{dir: dir, addr: srv.Addr()}
	_, err := s.run("vault", "show")
	if err == nil || !strings.Contains(err.Error(), "serves no vault") {
		t.Fatalf("vault show without a vault: %v", err)
	}
}

// TestProviderStake stakes an amount with a new key and all with a given
// one, and explains refusals.
func TestProviderStake(t *testing.T) {
	t.Parallel()
	s := startVaultSluiced(t)
	v := s.vault

	v.ExpectStake(vaulttest.AnyKey, vaultProvider, 5_000, false,
		yield.StakeResult{Assets: 5_000, Shares: 4_875}, nil)
	out, err := s.run("provider", "stake", "--amount", "5sat")
	if err != nil {
		t.Fatal(err)
	}
	keys := v.Keys()
	contains(t, "stake", out,
		"Staked 5000 msat (5.000 sat) for 4.875 shares (4875 units)",
		"Idempotency key: "+keys[0])
	if len(keys[0]) != 32 {
		t.Errorf("the CLI's key %q is not 16 random bytes in hex",
			keys[0])
	}

	v.ExpectStake("retry-1", vaultProvider, 0, true,
		yield.StakeResult{Assets: 5_000, Shares: 4_875,
			Duplicate: true}, nil)
	out, err = s.run("provider", "stake", "--all", "--idempotency-key",
		"retry-1")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "stake --all again", out, "nothing moved now",
		"Idempotency key: retry-1")

	// The operator names the provider.
	v.ExpectStake("k2", "prov-x", 1, false, yield.StakeResult{}, nil)
	out, err = s.operator("provider", "stake", "--amount", "1",
		"--idempotency-key", "k2", "--json", "prov-x")
	if err != nil || !strings.Contains(out, `"idempotency_key": "k2"`) {
		t.Fatalf("stake as operator: %v\n%s", err, out)
	}

	v.ExpectStake("k3", vaultProvider, 9_000, false, yield.StakeResult{},
		&yield.LimitError{Limit: "payable", Unit: "msat", Have: 3_000,
			Want: 9_000})
	_, err = s.run("provider", "stake", "--amount", "9000",
		"--idempotency-key", "k3")
	if err == nil || !strings.Contains(err.Error(), "failed_precondition") ||
		!strings.Contains(err.Error(),
			"payable allows 3000 msat, asked 9000 (6000 over)") {

		t.Fatalf("stake over the payable: %v", err)
	}

	// Refused before any call.
	for _, args := range [][]string{
		{"--amount", "1", "--all"}, {}, {"--amount", "0"},
		{"--amount", "-5"}, {"--amount", "1.5"},
	} {
		_, err := s.run(append([]string{"provider", "stake"},
			args...)...)
		if err == nil {
			t.Errorf("stake %v: no error", args)
		}
	}
}

// TestProviderAutoStake sets and shows the auto-stake percent.
func TestProviderAutoStake(t *testing.T) {
	t.Parallel()
	s := startVaultSluiced(t)
	h := yield.Holding{ProviderID: vaultProvider, Shares: 12_345,
		Locked: 1_000, Value: 14_000, AutoStake: 50}
	s.vault.ExpectSetAutoStake(vaultProvider, 50, nil).
		ExpectHolding(vaultProvider, h, nil)
	out, err := s.run("provider", "autostake", "--percent", "50")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "autostake", out, "50 % of each second's earnings",
		"12.345 shares (12345 units), 1.000 shares locked",
		"14000 msat (14.000 sat)")

	h.AutoStake = 0
	s.vault.ExpectHolding(vaultProvider, h, nil)
	out, err = s.run("provider", "autostake")
	if err != nil || !regexp.MustCompile(`auto-stake:\s+off`).
		MatchString(out) {

		t.Fatalf("autostake shown: %v\n%s", err, out)
	}

	_, err = s.run("provider", "autostake", "--percent", "101")
	if err == nil || !strings.Contains(err.Error(), "not 0 to 100") {
		t.Fatalf("autostake 101: %v", err)
	}
}

// TestProviderRedeem redeems shares, cancels and lists requests.
func TestProviderRedeem(t *testing.T) {
	t.Parallel()
	s := startVaultSluiced(t)
	v := s.vault
	at := time.Now()

	pending := yield.Redemption{StoredRedemption: yield.StoredRedemption{
		ID: 7, ProviderID: vaultProvider, Shares: 12_345,
		Requested: 13_000, State: yield.RedemptionPending,
		RequestedAt: at}}
	v.ExpectRedeem(vaulttest.AnyKey, vaultProvider, 12_345, pending, nil)
	out, err := s.run("provider", "redeem", "--shares", "12.345")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "redeem", out, "redemption:", "7 (provider prov-cli)",
		"status:", "pending", "12.345 shares (12345 units)",
		"13000 msat (13.000 sat) at most",
		"idempotency key:", v.Keys()[0])

	for _, args := range [][]string{{}, {"--shares", "1.2345"},
		{"--shares", "0"}, {"--shares", "-1"}} {

		_, err := s.run(append([]string{"provider", "redeem"},
			args...)...)
		if err == nil {
			t.Errorf("redeem %v: no error", args)
		}
	}

	cancelled := pending
	cancelled.State = yield.RedemptionCancelled
	cancelled.CancelledAt = at
	v.ExpectCancelRedeem(vaultProvider, 7, cancelled, nil)
	out, err = s.run("provider", "redeem", "cancel", "7")
	if err != nil || !strings.Contains(out, "cancelled") {
		t.Fatalf("redeem cancel: %v\n%s", err, out)
	}
	v.ExpectCancelRedeem("", 8, yield.Redemption{},
		yield.ErrRedemptionState)
	_, err = s.operator("provider", "redeem", "cancel", "8")
	if err == nil || !strings.Contains(err.Error(), "failed_precondition") {
		t.Fatalf("cancel of a finalized request: %v", err)
	}
	if _, err := s.run("provider", "redeem", "cancel", "x"); err == nil {
		t.Error("cancel x: no error")
	}

	paid := pending
	paid.ID, paid.State, paid.Paid, paid.Assets = 3,
		yield.RedemptionFinalized, true, 12_999
	v.ExpectRedemptions(yield.RedemptionFilter{ProviderID: vaultProvider,
		States: []yield.RedemptionState{yield.RedemptionPending,
			yield.RedemptionFinalized}},
		[]yield.Redemption{paid, pending}, nil)
	out, err = s.run("provider", "redeem", "list", "--status", "pending",
		"--status", "paid")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "redeem list", out, "ID", "PAID IN", "paid", "12999",
		"pending")

	v.ExpectRedemptions(yield.RedemptionFilter{}, nil, nil)
	out, err = s.operator("provider", "redeem", "list")
	if err != nil || !strings.Contains(out, "no redemptions") {
		t.Fatalf("redeem list as operator: %v\n%s", err, out)
	}
}

// rewardLeaves are epoch 2's leaves: vaultProvider's among two others.
var rewardLeaves = []yield.Leaf{
	{Epoch: 2, ProviderID: "prov-a", Seconds: 10, Earned: 1_000,
		Shares: 100},
	{Epoch: 2, ProviderID: vaultProvider, Seconds: 20, Earned: 2_000,
		Shares: 200},
	{Epoch: 2, ProviderID: "prov-z", Seconds: 30, Earned: 3_000,
		Shares: 300},
}

// rewardProof is vaultProvider's proof in epoch 2.
func rewardProof(t *testing.T) yield.RewardProof {
	t.Helper()
	root, err := yield.Root(rewardLeaves)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := yield.Prove(rewardLeaves, vaultProvider)
	if err != nil {
		t.Fatal(err)
	}
	return yield.RewardProof{
		Epoch: yield.StoredEpoch{Number: 2, Closed: true, Root: root},
		Leaf:  rewardLeaves[1], Proof: proof, Root: root,
	}
}

// TestProviderRewards lists the epochs the provider worked in.
func TestProviderRewards(t *testing.T) {
	t.Parallel()
	s := startVaultSluiced(t)
	v := s.vault
	p := rewardProof(t)
	end := time.Now()

	e1 := yield.StoredEpoch{Number: 1, Closed: true, End: end}
	e2 := p.Epoch
	e2.End = end
	e3 := yield.StoredEpoch{Number: 3, Start: end}
	v.ExpectState(yield.State{Epoch: e3}, nil).
		ExpectEpochs(0, 24, []yield.StoredEpoch{e1, e2, e3}, nil).
		ExpectEpoch(1, e1, []yield.Contribution{{Epoch: 1,
			ProviderID: "prov-a", Seconds: 5}}, nil).
		ExpectEpoch(2, e2, []yield.Contribution{{Epoch: 2,
			ProviderID: vaultProvider, Seconds: 20, Earned: 2_000,
			Shares: 200}}, nil).
		ExpectEpoch(3, e3, []yield.Contribution{{Epoch: 3,
			ProviderID: vaultProvider, Seconds: 4, Earned: 400}},
			nil)
	out, err := s.run("provider", "rewards")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "rewards", out, "EPOCH", "2000", "0.200",
		hex.EncodeToString(p.Root[:]), "open", "400")
	if strings.Contains(out, "\n1 ") {
		t.Errorf("rewards shows epoch 1, without the provider's work:\n%s",
			out)
	}

	// --after looks past the vault's state; --json lists the rows.
	v.ExpectEpochs(1, 24, []yield.StoredEpoch{e2}, nil).
		ExpectEpoch(2, e2, []yield.Contribution{{Epoch: 2,
			ProviderID: vaultProvider, Shares: 200}}, nil)
	out, err = s.run("provider", "rewards", "list", "--after", "1",
		"--json")
	if err != nil {
		t.Fatal(err)
	}
	var js struct {
		Rewards []struct {
			Epoch        map[string]any `json:"epoch"`
			Contribution map[string]any `json:"contribution"`
		} `json:"rewards"`
	}
	if err := json.Unmarshal([]byte(out), &js); err != nil ||
		len(js.Rewards) != 1 ||
		js.Rewards[0].Contribution["shares_units"] != "200" ||
		js.Rewards[0].Epoch["root"] != hex.EncodeToString(p.Root[:]) {

		t.Fatalf("rewards --json: %v\n%s", err, out)
	}
}

// TestProviderRewardsVerify checks a good proof, and refuses a tampered
// leaf, a tampered path and a root that is not the epoch's.
func TestProviderRewardsVerify(t *testing.T) {
	t.Parallel()
	s := startVaultSluiced(t)
	good := rewardProof(t)

	s.vault.ExpectRewardProof(2, vaultProvider, good, nil)
	out, err := s.run("provider", "rewards", "verify", "--epoch", "2")
	if err != nil {
		t.Fatalf("good proof: %v\n%s", err, out)
	}
	leafHash, _ := good.Leaf.Hash()
	contains(t, "verify", out, "OK", "leaf 1 of 3",
		hex.EncodeToString(leafHash[:]),
		hex.EncodeToString(good.Proof.Siblings[0][:]),
		hex.EncodeToString(good.Proof.Siblings[1][:]),
		hex.EncodeToString(good.Root[:]), "0.200 shares")

	tamperedLeaf := good
	tamperedLeaf.Leaf.Earned++
	tamperedPath := good
	tamperedPath.Proof.Siblings = []chainhash.Hash{
		good.Proof.Siblings[1], good.Proof.Siblings[0]}
	otherRoot := good
	otherRoot.Epoch.Root[0] ^= 1
	for name, p := range map[string]yield.RewardProof{
		"tampered leaf": tamperedLeaf, "tampered path": tamperedPath,
		"root not the epoch's": otherRoot,
	} {
		s.vault.ExpectRewardProof(2, vaultProvider, p, nil)
		out, err := s.run("provider", "rewards", "verify", "--epoch",
			"2")
		if !errors.Is(err, errProofFailed) ||
			!strings.Contains(out, "FAILED") {

			t.Errorf("%s: %v\n%s", name, err, out)
		}
	}

	// A root given by hand that differs from the one sent.
	s.vault.ExpectRewardProof(2, vaultProvider, good, nil)
	other := good.Root
	other[31] ^= 1
	_, err = s.run("provider", "rewards", "verify", "--epoch", "2",
		"--root", hex.EncodeToString(other[:]))
	if !errors.Is(err, errProofFailed) {
		t.Errorf("--root of another tree: %v", err)
	}

	s.vault.ExpectRewardProof(5, vaultProvider, yield.RewardProof{},
		yield.ErrEpochOpen)
	_, err = s.run("provider", "rewards", "verify", "--epoch", "5")
	if err == nil || !strings.Contains(err.Error(), "has not closed") {
		t.Errorf("open epoch: %v", err)
	}
	if _, err := s.run("provider", "rewards", "verify"); err == nil {
		t.Error("verify without --epoch: no error")
	}
}

// TestOperatorVault sets the policy, keeping what is not given, and turns
// the shutdown switch.
func TestOperatorVault(t *testing.T) {
	t.Parallel()
	s := startVaultSluiced(t)
	v := s.vault
	before := yield.Policy{FloorBPS: 1000,
		Caps: map[string]ledger.MilliSatoshi{"lease": 7}}

	v.ExpectState(yield.State{Policy: before}, nil).
		ExpectSetPolicy(2500, map[string]ledger.MilliSatoshi{
			"lease": 7, "routing": 5_000},
			yield.Policy{FloorBPS: 2500,
				Caps: map[string]ledger.MilliSatoshi{
					"lease": 7, "routing": 5_000}}, nil)
	out, err := s.operator("operator", "vault", "policy", "--floorbps",
		"2500", "--cap", "routing=5sat")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "policy", out, "25.00 % of NAV", "lease 7 msat",
		"routing 5000 msat")

	v.ExpectState(yield.State{Policy: before}, nil).
		ExpectSetPolicy(1000, map[string]ledger.MilliSatoshi{
			"routing": 1}, yield.Policy{}, nil)
	if _, err := s.operator("operator", "vault", "policy", "--clear-caps",
		"--cap", "routing=1"); err != nil {

		t.Fatal(err)
	}

	v.ExpectState(yield.State{Policy: before}, nil)
	out, err = s.operator("operator", "vault", "policy", "--json")
	if err != nil || !strings.Contains(out, `"floor_bps": 1000`) {
		t.Fatalf("policy shown: %v\n%s", err, out)
	}

	v.ExpectState(yield.State{Policy: before}, nil).
		ExpectSetPolicy(1000, map[string]ledger.MilliSatoshi{
			"lease": 7, "routing": 1}, yield.Policy{},
			&yield.LimitError{Limit: "cap of routing", Unit: "msat",
				Have: 1, Want: 40})
	_, err = s.operator("operator", "vault", "policy", "--cap",
		"routing=1")
	if err == nil || !strings.Contains(err.Error(), "cap of routing") {
		t.Fatalf("cap below principal: %v", err)
	}

	for _, args := range [][]string{{"--floorbps", "10001"},
		{"--cap", "routing"}, {"--cap", "=5"}, {"--cap", "x=-1"}} {

		_, err := s.operator(append([]string{"operator", "vault",
			"policy"}, args...)...)
		if err == nil {
			t.Errorf("policy %v: no error", args)
		}
	}

	v.ExpectShutdown(true, yield.Policy{Shutdown: true}, nil)
	out, err = s.operator("operator", "vault", "shutdown", "--on")
	if err != nil || !strings.Contains(out, "YES: staking and allocation "+
		"are stopped") {

		t.Fatalf("shutdown --on: %v\n%s", err, out)
	}
	for _, args := range [][]string{{}, {"--on", "--off"}} {
		_, err := s.operator(append([]string{"operator", "vault",
			"shutdown"}, args...)...)
		if err == nil {
			t.Errorf("shutdown %v: no error", args)
		}
	}

	// A provider may not.
	_, err = s.run("--macaroonpath", filepath.Join(s.dir, "regtest",
		rpcclient.ProviderMacaroonFile), "operator", "vault", "shutdown", "--off")
	if err == nil || !strings.Contains(err.Error(), "does not allow") {
		t.Fatalf("shutdown with a provider macaroon: %v", err)
	}
}

// TestProviderStatusHolding shows the provider's shares in its status.
func TestProviderStatusHolding(t *testing.T) {
	t.Parallel()
	s := startVaultSluiced(t)
	s.vault.ExpectHolding(vaultProvider, yield.Holding{
		ProviderID: vaultProvider, Shares: 2_000, Value: 2_100,
		AutoStake: 25}, nil)
	out, err := s.run("provider", "status", "--once")
	if err != nil {
		t.Fatal(err)
	}
	contains(t, "status", out, "paid out:", "2.000 shares (2000 units)",
		"2100 msat (2.100 sat)", "25 % of each second's earnings")
}

// TestProviderStatusWithoutVault leaves the vault out of the status of a
// sluiced that serves none.
func TestProviderStatusWithoutVault(t *testing.T) {
	t.Parallel()
	base := startStatusServer(t, nil)
	out, err := runCLIWith([]cli.Command{providerCommand},
		append(base, "provider", "status", "--once", "prov-9")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "paid out:") ||
		strings.Contains(out, "auto-stake") {

		t.Fatalf("status without a vault:\n%s", out)
	}
}

// runCLIWith runs the CLI with the commands given.
func runCLIWith(commands []cli.Command, args ...string) (string, error) {
	var out bytes.Buffer
	app := cli.NewApp()
	app.Name = "sluice"
	app.Flags = globalFlags
	app.Commands = commands
	app.Writer = &out
	err := app.Run(append([]string{"sluice"}, args...))
	return out.String(), err
}
