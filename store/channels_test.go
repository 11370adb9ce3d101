package store_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// Keys of the right lengths for the channels tables' checks.
var (
	nodeA  = "02" + strings.Repeat("a", 64)
	nodeB  = "03" + strings.Repeat("b", 64)
	agent1 = strings.Repeat("1", 64)
	agent2 = strings.Repeat("2", 64)
)

// chanAt is a time in another zone and with nanoseconds, which the store
// must turn into UTC microseconds.
var chanAt = time.Date(2026, 5, 4, 10, 20, 30, 123456789,
	time.FixedZone("CEST", 2*3600))

// inTx runs fn in one read-write transaction.
func inTx(t *testing.T, db *store.DB, fn func(ctx context.Context,
	tx *store.Tx) error) error {

	t.Helper()
	ctx := context.Background()
	return db.ExecTx(ctx, store.TxOptions{}, func(tx *store.Tx) error {
		return fn(ctx, tx)
	})
}

// mustTx runs fn in a transaction and fails the test on an error.
func mustTx(t *testing.T, db *store.DB, fn func(ctx context.Context,
	tx *store.Tx) error) {

	t.Helper()
	if err := inTx(t, db, fn); err != nil {
		t.Fatal(err)
	}
}

// TestLinkChallenges stores a challenge, reads it back, uses it once,
// refuses a second use and an unknown id, and sweeps expired ones.
func TestLinkChallenges(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)

		ch := store.LinkChallenge{
			ID:          "c1",
			NodePubkey:  nodeA,
			AgentPubkey: agent1,
			Alias:       "alice",
			Message:     "sign me",
			CreatedAt:   chanAt,
			ExpiresAt:   chanAt.Add(10 * time.Minute),
		}
		old := ch
		old.ID = "c-old"
		old.ExpiresAt = chanAt.Add(-time.Minute)

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.InsertLinkChallenge(ctx, ch); err != nil {
				return err
			}
			return tx.InsertLinkChallenge(ctx, old)
		})

		// The same id twice is refused.
		err := inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.InsertLinkChallenge(ctx, ch)
		})
		if !errors.Is(err, store.ErrUniqueViolation) {
			t.Errorf("second insert: %v, want ErrUniqueViolation",
				err)
		}

		var got store.LinkChallenge
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			var err error
			got, err = tx.LinkChallenge(ctx, "c1")
			return err
		})
		want := ch
		want.CreatedAt = chanAt.UTC().Truncate(time.Microsecond)
		want.ExpiresAt = want.CreatedAt.Add(10 * time.Minute)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("LinkChallenge = %+v, want %+v", got, want)
		}

		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			_, err := tx.LinkChallenge(ctx, "nope")
			return err
		})
		if !errors.Is(err, store.ErrChallengeNotFound) {
			t.Errorf("unknown challenge: %v, want "+
				"ErrChallengeNotFound", err)
		}

		// Both are unused; only c1 is open, and only for node A.
		counts := func(node string) [2]int {
			t.Helper()
			var c [2]int
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {
				var err error
				c[0], c[1], err = tx.UnusedChallenges(ctx, node,
					chanAt)
				return err
			})
			return c
		}
		if got := counts(nodeA); got != [2]int{2, 1} {
			t.Errorf("unused challenges for node A = %v, want "+
				"[2 1]", got)
		}
		if got := counts(nodeB); got != [2]int{2, 0} {
			t.Errorf("unused challenges for node B = %v, want "+
				"[2 0]", got)
		}

		// Using needs the provider row (foreign key).
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			err := tx.InsertProvider(ctx, testProvider("p1", nodeA,
				agent1))
			if err != nil {
				return err
			}
			return tx.UseLinkChallenge(ctx, "c1", "p1", chanAt)
		})
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.UseLinkChallenge(ctx, "c1", "p1", chanAt)
		})
		if !errors.Is(err, store.ErrChallengeUsed) {
			t.Errorf("second use: %v, want ErrChallengeUsed", err)
		}
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.UseLinkChallenge(ctx, "nope", "p1", chanAt)
		})
		if !errors.Is(err, store.ErrChallengeNotFound) {
			t.Errorf("use of unknown: %v, want "+
				"ErrChallengeNotFound", err)
		}

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			got, err := tx.LinkChallenge(ctx, "c1")
			if err != nil {
				return err
			}
			if got.ProviderID != "p1" ||
				!got.UsedAt.Equal(want.CreatedAt) {

				t.Errorf("used challenge = %+v", got)
			}

			// Sweeping long after both expired removes only the
			// unused one.
			n, err := tx.DeleteExpiredChallenges(ctx,
				chanAt.Add(time.Hour))
			if err != nil {
				return err
			}
			if n != 1 {
				t.Errorf("swept %d challenges, want 1", n)
			}
			if _, err := tx.LinkChallenge(ctx, "c1"); err != nil {
				t.Errorf("used challenge swept: %v", err)
			}
			stored, open, err := tx.UnusedChallenges(ctx, nodeA,
				chanAt)
			if err != nil || stored != 0 || open != 0 {
				t.Errorf("unused after use and sweep: %d, %d, %v",
					stored, open, err)
			}
			return nil
		})
	})
}

