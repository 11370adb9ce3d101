package metering

import (
	"context"
	"fmt"
)

// ServiceStore is the store a Service runs on: the Ingestor's group
// commits and a read of one job. store.MeteringStore implements it.
type ServiceStore interface {
	Store

	// JobStatus returns the job as metering sees it, read in one
	// read-only transaction, or an error wrapping ErrUnknownJob.
	JobStatus(ctx context.Context, jobID string) (JobView, error)
}

// ServiceConfig is what NewService needs.
type ServiceConfig struct {
	// Store holds usage, meters and jobs; it posts usage to the ledger.
	Store ServiceStore

	// Ingest configures the group commits, the rules and the platform
	// fee.
	Ingest IngestConfig
}

// Service is metering as the API sees it: SubmitUsage and GetMeter over
// the Ingestor and its store.
type Service struct {
	store ServiceStore
	in    *Ingestor
}

// NewService returns a Service; Start runs its Ingestor.
func NewService(cfg ServiceConfig) (*Service, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("metering service: Store is required")
	}
	in, err := NewIngestor(cfg.Store, cfg.Ingest)
	if err != nil {
		return nil, err
	}

	return &Service{store: cfg.Store, in: in}, nil
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

	return s.store.JobStatus(ctx, jobID)
}
