package settlement

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-ln/sluice/ledger"
)

// A job's workload and its result (issue 13): what a buyer asks the
// provider's serving agent to run, stored with the job when it is created,
// and what the agent reports back when the run is over. The sandbox, the
// metering of the run and the placement of the job are elsewhere (agent/,
// metering/, market/); this file keeps the bytes and the rules on them.

// Limits of a workload and its result.
const (
	// MaxWorkloadBytes bounds a workload: its argv's bytes, its inputs'
	// names and their bytes, together. The workload travels in the
	// create call, sits in the store with the job and is fetched by the
	// agent in one call: it is for small inputs (a script, a config),
	// not for data sets.
	MaxWorkloadBytes = 64 << 10

	// MaxWorkloadInputs bounds the number of a workload's inputs.
	MaxWorkloadInputs = 64

	// MaxInputNameBytes bounds an input's name.
	MaxInputNameBytes = 128

	// MaxOutputBytes bounds the output a result carries; the agent
	// keeps the first MaxOutputBytes and marks the result truncated.
	MaxOutputBytes = 1 << 20

	// MaxSignalBytes and MaxReasonBytes bound a result's signal name
	// and the agent's words on why it stopped the run.
	MaxSignalBytes = 32
	MaxReasonBytes = 256
)

var (
	// ErrWorkloadTooLarge is returned for a workload over
	// MaxWorkloadBytes.
	ErrWorkloadTooLarge = errors.New("workload too large")

	// ErrInvalidWorkload is returned for a workload that cannot be run
	// as given: no command, an empty argument or one with a NUL byte,
	// an input name that is not a single path element, too many
	// inputs. The message names which.
	ErrInvalidWorkload = errors.New("invalid workload")

	// ErrOutputTooLarge is returned for a result whose output is over
	// MaxOutputBytes: the agent truncates it and says so.
	ErrOutputTooLarge = errors.New("output too large")

	// ErrInvalidResult is returned for a result that does not hold
	// together: an exit code out of range, a hash that is not the
	// output's. The message says which.
	ErrInvalidResult = errors.New("invalid job result")

	// ErrNoWorkload is returned for a workload or result asked of a
	// job created without a workload (its provider runs what it
	// decides, with `agent run`).
	ErrNoWorkload = errors.New("job has no workload")

	// ErrNoResult is returned for the output of a job whose provider
	// has not submitted a result yet.
	ErrNoResult = errors.New("job has no result yet")

	// ErrJobNotStarted is returned for a result submitted for a job
	// its agent never started (no usage metered): nothing ran, so
	// nothing can have come out.
	ErrJobNotStarted = errors.New("job has not started")

	// ErrResultConflict is returned for a result submitted for a job
	// that has a different one: a job's result is recorded once.
	// Submitting the recorded result again succeeds.
	ErrResultConflict = errors.New("job has a different result already")
)

// Workload is what a buyer asks the provider's serving agent to run: a
// command and small inputs, which the agent writes as files into the
// run's working directory under their names. The job's spec is the
// workload's resource spec: the agent holds the run to it.
type Workload struct {
	// Argv is the command and its arguments; Argv[0] is looked up as
	// the agent's sandbox says.
	Argv []string

	// Inputs maps a file name (one path element) to its bytes.
	Inputs map[string][]byte
}

// Size is what counts against MaxWorkloadBytes: the argv's bytes and each
// input's name and bytes.
func (w Workload) Size() int {
	n := 0
	for _, a := range w.Argv {
		n += len(a)
	}
	for name, b := range w.Inputs {
		n += len(name) + len(b)
	}
	return n
}

// InputNames returns the inputs' names, sorted.
func (w Workload) InputNames() []string {
	names := make([]string, 0, len(w.Inputs))
	for name := range w.Inputs {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Validate checks the workload against the limits above. Errors wrap
// ErrWorkloadTooLarge or ErrInvalidWorkload and name the part at fault.
// The size is checked first, so that a workload over the cap is always
// refused as too large.
func (w Workload) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format,
			append([]any{ErrInvalidWorkload}, args...)...)
	}
	if size := w.Size(); size > MaxWorkloadBytes {
		return fmt.Errorf("%w: %d bytes (argv, input names and "+
			"contents) is above %d", ErrWorkloadTooLarge, size,
			MaxWorkloadBytes)
	}
	if len(w.Argv) == 0 {
		return bad("argv is empty: name the command to run")
	}
	for i, a := range w.Argv {
		switch {
		case a == "":
			return bad("argv[%d] is empty", i)
		case strings.IndexByte(a, 0) >= 0:
			return bad("argv[%d] holds a NUL byte", i)
		case !utf8.ValidString(a):
			return bad("argv[%d] is not UTF-8", i)
		}
	}
	if len(w.Inputs) > MaxWorkloadInputs {
		return bad("%d inputs, at most %d", len(w.Inputs),
			MaxWorkloadInputs)
	}
	for _, name := range w.InputNames() {
		if err := CheckInputName(name); err != nil {
			return bad("input %q: %v", name, err)
		}
	}
	return nil
}

