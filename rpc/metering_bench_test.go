package rpc

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/rpc/sluicerpc/sluicerpcconnect"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/sluice-ln/sluice/store"
	"github.com/sluice-ln/sluice/store/storetest"
)

// The API ingest benchmark's shape:
//
//	go test ./rpc -run '^$' -bench BenchmarkSubmitUsage -benchtime 1x \
//	    -ingest.agents 64 -ingest.batch 10 -ingest.seconds 600
var (
	apiAgents  = flag.Int("ingest.agents", 64, "concurrent agents (one job and one connection each)")
	apiBatch   = flag.Int("ingest.batch", 10, "records per batch")
	apiSeconds = flag.Int("ingest.seconds", 600, "records per agent")
)

// BenchmarkSubmitUsage measures usage ingest from the API on each backend:
// agents, each with its own TLS connection and provider macaroon, call
// MeteringService.SubmitUsage over gRPC with pre-signed batches, through
// auth, decoding, signature verification, validation, rating and the
// durable group commit (usage rows, meter states, ledger postings). In the
// same run and database it measures the raw insert rate of the same rows
// into usage_records, in transactions of the ingest's flush size, and
// reports records/s, raw-rows/s and their ratio.
func BenchmarkSubmitUsage(b *testing.B) {
	for _, backend := range storetest.Backends {
		b.Run(string(backend), func(b *testing.B) {
			cfg := storetest.Config(b, backend)
			for i := 0; i < b.N; i++ {
				benchSubmitOnce(b, cfg)
			}
		})
	}
}

// benchSubmitOnce runs one measurement on a fresh database.
func benchSubmitOnce(b *testing.B, cfg store.Config) {
	b.StopTimer()
	agents, perBatch, seconds := *apiAgents, *apiBatch, *apiSeconds
	ctx := context.Background()

	start := time.Unix(1767225600, 0).UTC()
	now := start.Add(time.Hour)
	sum := sha256.Sum256([]byte("bench agent"))
	key, pub := btcec.PrivKeyFromBytes(sum[:])
	var agentKey [32]byte
	copy(agentKey[:], pub.SerializeCompressed()[1:])
	rate, _ := ledger.ParseRate("0.001")

	var jobs []metering.JobView
	for _, prefix := range []string{"bench", "raw"} {
		for a := 0; a < agents; a++ {
			jobs = append(jobs, metering.JobView{
				ID:         fmt.Sprintf("%s-%d", prefix, a),
				ProviderID: "prov-1", AgentKey: agentKey,
				State: settlement.StateRunning, Started: start,
				StartedAt: start,
				Max:       metering.Usage{CPU: 4000, Mem: 8192},
				Rates: channels.RateCard{
					channels.ResourceCPU: rate,
					channels.ResourceMem: rate,
				},
				Escrow: 1_000_000_000_000,
			})
		}
	}

	db := storetest.Open(b, cfg)
	lg := ledger.New(store.NewLedgerStore(db), nil)
	storetest.SeedJobs(b, db, lg, start, jobs...)
	svc, err := metering.NewService(metering.ServiceConfig{
		Store: store.NewMeteringStore(db, lg,
			storetest.NewMeteringJobs(jobs...), func() time.Time { return now }),
		Ingest: metering.IngestConfig{
			FeeRate: 250, Policy: metering.DefaultPolicy(),
			Clock: func() time.Time { return now },
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	svc.Start()
	b.Cleanup(svc.Stop)

	dir := b.TempDir()
	srvCfg := testConfig(dir, &fakeInfo{})
	srvCfg.Metering = svc
	srv, err := NewServer(srvCfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	macRaw, err := srv.BakeProviderMacaroon("prov-1", agentKey)
	if err != nil {
		b.Fatal(err)
	}
	mac := hex.EncodeToString(macRaw)

	// Each agent signs its batches before the clock starts and has its
	// own connection.
	batches := make([][][]byte, agents)
	clients := make([]sluicerpcconnect.MeteringServiceClient, agents)
	for a := 0; a < agents; a++ {
		id := fmt.Sprintf("bench-%d", a)
		for from := 1; from <= seconds; from += perBatch {
			to := min(from+perBatch-1, seconds)
			batch := &metering.Batch{JobID: id}
			for s := from; s <= to; s++ {
				batch.Records = append(batch.Records,
					metering.Record{
						Seq:    uint64(s),
						Second: start.Unix() + int64(s),
						Usage: metering.Usage{CPU: 1500,
							Mem: 100},
					})
			}
			if err := batch.Sign(key); err != nil {
				b.Fatal(err)
			}
			enc, err := batch.Encode()
			if err != nil {
				b.Fatal(err)
			}
			batches[a] = append(batches[a], enc)
		}
		clients[a] = sluicerpcconnect.NewMeteringServiceClient(
			benchHTTPClient(b, filepath.Join(dir, "tls.cert")),
			"https://"+srv.Addr(), connect.WithGRPC())
	}
	total := agents * seconds

	b.StartTimer()
	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, agents)
	for a := 0; a < agents; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, enc := range batches[a] {
				req := connect.NewRequest(
					&sluicerpc.SubmitUsageRequest{Batch: enc})
				req.Header().Set(sluicerpc.MacaroonHeader, mac)
				resp, err := clients[a].SubmitUsage(ctx, req)
				if err != nil {
					errs <- err
					return
				}
				if resp.Msg.Accepted == 0 {
					errs <- fmt.Errorf("batch not accepted")
					return
				}
			}
		}()
	}
	wg.Wait()
	ingest := time.Since(began)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}

	hash := hex.EncodeToString(make([]byte, 32))
	var rows []store.UsageRecord
	for a := 0; a < agents; a++ {
		for s := 1; s <= seconds; s++ {
			rows = append(rows, store.UsageRecord{
				JobID: fmt.Sprintf("raw-%d", a), Seq: int64(s),
				Second: start.Unix() + int64(s), CPU: 1500,
				Mem: 100, Price: 1, BatchHash: hash,
			})
		}
	}
	began = time.Now()
	for len(rows) > 0 {
		n := min(len(rows), metering.DefaultFlushRecords)
		err := db.ExecTx(ctx, store.TxOptions{},
			func(tx *store.Tx) error {
				return tx.InsertUsageRecords(ctx, rows[:n])
			})
		if err != nil {
			b.Fatal(err)
		}
		rows = rows[n:]
	}
	raw := time.Since(began)

	ingestRate := float64(total) / ingest.Seconds()
	rawRate := float64(total) / raw.Seconds()
	b.ReportMetric(ingestRate, "records/s")
	b.ReportMetric(rawRate, "raw-rows/s")
	b.ReportMetric(ingestRate/rawRate, "ratio")
	b.Logf("%s, from the API: %d agents × %d records in batches of %d: "+
		"ingest %.0f records/s (%v), raw insert %.0f rows/s (%v), "+
		"ratio %.2f", cfg.Backend, agents, seconds, perBatch,
		ingestRate, ingest.Round(time.Millisecond), rawRate,
		raw.Round(time.Millisecond), ingestRate/rawRate)
}

// benchHTTPClient is an HTTP/2 client that trusts the server's
// certificate.
func benchHTTPClient(b *testing.B, certPath string) *http.Client {
	b.Helper()
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		b.Fatal("no certificate")
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP2(true)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		Protocols:       protocols,
	}}
}
