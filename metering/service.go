package metering

import (
	"context"
	"fmt"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/store"
)

// ServiceConfig is what NewService needs.
type ServiceConfig struct {
	// DB is Sluice's store; Ledger posts usage on it.
	DB     *store.DB
	Ledger *ledger.Ledger

	// Jobs answers for settlement and channels.
	Jobs JobSource

	// Ingest configures the group commits, the rules and the platform
	// fee.
	Ingest IngestConfig
}

// Service is metering as the API sees it: SubmitUsage and GetMeter over
// the Ingestor and the SQL store.
type Service struct {
	store *SQLStore
	in    *Ingestor
}

// NewService returns a Service; Start runs its Ingestor.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.DB == nil || cfg.Ledger == nil || cfg.Jobs == nil {
		return nil, fmt.Errorf("metering service: DB, Ledger and Jobs " +
			"are required")
	}
	st := NewSQLStore(cfg.DB, cfg.Ledger, cfg.Jobs, cfg.Ingest.Clock)
	in, err := NewIngestor(st, cfg.Ingest)
	if err != nil {
		return nil, err
	}

	return &Service{store: st, in: in}, nil
}

// Start starts the Ingestor.
func (s *Service) Start() { s.in.Start() }

// Stop stops the Ingestor after its commit under way.
func (s *Service) Stop() { s.in.Stop() }

// Submit decodes a batch in its canonical encoding and submits it for the
// provider callerID (Ingestor.Submit).
func (s *Service) Submit(ctx context.Context, callerID string,
	encoded []byte) (Result, error) {

	b, err := Decode(encoded)
	if err != nil {
		return Result{}, err
	}

	return s.in.Submit(ctx, callerID, b)
}

// Status returns a job as metering sees it, read in one read-only
// transaction, or an error wrapping ErrUnknownJob.
func (s *Service) Status(ctx context.Context, jobID string) (JobView,
	error) {

	var job JobView
	err := s.store.db.ExecTx(ctx, store.TxOptions{ReadOnly: true},
		func(tx *store.Tx) error {
			var err error
			job, err = (&sqlTx{s: s.store, tx: tx}).Job(ctx, jobID)
			return err
		})

	return job, err
}