// plainName is what an input's name may be: letters, digits, '.', '_' and
// '-', not starting with '.' or '-' (no hidden file, nothing a command
// would take for an option).
var plainName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// CheckInputName checks that name is one plain file name the serving
// agent's sandbox creates in the run's directory and no other: a name with
// a slash, or "." or "..", would write outside it or over it. It is the
// one rule: job creation refuses what the sandbox would (agent/sandbox
// calls it too).
func CheckInputName(name string) error {
	switch {
	case name == "":
		return errors.New("the name is empty")
	case name == "." || name == "..":
		return errors.New("the name is a directory")
	case strings.ContainsAny(name, "/\x00"):
		return errors.New("the name holds a slash or a NUL byte: it " +
			"must be a single path element")
	case len(name) > MaxInputNameBytes:
		return fmt.Errorf("the name is %d bytes, at most %d",
			len(name), MaxInputNameBytes)
	case !plainName.MatchString(name):
		return errors.New("the name is not a plain file name: " +
			"letters, digits, '.', '_' or '-', not starting with " +
			"'.' or '-'")
	}
	return nil
}

// InputInfo is an input's name and size, without its bytes.
type InputInfo struct {
	Name string
	Size int
}

// WorkloadInfo is a workload without its inputs' bytes: what GetJob
// shows.
type WorkloadInfo struct {
	Argv []string

	// Inputs are sorted by name.
	Inputs []InputInfo
}

// Size is the workload's size as Workload.Size counts it.
func (w WorkloadInfo) Size() int {
	n := 0
	for _, a := range w.Argv {
		n += len(a)
	}
	for _, in := range w.Inputs {
		n += len(in.Name) + in.Size
	}
	return n
}

// Info is the workload without its inputs' bytes.
func (w Workload) Info() WorkloadInfo {
	info := WorkloadInfo{Argv: slices.Clone(w.Argv)}
	for _, name := range w.InputNames() {
		info.Inputs = append(info.Inputs, InputInfo{
			Name: name, Size: len(w.Inputs[name]),
		})
	}
	return info
}

// Result is how a workload's run ended, as the provider's agent reports
// it.
type Result struct {
	// ExitCode is the process's exit status, 0 to 255, or -1 when a
	// signal ended it.
	ExitCode int

	// Signal names the signal that ended the process ("SIGKILL"),
	// empty when it exited.
	Signal string

	// Reason is the agent's word on why the run stopped when it stopped
	// it (the job ended, its escrow ran out, a limit); empty when the
	// process ended by itself.
	Reason string

	// OutputSHA256 is the SHA-256 of the process's whole output as the
	// agent saw it. When Truncated is false that is Output, and
	// SubmitResult checks it; when Truncated is true, Output is only
	// the first part, and the hash is of the whole, which neither
	// Sluice nor the buyer can check against Output: the buyer holds
	// it against what the agent kept or a rerun.
	OutputSHA256 [32]byte

	// Output is the process's output, at most MaxOutputBytes.
	Output []byte

	// Truncated says the whole output was longer than Output.
	Truncated bool
}

// Validate checks the result's own rules. Errors wrap ErrOutputTooLarge
// or ErrInvalidResult.
func (r Result) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format,
			append([]any{ErrInvalidResult}, args...)...)
	}
	switch {
	case len(r.Output) > MaxOutputBytes:
		return fmt.Errorf("%w: %d bytes, at most %d; keep the first "+
			"%d and mark the result truncated", ErrOutputTooLarge,
			len(r.Output), MaxOutputBytes, MaxOutputBytes)
	case r.Signal == "" && (r.ExitCode < 0 || r.ExitCode > 255):
		return bad("exit code %d is outside 0 to 255", r.ExitCode)
	case r.Signal != "" && r.ExitCode != -1:
		return bad("exit code %d with signal %s: a process a signal "+
			"ended has exit code -1", r.ExitCode, r.Signal)
	case len(r.Signal) > MaxSignalBytes:
		return bad("signal is %d bytes, at most %d", len(r.Signal),
			MaxSignalBytes)
	case len(r.Reason) > MaxReasonBytes:
		return bad("reason is %d bytes, at most %d", len(r.Reason),
			MaxReasonBytes)
	case !utf8.ValidString(r.Signal) || !utf8.ValidString(r.Reason) ||
		strings.IndexByte(r.Signal+r.Reason, 0) >= 0:

		return bad("signal and reason must be UTF-8 without NUL " +
			"bytes")
	case !r.Truncated && sha256.Sum256(r.Output) != r.OutputSHA256:
		return bad("output_sha256 %x is not the SHA-256 of the %d "+
			"bytes of output", r.OutputSHA256, len(r.Output))
	}
	return nil
}