// TestUseLinkChallengeRace completes one challenge from several
// transactions at once: exactly one may win.
func TestUseLinkChallengeRace(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			err := tx.InsertProvider(ctx, testProvider("p1", nodeA,
				agent1))
			if err != nil {
				return err
			}
			return tx.InsertLinkChallenge(ctx, store.LinkChallenge{
				ID: "c1", NodePubkey: nodeA,
				AgentPubkey: agent1, Message: "m",
				CreatedAt: chanAt, ExpiresAt: chanAt,
			})
		})

		const racers = 6
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
			errs []error
		)
		for range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := inTx(t, db, func(ctx context.Context,
					tx *store.Tx) error {

					return tx.UseLinkChallenge(ctx, "c1",
						"p1", chanAt)
				})
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					wins++
				} else {
					errs = append(errs, err)
				}
			}()
		}
		wg.Wait()

		if wins != 1 {
			t.Errorf("%d transactions used the challenge, want 1",
				wins)
		}
		for _, err := range errs {
			if !errors.Is(err, store.ErrChallengeUsed) {
				t.Errorf("loser: %v, want ErrChallengeUsed", err)
			}
		}
	})
}

// testProvider is a linked provider row.
func testProvider(id, node, agent string) store.Provider {
	return store.Provider{
		ID:          id,
		NodePubkey:  node,
		AgentPubkey: agent,
		Alias:       "alias-" + id,
		Status:      "linked",
		LinkedAt:    chanAt,
		CreatedAt:   chanAt,
	}
}

// TestProviders inserts, reads by id and by node, lists, relinks and
// records reachability; unknown ids and a second provider on one node are
// refused.
func TestProviders(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		at := chanAt.UTC().Truncate(time.Microsecond)

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			err := tx.InsertProvider(ctx, testProvider("p1", nodeA,
				agent1))
			if err != nil {
				return err
			}
			p2 := testProvider("p2", nodeB, agent2)
			p2.CreatedAt = chanAt.Add(time.Second)
			return tx.InsertProvider(ctx, p2)
		})

		err := inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.InsertProvider(ctx, testProvider("p3", nodeA,
				agent2))
		})
		if !errors.Is(err, store.ErrUniqueViolation) {
			t.Errorf("second provider on a node: %v, want "+
				"ErrUniqueViolation", err)
		}

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			got, err := tx.Provider(ctx, "p1")
			if err != nil {
				return err
			}
			want := testProvider("p1", nodeA, agent1)
			want.LinkedAt, want.CreatedAt = at, at
			want.Reach = "unknown"
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Provider = %+v, want %+v", got, want)
			}

			byNode, err := tx.ProviderByNode(ctx, nodeA)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(byNode, want) {
				t.Errorf("ProviderByNode = %+v, want %+v",
					byNode, want)
			}

			all, err := tx.Providers(ctx)
			if err != nil {
				return err
			}
			if len(all) != 2 || all[0].ID != "p1" ||
				all[1].ID != "p2" {

				t.Errorf("Providers = %+v, want p1, p2", all)
			}
			return nil
		})

		for name, fn := range map[string]func(context.Context,
			*store.Tx) error{

			"Provider": func(ctx context.Context, tx *store.Tx) error {
				_, err := tx.Provider(ctx, "nope")
				return err
			},
			"ProviderByNode": func(ctx context.Context,
				tx *store.Tx) error {

				_, err := tx.ProviderByNode(ctx, nodeB[:64]+"ff")
				return err
			},
			"RelinkProvider": func(ctx context.Context,
				tx *store.Tx) error {

				return tx.RelinkProvider(ctx, "nope", agent1,
					"", "linked", chanAt)
			},
			"SetProviderReach": func(ctx context.Context,
				tx *store.Tx) error {

				return tx.SetProviderReach(ctx, "nope",
					"reachable", "", chanAt)
			},
			"SetProviderRates": func(ctx context.Context,
				tx *store.Tx) error {

				return tx.SetProviderRates(ctx, "nope",
					map[string]string{"cpu": "1"}, chanAt)
			},
		} {
			err := inTx(t, db, fn)
			if !errors.Is(err, store.ErrProviderNotFound) {
				t.Errorf("%s of unknown provider: %v, want "+
					"ErrProviderNotFound", name, err)
			}
		}

		later := at.Add(time.Hour)
		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			err := tx.SetProviderReach(ctx, "p1", "reachable",
				"direct channel", later)
			if err != nil {
				return err
			}
			got, err := tx.Provider(ctx, "p1")
			if err != nil {
				return err
			}
			if got.Reach != "reachable" ||
				got.ReachReason != "direct channel" ||
				!got.ReachCheckedAt.Equal(later) {

				t.Errorf("after SetProviderReach: %+v", got)
			}

			// A relink changes the key and resets the check.
			err = tx.RelinkProvider(ctx, "p1", agent2, "new",
				"linked", later)
			if err != nil {
				return err
			}
			got, err = tx.Provider(ctx, "p1")
			if err != nil {
				return err
			}
			if got.AgentPubkey != agent2 || got.Alias != "new" ||
				!got.LinkedAt.Equal(later) ||
				got.Reach != "unknown" ||
				!got.ReachCheckedAt.IsZero() ||
				!got.CreatedAt.Equal(at) {

				t.Errorf("after RelinkProvider: %+v", got)
			}
			return nil
		})
	})
}

