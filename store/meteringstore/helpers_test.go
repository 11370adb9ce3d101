package meteringstore_test

import "github.com/sluice-ln/sluice/metering/meteringtest"

// The SQL store's tests use the jobs, batches and clock of metering's
// ingest tests.
var (
	jobStart  = meteringtest.JobStart
	ingestNow = meteringtest.IngestNow
	agentKey  = meteringtest.AgentKey
	testJob   = meteringtest.Job
	signed    = meteringtest.Signed
)
