package demo

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/shares"
	"google.golang.org/protobuf/proto"
)

// balanced is a summary whose books add up: 1000 sat funded, 300 sat used
// (6 sat platform fee), 290 paid out in 58 payouts, 4 sat payable, 700
// refunded.
func balanced() Summary {
	return Summary{
		JobID: "job", ProviderID: "prov", Seconds: 60,
		Funded: 1_000_000, EscrowCredits: 1_000_000,
		Usage: 300_000, PlatformFees: 6_000,
		PaidOut: 290_000, Payable: 4_000, InFlight: 0,
		Payouts: 58, Received: 290_000,
		Refunded: 700_000, EscrowLeft: 0,
		Reconcile: &sluicerpc.ReconcileResponse{Invoices: 1,
			Payouts: 58, Refunds: 1, Ok: true,
			ShareAsset: &sluicerpc.ShareAssetCheck{Genesis: true,
				TapdIssuedUnits: 2_500, TapdHeldUnits: 1_700,
				LedgerSupplyUnits: 2_500, Epoch: 4,
				Matches: true}},
		Shares: ShareSummary{
			Asset: "sluice-demo", GroupKey: []byte{2, 0xab},
			Genesis: 1_000, Tranches: []uint64{3, 4},
			TrancheUnits: 1_500, Withdrawn: 800,
			ProviderTapdBefore: 100, ProviderTapd: 900,
			Verify: verified(4),
		},
		Yield: YieldSummary{
			PlanID: "plan1", Peer: "02aa", ChannelPoint: "ab:0",
			ChanID: 7, Capital: 20_000_000, Forwards: 3,
			LndFees: 1_503, OpenFee: 1_410_000,
			Income: 1_503, Cost: 1_410_000,
			Net: 1_503 - 1_410_000,
		},
	}
}

// verified is a report of a verification of epoch's reward where every
// step passed.
func verified(epoch uint64) *shares.Report {
	r := &shares.Report{Epoch: epoch, ProviderID: "prov",
		AssetID: "aa", Meta: &shares.TrancheMeta{Epoch: epoch,
			UsageRoot: "bb"}}
	for n := shares.StepTranche; n <= shares.StepReward; n++ {
		r.Steps = append(r.Steps, shares.Step{Number: n, OK: true,
			Title: "step"})
	}
	return r
}