// Equal reports whether two results say the same.
func (r Result) Equal(o Result) bool {
	return r.ExitCode == o.ExitCode && r.Signal == o.Signal &&
		r.Reason == o.Reason && r.OutputSHA256 == o.OutputSHA256 &&
		r.Truncated == o.Truncated && bytes.Equal(r.Output, o.Output)
}

// StoredResult is a job's result as the store keeps it.
type StoredResult struct {
	JobID string
	Result
	SubmittedAt time.Time
}

// ResultInfo is a result without its output's bytes: what GetJob shows.
type ResultInfo struct {
	ExitCode     int
	Signal       string
	Reason       string
	OutputSHA256 [32]byte

	// OutputSize is the length of the output kept.
	OutputSize int
	Truncated  bool

	SubmittedAt time.Time
}

// Info is the result without its output's bytes.
func (r StoredResult) Info() ResultInfo {
	return ResultInfo{
		ExitCode: r.ExitCode, Signal: r.Signal, Reason: r.Reason,
		OutputSHA256: r.OutputSHA256, OutputSize: len(r.Output),
		Truncated: r.Truncated, SubmittedAt: r.SubmittedAt,
	}
}

// GetJobWorkload returns a job's workload with its inputs' bytes: what
// the provider's serving agent fetches to run it. It only reads. Errors:
// ErrJobNotFound, ErrNoWorkload.
func (m *Manager) GetJobWorkload(ctx context.Context, id string) (Workload,
	error) {

	var w Workload
	err := m.execTx(ctx, true, func(tx TxStore) error {
		if _, err := tx.JobByID(ctx, id); err != nil {
			return err
		}
		var err error
		w, err = tx.JobWorkload(ctx, id)
		return err
	})
	switch {
	case errors.Is(err, ErrJobNotFound):
		return Workload{}, fmt.Errorf("%w: %q", ErrJobNotFound, id)
	case errors.Is(err, ErrNoWorkload):
		return Workload{}, fmt.Errorf("%w: job %s", ErrNoWorkload, id)
	}
	return w, err
}

// GetJobOutput returns a job's result with its output: what the buyer
// fetches. It only reads. Errors: ErrJobNotFound, ErrNoWorkload,
// ErrNoResult.
func (m *Manager) GetJobOutput(ctx context.Context, id string) (
	StoredResult, error) {

	var r StoredResult
	err := m.execTx(ctx, true, func(tx TxStore) error {
		if _, err := tx.JobByID(ctx, id); err != nil {
			return err
		}
		if _, err := tx.JobWorkloadInfo(ctx, id); err != nil {
			return err
		}
		var err error
		r, err = tx.JobResult(ctx, id)
		return err
	})
	switch {
	case errors.Is(err, ErrJobNotFound):
		return StoredResult{}, fmt.Errorf("%w: %q", ErrJobNotFound, id)
	case errors.Is(err, ErrNoWorkload):
		return StoredResult{}, fmt.Errorf("%w: job %s", ErrNoWorkload,
			id)
	case errors.Is(err, ErrNoResult):
		return StoredResult{}, fmt.Errorf("%w: job %s", ErrNoResult, id)
	}
	return r, err
}

