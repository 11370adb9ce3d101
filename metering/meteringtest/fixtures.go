package meteringtest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/sluice-ln/sluice/channels"
	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/metering"
	"github.com/sluice-ln/sluice/settlement"
)

// The ingest fixtures: one provider's agent, its running jobs and signed
// batches, shared by metering's ingest tests and the tests of its store
// (store.MeteringStore).
var (
	// JobStart is when the fixtures' jobs started.
	JobStart = time.Unix(1767225600, 0).UTC()

	// IngestNow is the fixtures' clock: an hour after their jobs
	// started.
	IngestNow = JobStart.Add(time.Hour)
)

// AgentKey is the fixture provider's agent key.
func AgentKey() *btcec.PrivateKey {
	sum := sha256.Sum256([]byte("ingest test agent"))
	priv, _ := btcec.PrivKeyFromBytes(sum[:])
	return priv
}

// Job is a running job of provider "prov-1" with 1 msat per core-second
// and per 1000 MiB-seconds, and escrow.
func Job(t testing.TB, id string,
	escrow ledger.MilliSatoshi) metering.JobView {

	t.Helper()

	var key [32]byte
	copy(key[:], AgentKey().PubKey().SerializeCompressed()[1:])
	cpu, err := ledger.ParseRate("0.001")
	if err != nil {
		t.Fatal(err)
	}
	mem, err := ledger.ParseRate("0.001")
	if err != nil {
		t.Fatal(err)
	}

	return metering.JobView{
		ID:         id,
		ProviderID: "prov-1",
		AgentKey:   key,
		State:      settlement.StateRunning,
		StartedAt:  JobStart,
		Started:    JobStart,
		Max:        metering.Usage{CPU: 4000, Mem: 8192},
		Rates: channels.RateCard{
			channels.ResourceCPU: cpu,
			channels.ResourceMem: mem,
		},
		Escrow: escrow,
	}
}

// Signed returns a batch for job of seqs from..to, second = JobStart + seq,
// with cpu 1500 and mem 100 per second, signed by AgentKey.
func Signed(t testing.TB, job string, from, to uint64) *metering.Batch {
	t.Helper()

	b := &metering.Batch{JobID: job}
	for s := from; s <= to; s++ {
		b.Records = append(b.Records, metering.Record{
			Seq: s, Second: JobStart.Unix() + int64(s),
			Usage: metering.Usage{CPU: 1500, Mem: 100},
		})
	}
	if err := b.Sign(AgentKey()); err != nil {
		t.Fatal(err)
	}

	return b
}