// TestAgentKeys rotates a provider's agent key: one current key at a
// time, old keys kept as revoked, a key found across providers.
func TestAgentKeys(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)
		at := chanAt.UTC().Truncate(time.Microsecond)
		later := at.Add(time.Minute)

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			err := tx.InsertProvider(ctx, testProvider("p1", nodeA,
				agent1))
			if err != nil {
				return err
			}
			return tx.AddAgentKey(ctx, "p1", agent1, at)
		})

		// A second current key is refused.
		err := inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.AddAgentKey(ctx, "p1", agent2, later)
		})
		if !errors.Is(err, store.ErrUniqueViolation) {
			t.Errorf("second current key: %v, want "+
				"ErrUniqueViolation", err)
		}

		// A key of an unknown provider is refused.
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			return tx.AddAgentKey(ctx, "nope", agent2, later)
		})
		if !errors.Is(err, store.ErrForeignKeyViolation) {
			t.Errorf("key of unknown provider: %v, want "+
				"ErrForeignKeyViolation", err)
		}

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			n, err := tx.RevokeAgentKeys(ctx, "p1", later)
			if err != nil {
				return err
			}
			if n != 1 {
				t.Errorf("revoked %d keys, want 1", n)
			}
			return tx.AddAgentKey(ctx, "p1", agent2, later)
		})

		// The old key comes back revoked and cannot be added again.
		err = inTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			if _, err := tx.RevokeAgentKeys(ctx, "p1",
				later); err != nil {

				return err
			}
			return tx.AddAgentKey(ctx, "p1", agent1, later)
		})
		if !errors.Is(err, store.ErrUniqueViolation) {
			t.Errorf("re-adding a revoked key: %v, want "+
				"ErrUniqueViolation", err)
		}

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			keys, err := tx.AgentKeys(ctx, "p1", "")
			if err != nil {
				return err
			}
			want := []store.AgentKey{
				{ProviderID: "p1", AgentPubkey: agent1,
					AddedAt: at, RevokedAt: later},
				{ProviderID: "p1", AgentPubkey: agent2,
					AddedAt: later},
			}
			if !reflect.DeepEqual(keys, want) {
				t.Errorf("AgentKeys = %+v, want %+v", keys,
					want)
			}

			byKey, err := tx.AgentKeys(ctx, "", agent2)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(byKey, want[1:]) {
				t.Errorf("AgentKeys by key = %+v, want %+v",
					byKey, want[1:])
			}

			none, err := tx.AgentKeys(ctx, "p2", "")
			if err != nil || len(none) != 0 {
				t.Errorf("keys of p2 = %v, %v", none, err)
			}
			return nil
		})
	})
}

// TestProviderRates replaces and clears a rate card.
func TestProviderRates(t *testing.T) {
	t.Parallel()

	storetest.ForEachBackend(t, func(t *testing.T, cfg store.Config) {
		t.Parallel()
		db := storetest.Open(t, cfg)

		mustTx(t, db, func(ctx context.Context, tx *store.Tx) error {
			err := tx.InsertProvider(ctx, testProvider("p1", nodeA,
				agent1))
			if err != nil {
				return err
			}
			got, err := tx.ProviderRates(ctx, "p1")
			if err != nil || len(got) != 0 {
				t.Errorf("rates of a new provider = %v, %v",
					got, err)
			}
			return nil
		})

		steps := []map[string]string{
			{"cpu": "0.000125", "mem": "0.5"},
			{"cpu": "2"},
			{},
		}
		for i, rates := range steps {
			mustTx(t, db, func(ctx context.Context,
				tx *store.Tx) error {

				err := tx.SetProviderRates(ctx, "p1", rates,
					chanAt)
				if err != nil {
					return err
				}
				got, err := tx.ProviderRates(ctx, "p1")
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(got, rates) {
					t.Errorf("step %d: rates = %v, want %v",
						i, got, rates)
				}
				return nil
			})
		}
	})
}