// SubmitResult records the result of a job's workload, sent by the job's
// provider. A job has one result: the first one recorded stays;
// submitting the same result again (an agent that retries after a lost
// answer) succeeds and returns it, a different one is refused. Only a job
// with a workload that its agent started (it metered usage: StartedAt is
// set) takes a result; it may have ended since (a run the agent stopped
// when the job ended still has an exit status and output).
//
// A result ends the job: the work is done. The first result of a job that
// has not ended ends it, in the transaction that records the result, as
// its provider (CauseEndedByProvider); then, as EndJob does, its open
// top-up invoices are canceled and the rest of its escrow is refunded to
// its refund node, when it has one. The refund does not decide the
// answer: one that cannot start now is logged and left to the sweeper,
// which refunds owed jobs. A result sent again ends nothing and refunds
// nothing; a result of a job ended before is only kept. Usage after the
// end is refused (metering's ErrAfterEnd), as after any end. Errors:
// ErrJobNotFound, ErrNotAllowed (another provider), ErrNoWorkload,
// ErrJobNotStarted, ErrResultConflict, and Result.Validate's.
func (m *Manager) SubmitResult(ctx context.Context, jobID, providerID string,
	r Result) (ResultInfo, error) {

	if err := r.Validate(); err != nil {
		return ResultInfo{}, fmt.Errorf("job %s: %w", jobID, err)
	}
	row := StoredResult{JobID: jobID, Result: r, SubmittedAt: m.now()}
	if row.Output == nil {
		row.Output = []byte{}
	}
	var (
		info  ResultInfo
		again bool
		job   StoredJob
		ended bool
		open  []StoredInvoice
	)
	err := m.execTx(ctx, false, func(tx TxStore) error {
		ended, open = false, nil
		var err error
		job, err = tx.JobByID(ctx, jobID)
		if err != nil {
			return err
		}
		if job.ProviderID != providerID {
			return fmt.Errorf("%w: job %s is assigned to provider "+
				"%s, not %s", ErrNotAllowed, jobID,
				job.ProviderID, providerID)
		}
		if _, err := tx.JobWorkloadInfo(ctx, jobID); err != nil {
			return err
		}
		if job.StartedAt.IsZero() {
			return fmt.Errorf("%w: job %s is %s and its agent has "+
				"not reported usage", ErrJobNotStarted, jobID,
				job.State)
		}
		inserted, err := tx.InsertJobResult(ctx, row)
		if err != nil {
			return err
		}
		if inserted {
			info, again = row.Info(), false
			if job.State.Terminal() {
				// The buyer (or the operator, or the
				// sweeper) ended it first: the result is
				// only kept.
				return nil
			}
			ended = true
			return m.endByResult(ctx, tx, &job, r, &open)
		}
		have, err := tx.JobResult(ctx, jobID)
		if err != nil {
			return err
		}
		if !have.Result.Equal(r) {
			return fmt.Errorf("%w: job %s ended with exit code %d "+
				"(signal %q), output %x, recorded at %s",
				ErrResultConflict, jobID, have.ExitCode,
				have.Signal, have.OutputSHA256,
				have.SubmittedAt.Format(time.RFC3339))
		}
		info, again = have.Info(), true
		return nil
	})
	switch {
	case errors.Is(err, ErrJobNotFound):
		return ResultInfo{}, fmt.Errorf("%w: %q", ErrJobNotFound, jobID)
	case errors.Is(err, ErrNoWorkload):
		return ResultInfo{}, fmt.Errorf("%w: job %s; a job without "+
			"a workload takes no result", ErrNoWorkload, jobID)
	case err != nil:
		return ResultInfo{}, err
	}
	if !again {
		log.Infof("Job %s: result from provider %s: exit %d%s, %d "+
			"bytes of output (truncated %v), sha256 %x", jobID,
			providerID, r.ExitCode, signalText(r.Signal),
			len(r.Output), r.Truncated, r.OutputSHA256)
	}
	if !ended {
		return info, nil
	}

	// The result is recorded and the job ended with it: the agent has
	// its answer whatever becomes of the refund. A refund that cannot
	// start now (no route, a crash here) leaves the job owing; the
	// sweeper refunds it (retryRefunds).
	m.hit(FailpointResultAfterEnd)
	if err := m.afterEnd(ctx, job, open, nil, "", true); err != nil {
		log.Warnf("Job %s ended with its result, but its refund was "+
			"not sent: %v; the sweeper tries again", jobID, err)
	}
	return info, nil
}

// endByResult ends, in tx, a job that has just taken its first result, as
// its provider (CauseEndedByProvider: the provider's record counts it
// completed), and returns in open the invoices the end cancels once
// committed. The work is done: the job holds its buyer's escrow and its
// provider's capacity no longer.
func (m *Manager) endByResult(ctx context.Context, tx TxStore,
	job *StoredJob, r Result, open *[]StoredInvoice) error {

	escrow, err := tx.Balance(ctx, ledger.BuyerEscrow(job.ID))
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("result: exit %d%s; escrow %d msat",
		r.ExitCode, signalText(r.Signal), escrow)
	err = m.transition(ctx, tx, job, StateEnded, CauseEndedByProvider,
		detail)
	if err != nil {
		return err
	}
	*open, err = openInvoices(ctx, tx, job.ID)
	return err
}

// signalText is ", signal S" for a signal, empty for none.
func signalText(s string) string {
	if s == "" {
		return ""
	}
	return ", signal " + s
}

// readWorkload adds the job's workload and result, without their bytes,
// to st; a job without them keeps nil.
func readWorkload(ctx context.Context, tx TxStore, st *Status) error {
	w, err := tx.JobWorkloadInfo(ctx, st.ID)
	switch {
	case errors.Is(err, ErrNoWorkload):
		return nil
	case err != nil:
		return err
	}
	st.Workload = &w
	r, err := tx.JobResultInfo(ctx, st.ID)
	switch {
	case errors.Is(err, ErrNoResult):
		return nil
	case err != nil:
		return err
	}
	st.Result = &r
	return nil
}
