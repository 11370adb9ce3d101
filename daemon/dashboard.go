package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sluice-ln/sluice/dashboard"
	"github.com/sluice-ln/sluice/reconcile"
	"github.com/sluice-ln/sluice/rpc"
)

// reconcileRecorder runs reconciliations for the API and keeps the last
// outcome for the dashboard, which never reconciles itself (that asks
// lnd).
type reconcileRecorder struct {
	run func(ctx context.Context) (*reconcile.Report, error)
	now func() time.Time

	mu   sync.Mutex
	last dashboard.ReconcileStatus
	ran  bool
}

var (
	_ rpc.Reconciler            = (*reconcileRecorder)(nil)
	_ dashboard.Reconciliations = (*reconcileRecorder)(nil)
)

// Reconcile runs a reconciliation and records how it ended.
func (r *reconcileRecorder) Reconcile(ctx context.Context) (
	*reconcile.Report, error) {

	rep, err := r.run(ctx)
	st := dashboard.ReconcileStatus{At: r.now().UTC()}
	switch {
	case err != nil:
		st.Err = err.Error()
	case rep != nil:
		st.OK, st.Differences = rep.OK(), len(rep.Differences)
	}
	r.mu.Lock()
	r.last, r.ran = st, true
	r.mu.Unlock()
	return rep, err
}

// LastReconcile returns the last reconciliation's outcome.
func (r *reconcileRecorder) LastReconcile() (dashboard.ReconcileStatus,
	bool) {

	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last, r.ran
}

// mountDashboard mounts the operator's dashboard on the API server under
// dashboard.Prefix.
func mountDashboard(server *rpc.Server, cfg dashboard.Config) error {
	h, err := dashboard.New(cfg)
	if err != nil {
		return err
	}
	if err := server.Handle(dashboard.Prefix, h); err != nil {
		return fmt.Errorf("mount the dashboard: %w", err)
	}
	// Its event streams would hold the server's drain open.
	if err := server.OnShutdown(h.Close); err != nil {
		return fmt.Errorf("mount the dashboard: %w", err)
	}
	return nil
}