func TestSummaryCheck(t *testing.T) {
	tests := []struct {
		name    string
		change  func(s *Summary)
		wantErr error
		wantMsg string
	}{
		{name: "balanced", change: func(*Summary) {}},
		{name: "payout and refund fees", change: func(s *Summary) {
			s.PaidOut -= 10
			s.Received -= 10
			s.PayoutFees = 10
			s.Refunded -= 5
			s.RefundFees = 5
		}},
		{name: "epoch rewards to the vault", change: func(s *Summary) {
			s.PlatformFees -= 2_000
			s.Rewards = 2_000
		}},
		{name: "auto-stake to the vault", change: func(s *Summary) {
			s.Payable -= 3_000
			s.Staked = 3_000
		}},
		{name: "a msat staked twice", change: func(s *Summary) {
			s.Staked = 1
		}, wantErr: ErrUnbalanced, wantMsg: "staked 1 msat"},
		{name: "yield act skipped", change: func(s *Summary) {
			s.Yield = YieldSummary{Skipped: "no room"}
		}},
		{name: "income not lnd's", change: func(s *Summary) {
			s.Yield.Income++
			s.Yield.Net++
		}, wantErr: ErrYieldDiffers, wantMsg: "lnd's 3 forwards out " +
			"of 7"},
		{name: "cost not the open's fee", change: func(s *Summary) {
			s.Yield.Cost = 0
			s.Yield.Net = s.Yield.Income
		}, wantErr: ErrYieldDiffers, wantMsg: "the open's chain fee"},
		{name: "net not income less cost", change: func(s *Summary) {
			s.Yield.Net = 0
		}, wantErr: ErrYieldDiffers, wantMsg: "net 0 msat"},
		{name: "sum not zero", change: func(s *Summary) {
			s.LedgerSum = 1
		}, wantErr: ErrUnbalanced, wantMsg: "sum of all balances"},
		{name: "share sum not zero", change: func(s *Summary) {
			s.ShareSum = -1
		}, wantErr: ErrUnbalanced, wantMsg: "sum of all share balances"},
		{name: "escrow credited more than paid", change: func(s *Summary) {
			s.EscrowCredits++
		}, wantErr: ErrUnbalanced, wantMsg: "escrow credits"},
		{name: "a msat of usage lost", change: func(s *Summary) {
			s.Payable--
		}, wantErr: ErrUnbalanced, wantMsg: "!= usage"},
		{name: "refund too large", change: func(s *Summary) {
			s.Refunded++
		}, wantErr: ErrUnbalanced, wantMsg: "!= funded"},
		{name: "node did not get a payout", change: func(s *Summary) {
			s.Received -= 1_000
		}, wantErr: ErrUnbalanced, wantMsg: "provider1's node received"},
		{name: "not reconciled", change: func(s *Summary) {
			s.Reconcile = nil
		}, wantErr: ErrNotReconciled, wantMsg: "not reconciled"},
		{name: "lnd differs", change: func(s *Summary) {
			s.Reconcile.Ok = false
			s.Reconcile.Differences = []*sluicerpc.ReconcileDifference{{
				Kind: "payout", Subject: "p1",
				Sluice: "1000", Lnd: "none"}}
		}, wantErr: ErrNotReconciled, wantMsg: "p1"},
		{name: "no share asset compared", change: func(s *Summary) {
			s.Reconcile.ShareAsset = nil
		}, wantErr: ErrSharesDiffer, wantMsg: "no share asset"},
		{name: "tapd's supply differs", change: func(s *Summary) {
			s.Reconcile.ShareAsset.TapdIssuedUnits--
			s.Reconcile.ShareAsset.Matches = false
		}, wantErr: ErrSharesDiffer,
			wantMsg: "tapd's supply 2499 units"},
		{name: "an epoch not minted", change: func(s *Summary) {
			s.Reconcile.ShareAsset.BehindEpochs = 1
		}, wantErr: ErrSharesDiffer, wantMsg: "1 epochs behind"},
		{name: "provider1's tapd short", change: func(s *Summary) {
			s.Shares.ProviderTapd--
		}, wantErr: ErrSharesDiffer, wantMsg: "gained 0.799 shares"},
		{name: "not verified", change: func(s *Summary) {
			s.Shares.Verify = nil
		}, wantErr: ErrSharesDiffer, wantMsg: "not verified"},
		{name: "verification failed", change: func(s *Summary) {
			last := &s.Shares.Verify.Steps[3]
			last.OK = false
			last.Detail = "proof does not match root"
		}, wantErr: ErrSharesDiffer, wantMsg: "step 4 (step): proof " +
			"does not match root"},
		{name: "verification stopped", change: func(s *Summary) {
			s.Shares.Verify.Steps = s.Shares.Verify.Steps[:2]
		}, wantErr: ErrSharesDiffer, wantMsg: "stopped after step 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := balanced()
			s.Reconcile = proto.Clone(s.Reconcile).(*sluicerpc.ReconcileResponse)
			tc.change(&s)
			err := s.Check()
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Check = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Check = %v, want it to say %q", err,
					tc.wantMsg)
			}
		})
	}
}

func TestSummaryPrint(t *testing.T) {
	s := balanced()
	var buf bytes.Buffer
	s.Print(&buf)
	out := buf.String()
	for _, want := range []string{"seconds metered      60",
		"payouts              58, paid out 290 sat",
		"refunded to buyer    700 sat", "sum of all balances = 0 msat: ok",
		"0 differences: ok",
		"share asset          sluice-demo, group key 02ab",
		"2 tranches (epochs 3, 4), 1.500 shares",
		"provider1 withdrew   0.800 shares; its tapd holds 0.900",
		"epoch 4, tranche aa, usage root bb",
		"tapd's supply 2500 units = the ledger's 2500 (epoch 4): ok",
		"gained 0.800 shares = withdrawn 0.800 shares: ok",
		"epoch 4 verified with provider1's tapd, 4 steps: ok",
		"plan plan1 opened ab:0 (20000 sat) to 02aa",
		"income 1.503 sat = fee_msat of lnd's 3 forwards out of the " +
			"channel 1.503 sat: ok",
		"cost 1410 sat = the open's chain fee in lnd's wallet 1410 " +
			"sat: ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "MISMATCH") {
		t.Errorf("a balanced summary shows a mismatch:\n%s", out)
	}

	for name, change := range map[string]func(*Summary){
		"unbalanced": func(s *Summary) { s.Payable-- },
		"supply differs": func(s *Summary) {
			s.Reconcile.ShareAsset.Matches = false
		},
		"tapd short": func(s *Summary) { s.Shares.ProviderTapd-- },
		"verify failed": func(s *Summary) {
			s.Shares.Verify.Steps[3].OK = false
		},
		"verify not run": func(s *Summary) { s.Shares.Verify = nil },
		"nothing compared": func(s *Summary) {
			s.Reconcile.ShareAsset = nil
		},
		"yield income differs": func(s *Summary) { s.Yield.Income = 0 },
		"yield cost differs":   func(s *Summary) { s.Yield.Cost = 0 },
	} {
		s := balanced()
		change(&s)
		buf.Reset()
		s.Print(&buf)
		if !strings.Contains(buf.String(), "MISMATCH") {
			t.Errorf("%s: the summary shows no mismatch:\n%s", name,
				buf.String())
		}
	}
}

