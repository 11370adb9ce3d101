// Package metering turns the usage a provider's agent reports into money. It
// owns the per-second usage record and the signed batch it travels in (a
// canonical binary encoding, signed with BIP-340 Schnorr by the agent key;
// docs/protocol.md defines it byte for byte), the validation rules a batch
// must pass against its job, the rating of each accepted second with the
// job's rate card and a carried sub-millisatoshi remainder, and the ingest
// pipeline that commits many callers' batches in one store transaction
// (group commit), answering each only once its records are durable.
//
// The package is pure up to the Ingestor: decoding, signatures, validation
// and rating are functions of their inputs and a clock. What it needs from
// the rest of Sluice (the job as settlement and channels see it, the usage
// tables, the ledger posting) is declared in interfaces.go, in metering's
// own types; package store implements it (store.MeteringStore), and this
// package imports no store package. Metering keeps no concepts of its own
// for what others own: a job's state is settlement's State, its rate card
// channels' RateCard (store.SettlementJobs reads both).
package metering
