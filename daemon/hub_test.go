package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/daemon/lndtest"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// TestCheckHub checks each way a store's recorded hub can meet the lnd
// sluiced found, on a real store: what is refused, and what is recorded
// afterwards.
func TestCheckHub(t *testing.T) {
	t.Parallel()

	hubA := Hub{Network: "regtest"}
	hubA.Node[0], hubA.Node[32] = 0x02, 0xaa
	hubB := Hub{Network: "regtest"}
	hubB.Node[0], hubB.Node[32] = 0x03, 0xbb
	hubAOnSignet := Hub{Node: hubA.Node, Network: "signet"}
	at := time.Date(2026, 7, 1, 9, 0, 0, 0, time.UTC)

	tests := []struct {
		name        string
		recorded    *Hub
		found       Hub
		allowChange bool
		wantErr     bool
		wantHub     Hub
	}{{
		name:    "first start records",
		found:   hubA,
		wantHub: hubA,
	}, {
		name:        "first start with the option records",
		found:       hubA,
		allowChange: true,
		wantHub:     hubA,
	}, {
		name:     "same hub starts",
		recorded: &hubA,
		found:    hubA,
		wantHub:  hubA,
	}, {
		name:        "same hub with the option starts",
		recorded:    &hubA,
		found:       hubA,
		allowChange: true,
		wantHub:     hubA,
	}, {
		name:     "other node refused",
		recorded: &hubA,
		found:    hubB,
		wantErr:  true,
		wantHub:  hubA,
	}, {
		name:     "other network refused",
		recorded: &hubA,
		found:    hubAOnSignet,
		wantErr:  true,
		wantHub:  hubA,
	}, {
		name:        "other node accepted and recorded",
		recorded:    &hubA,
		found:       hubB,
		allowChange: true,
		wantHub:     hubB,
	}, {
		name:        "other network accepted and recorded",
		recorded:    &hubA,
		found:       hubAOnSignet,
		allowChange: true,
		wantHub:     hubAOnSignet,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := storetest.Open(t, storetest.Config(t,
				store.SQLite))
			records := storeHubs{db: db}
			if tc.recorded != nil {
				err := records.RecordHub(ctx, *tc.recorded, at)
				if err != nil {
					t.Fatal(err)
				}
			}

			err := CheckHub(ctx, records, tc.found, tc.allowChange,
				at.Add(time.Hour))
			switch {
			case tc.wantErr && !errors.Is(err, ErrHubMismatch):
				t.Fatalf("CheckHub = %v, want ErrHubMismatch",
					err)

			case !tc.wantErr && err != nil:
				t.Fatalf("CheckHub: %v", err)
			}
			if tc.wantErr {
				for _, h := range []Hub{*tc.recorded, tc.found} {
					want := fmt.Sprintf("%x on %s",
						h.Node[:], h.Network)
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name "+
							"%s", err, want)
					}
				}
			}

			got, ok, err := records.RecordedHub(ctx)
			if err != nil || !ok || got != tc.wantHub {
				t.Fatalf("recorded hub %v, %v, %v; want %v",
					got, ok, err, tc.wantHub)
			}
		})
	}
}

// failingHubs is HubRecords whose reads fail.
type failingHubs struct{}

func (failingHubs) RecordedHub(context.Context) (Hub, bool, error) {
	return Hub{}, false, errors.New("disk on fire")
}

func (failingHubs) RecordHub(context.Context, Hub, time.Time) error {
	return errors.New("RecordHub called after a failed read")
}

// TestCheckHubReadError checks that a store that cannot say its hub stops
// the start rather than counting as a first start.
func TestCheckHubReadError(t *testing.T) {
	err := CheckHub(context.Background(), failingHubs{},
		Hub{Network: "regtest"}, true, time.Now())
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("CheckHub = %v, want the read error", err)
	}
}

// TestStartAgainstAnotherHub starts the daemon on one fake lnd, then with
// the same data directory on another: refused, naming both nodes, before
// the API (or anything else) starts; then accepted with --hub.allowchange,
// and from then on without it.
func TestStartAgainstAnotherHub(t *testing.T) {
	first := lndtest.Start(t, lndtest.Options{})
	second := lndtest.Start(t, lndtest.Options{})
	dataDir := t.TempDir()

	start := func(fake *lndtest.Server, extra ...string) (string,
		error) {

		t.Helper()
		args := append([]string{
			"--datadir", dataDir,
			"--rpclisten", lndtest.FreeAddr(t),
			"--lnd.host", fake.Host,
			"--lnd.tlspath", fake.TLSCertPath,
			"--lnd.macaroonpath", fake.MacaroonDir,
		}, extra...)
		cfg, err := LoadConfig(args)
		if err != nil {
			t.Fatal(err)
		}
		var console bytes.Buffer
		d, err := newDaemon(cfg, &console)
		if err != nil {
			t.Fatal(err)
		}
		err = d.Start(context.Background())
		serving := d.serving()
		if stopErr := d.Stop(); stopErr != nil {
			t.Errorf("Stop: %v", stopErr)
		}
		if err != nil && serving {
			t.Errorf("the API was serving after a failed start")
		}
		return console.String(), err
	}

	out, err := start(first)
	if err != nil {
		t.Fatalf("first start: %v\n%s", err, out)
	}
	// The console shows subsystems starting, so their absence below
	// means something.
	if !strings.Contains(out, "Payout scheduler started") {
		t.Fatalf("first start's console lacks the payout "+
			"scheduler:\n%s", out)
	}

	out, err = start(second)
	if !errors.Is(err, ErrHubMismatch) {
		t.Fatalf("start on another node = %v, want ErrHubMismatch\n%s",
			err, out)
	}
	for _, want := range []string{
		fmt.Sprintf("%x", first.Pubkey[:]),
		fmt.Sprintf("%x", second.Pubkey[:]),
		second.Host, "--hub.allowchange",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	for _, never := range []string{
		"Settlement started", "Payout scheduler started", "Resum",
		"API listening",
	} {
		if strings.Contains(out, never) {
			t.Errorf("a refused start logged %q:\n%s", never, out)
		}
	}

	// The first node is still the store's hub.
	if out, err := start(first); err != nil {
		t.Fatalf("start on the first node again: %v\n%s", err, out)
	}

	if out, err := start(second, "--hub.allowchange"); err != nil {
		t.Fatalf("start with --hub.allowchange: %v\n%s", err, out)
	}
	if out, err := start(second); err != nil {
		t.Fatalf("start on the recorded new hub: %v\n%s", err, out)
	}
	if _, err := start(first); !errors.Is(err, ErrHubMismatch) {
		t.Fatalf("start on the old hub after the move = %v, want "+
			"ErrHubMismatch", err)
	}
}