func TestSat(t *testing.T) {
	tests := []struct {
		in   ledger.MilliSatoshi
		want string
	}{
		{0, "0 sat"},
		{5_000, "5 sat"},
		{1_234, "1.234 sat"},
		{7, "0.007 sat"},
		{-1_500, "-1.500 sat"},
	}
	for _, tc := range tests {
		if got := sat(tc.in); got != tc.want {
			t.Errorf("sat(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBudget(t *testing.T) {
	tests := []struct {
		work time.Duration
		want ledger.MilliSatoshi
	}{
		{time.Minute, (60*maxSatPerSecond + spareSat) * 1000},
		{10 * time.Second, (10*maxSatPerSecond + spareSat) * 1000},
		// A part second counts whole.
		{1500 * time.Millisecond, (2*maxSatPerSecond + spareSat) * 1000},
	}
	for _, tc := range tests {
		if got := Budget(tc.work); got != tc.want {
			t.Errorf("Budget(%v) = %v, want %v", tc.work, got,
				tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	prof := &devnet.Profile{Dir: "/tmp/net"}
	good := func() Config {
		return Config{Profile: prof, Sluice: "sluice",
			Sluiced: "sluiced"}
	}
	tests := []struct {
		name    string
		change  func(c *Config)
		wantErr string
	}{
		{name: "defaults", change: func(*Config) {}},
		{name: "no profile", change: func(c *Config) {
			c.Profile = nil
		}, wantErr: "Profile"},
		{name: "no sluice", change: func(c *Config) {
			c.Sluice = ""
		}, wantErr: "Sluice "},
		{name: "no sluiced", change: func(c *Config) {
			c.Sluiced = ""
		}, wantErr: "Sluiced"},
		{name: "negative work", change: func(c *Config) {
			c.Work = -time.Second
		}, wantErr: "negative"},
		{name: "too short work", change: func(c *Config) {
			c.Work = time.Second
		}, wantErr: "at least 2s"},
		{name: "fee too high", change: func(c *Config) {
			c.PlatformFee = 10_001
		}, wantErr: "PlatformFee"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.change(&c)
			err := c.validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Work != DefaultWork ||
					c.PlatformFee != DefaultPlatformFee ||
					c.Out == nil ||
					c.LogDir != "/tmp/net/demo" {

					t.Fatalf("defaults not filled: %+v", c)
				}
				return
			}
			if !errors.Is(err, ErrConfig) ||
				!strings.Contains(err.Error(), tc.wantErr) {

				t.Fatalf("validate = %v, want ErrConfig naming "+
					"%q", err, tc.wantErr)
			}
		})
	}
}

func TestProgressAndWorkCommand(t *testing.T) {
	p := Progress{Elapsed: 12 * time.Second, Seconds: 12, Used: 60_000,
		PaidOut: 55_000, Payouts: 11, InFlight: 1, Received: 55_000,
		Escrow: 740_000}
	want := "   12s | metered  12 s | used 60 sat | streamed 55 sat in " +
		"11 payouts (1 in flight) | provider1 +55 sat | escrow 740 sat"
	if got := p.String(); got != want {
		t.Errorf("Progress =\n%q, want\n%q", got, want)
	}
	p.Final = true
	if got := p.String(); !strings.HasPrefix(got, "  done | metered  12 s") {
		t.Errorf("final Progress = %q", got)
	}

	cmd := workCommand(1500 * time.Millisecond)
	if len(cmd) != 3 || !strings.Contains(cmd[2], "timeout 2 ") {
		t.Errorf("workCommand = %q", cmd)
	}
	if got := shellJoin([]string{"sh", "-c", "a; b"}); got !=
		"sh -c 'a; b'" {

		t.Errorf("shellJoin = %q", got)
	}
}

func TestStepError(t *testing.T) {
	inner := errors.New("boom")
	err := error(&StepError{Step: "run the agent",
		Logs: []string{"a.log", "b.log"}, Err: inner})
	if !errors.Is(err, inner) {
		t.Fatal("StepError does not unwrap")
	}
	want := `step "run the agent" failed: boom (logs: a.log, b.log)`
	if err.Error() != want {
		t.Fatalf("Error = %q, want %q", err.Error(), want)
	}
}

func TestStoryEpoch(t *testing.T) {
	for work, want := range map[time.Duration]time.Duration{
		2 * time.Second:  3 * time.Second,
		10 * time.Second: 3 * time.Second,
		14 * time.Second: 4 * time.Second,
		time.Minute:      15 * time.Second,
		10 * time.Minute: devnet.YieldEpoch,
	} {
		if got := StoryEpoch(work); got != want {
			t.Errorf("StoryEpoch(%v) = %v, want %v", work, got, want)
		}
	}
}
