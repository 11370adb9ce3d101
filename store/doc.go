// Package store is Sluice's SQL persistence: it opens SQLite (WAL, the
// embedded default) or PostgreSQL, applies the numbered migrations embedded
// for each dialect, refuses a database whose schema is newer than the
// binary, and runs every unit of work through one transaction helper that
// retries serialization and busy errors and maps driver errors to the
// package's own. Domain packages declare the store interfaces they need;
// this package implements them.
//
// Concurrency. On PostgreSQL every read-write transaction runs at
// SERIALIZABLE, so the database itself aborts one of two transactions that
// would interleave badly (two posts reading and writing one balance) and
// DB.ExecTx runs it again; no query needs an explicit row lock. On SQLite
// all writes in a process go through one connection whose transactions
// begin IMMEDIATE, so writers queue in the pool instead of failing, and
// read-only transactions run beside them on query_only connections that
// read WAL snapshots. SQLite runs with synchronous=FULL: a commit that has
// returned survives a power loss, not only a crash of the process.
//
// Schema. migrations/ holds one set of numbered up/down migrations written
// for PostgreSQL; SQLite runs the same files rewritten by
// sqliteReplacements (BIGINT to INTEGER, TIMESTAMPTZ to TIMESTAMP, identity
// keys to INTEGER PRIMARY KEY, and two "/* sqlite: ... */" markers), which
// yields exactly the schema of databases made before the dialects were
// merged. golang-migrate runs them through migrateDriver, which applies a
// migration and records its version in one transaction. A database whose
// version table is still the old runner's (a row per migration, with
// applied_at) has its version carried over on first open.
//
// Queries. Every query is written once, in queries/*.sql, and compiled by
// sqlc (engine postgresql, from migrations/) into package sqlc; the
// generated code runs on both engines, since modernc's SQLite accepts
// PostgreSQL's $N placeholders, so a query uses only syntax both accept
// (CAST(x AS TEXT), not x::text). Each Tx holds the generated Queries for
// its transaction. Five statements are built at run time instead, each
// with a comment saying why: Accounts (a list of accounts), the multi-row
// usage insert (a batch of records), a ledger transaction's account
// upserts and postings (upsertAccounts, insertPostings) and ListJobs (a
// filter with a list of states); sqlc's postgresql engine has no list
// form that SQLite runs. Metering's group commit and payouts' writes keep
// a memo of what their transaction read (memo.go), so that a row read
// again costs no statement.
//
// Extending. Each domain's queries are methods on *Tx, in a file per domain
// (ledger.go holds the ledger's), so that one DB.ExecTx can post ledger
// transactions with ledger.PostTx and write the domain's own rows
// atomically. A domain's schema comes as a new numbered migration in
// migrations/, in PostgreSQL's dialect; its queries go in
// queries/<domain>.sql, and make sqlc regenerates package sqlc.
//
// Domains. A domain declares its store in its own types and sentinel
// errors, and imports no store package (tapd's tapgarden and tapdb split
// the same way); a file here adapts Tx to it, converting rows and errors:
// channels_domain.go (channels.Store, whose not-found and used errors are
// this package's ErrProviderNotFound and friends), settlement_domain.go
// (settlement.DB; workload_domain.go adds jobs' workloads and results to
// its TxStore), payout_domain.go (payout.DB), metering_domain.go
// (metering.ServiceStore, as MeteringStore) and reconcile.go
// (reconcile.DB). Each adapter is a view of one Tx, so one transaction can
// be several domains' at once: metering's group commit hands its Tx to
// settlement as a settlement.TxStore (SettlementJobs), and the usage rows,
// the ledger posting and the job's state commit together.
package store
