package meteringstore_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/settlement"
)

// The SQL store's tests use the jobs and batches of metering's ingest
// tests (metering/ingest_test.go), which a test of another package cannot
// import.

// ingestNow is the tests' clock: an hour after their jobs started.
var (
	jobStart  = time.Unix(1767225600, 0).UTC()
	ingestNow = jobStart.Add(time.Hour)
)

// agentKey is the test provider's agent key.
func agentKey() *btcec.PrivateKey {
	sum := sha256.Sum256([]byte("ingest test agent"))
	priv, _ := btcec.PrivKeyFromBytes(sum[:])
	return priv
}

// testJob is a running job of provider "prov-1" with 1 msat per core-second
// and per 1000 MiB-seconds, and escrow.
func testJob(t testing.TB, id string,
	escrow ledger.MilliSatoshi) metering.JobView {

	t.Helper()

	var key [32]byte
	copy(key[:], agentKey().PubKey().SerializeCompressed()[1:])
	cpu, _ := ledger.ParseRate("0.001")
	mem, _ := ledger.ParseRate("0.001")

	return metering.JobView{
		ID:         id,
		ProviderID: "prov-1",
		AgentKey:   key,
		State:      settlement.StateRunning,
		StartedAt:  jobStart,
		Started:    jobStart,
		Max:        metering.Usage{CPU: 4000, Mem: 8192},
		Rates: metering.RateCard{
			metering.ResourceCPU: cpu,
			metering.ResourceMem: mem,
		},
		Escrow: escrow,
	}
}

// signed returns a signed batch for job of seqs from..to, second = seq,
// with cpu 1500 and mem 100 per second.
func signed(t testing.TB, job string, from, to uint64) *metering.Batch {
	t.Helper()

	b := &metering.Batch{JobID: job}
	for s := from; s <= to; s++ {
		b.Records = append(b.Records, metering.Record{
			Seq: s, Second: jobStart.Unix() + int64(s),
			Usage: metering.Usage{CPU: 1500, Mem: 100},
		})
	}
	if err := b.Sign(agentKey()); err != nil {
		t.Fatal(err)
	}

	return b
}
