package itest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/lightningnetwork/lnd/lnrpc"
	"github.com/lightningnetwork/lnd/lnrpc/routerrpc"
	"github.com/lightningnetwork/lnd/record"
	"github.com/sluice-ln/sluice/devnet"
)

// This file measures payment throughput: how many payments per second a
// payer completes, and how long each takes, at a given number of concurrent
// senders. The keysend baseline (raw lnd, hub to provider1) uses it, and a
// benchmark of Sluice's own payouts can run the same measurement in the same
// run and report its ratio to the baseline.

// DefaultConcurrencies are the numbers of concurrent senders a throughput
// run measures.
var DefaultConcurrencies = []int{1, 8, 32}

// DefaultLimits bound each level of a throughput run.
var DefaultLimits = Limits{Payments: 200, Duration: 20 * time.Second}

// KeysendBaselineMsat is the amount of each baseline payment: 1 sat.
const KeysendBaselineMsat = 1000

// ErrNoPayments is returned by Measure when no payment succeeded.
var ErrNoPayments = errors.New("no payment succeeded")

// Limits bound one level of a throughput run; it stops starting payments at
// whichever limit comes first and waits for those in flight.
type Limits struct {
	// Payments is the most payments the level starts. Must be positive.
	Payments int

	// Duration is how long the level keeps starting payments. Must be
	// positive.
	Duration time.Duration
}

// PayFunc makes one payment and returns once it has succeeded or failed.
// seq numbers the payments of a level from 0. It is called from several
// goroutines at once.
type PayFunc func(ctx context.Context, seq int) error

// Level is what one concurrency level of a throughput run measured.
type Level struct {
	// Concurrency is the number of senders.
	Concurrency int

	// Succeeded and Failed count the payments that ended each way.
	Succeeded int
	Failed    int

	// FirstErr is the first failure, nil when none failed.
	FirstErr error

	// Elapsed is from the first payment's start to the last one's end.
	Elapsed time.Duration

	// P50 and P99 are latencies of the succeeded payments (nearest
	// rank).
	P50 time.Duration
	P99 time.Duration
}

// PerSecond is the rate of succeeded payments. A float is fine here: it is a
// rate for people to read, not money.
func (l Level) PerSecond() float64 {
	if l.Elapsed <= 0 {
		return 0
	}
	return float64(l.Succeeded) / l.Elapsed.Seconds()
}

// Measure runs pay from concurrency goroutines until lim.Payments have been
// started or lim.Duration has passed, waits for the payments in flight, and
// reports throughput and latency. A failed payment is counted, not fatal;
// Measure returns ErrNoPayments (with the level) when none succeeded, and
// ctx's error when ctx ends first.
func Measure(ctx context.Context, concurrency int, lim Limits,
	pay PayFunc) (Level, error) {

	level := Level{Concurrency: concurrency}
	switch {
	case concurrency <= 0:
		return level, fmt.Errorf("measure: concurrency: must be "+
			"positive, got %d", concurrency)
	case lim.Payments <= 0:
		return level, fmt.Errorf("measure: Limits.Payments: must be "+
			"positive, got %d", lim.Payments)
	case lim.Duration <= 0:
		return level, fmt.Errorf("measure: Limits.Duration: must be "+
			"positive, got %v", lim.Duration)
	}

	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	start := time.Now()
	stopAt := start.Add(lim.Duration)
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(stopAt) {
				seq := int(next.Add(1) - 1)
				if seq >= lim.Payments {
					return
				}
				began := time.Now()
				err := pay(ctx, seq)
				took := time.Since(began)

				mu.Lock()
				if err == nil {
					latencies = append(latencies, took)
				} else {
					level.Failed++
					if level.FirstErr == nil {
						level.FirstErr = fmt.Errorf(
							"payment %d: %w", seq,
							err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	level.Elapsed = time.Since(start)
	level.Succeeded = len(latencies)
	level.P50 = Percentile(latencies, 50)
	level.P99 = Percentile(latencies, 99)

	if err := ctx.Err(); err != nil {
		return level, fmt.Errorf("measure at concurrency %d: %w",
			concurrency, err)
	}
	if level.Succeeded == 0 {
		return level, fmt.Errorf("measure at concurrency %d: %w "+
			"(%d failed, first: %v)", concurrency, ErrNoPayments,
			level.Failed, level.FirstErr)
	}
	return level, nil
}

// MeasureLevels runs Measure at each concurrency in turn and stops at the
// first error.
func MeasureLevels(ctx context.Context, concurrencies []int, lim Limits,
	pay PayFunc) ([]Level, error) {

	levels := make([]Level, 0, len(concurrencies))
	for _, c := range concurrencies {
		l, err := Measure(ctx, c, lim, pay)
		if err != nil {
			return levels, err
		}
		levels = append(levels, l)
	}
	return levels, nil
}

// Percentile returns the p-th percentile (0 < p <= 100) of ds by nearest
// rank, or 0 for no samples. ds is not modified.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 || p <= 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// WriteTable prints levels as a table under a title.
func WriteTable(w io.Writer, title string, levels []Level) error {
	if _, err := fmt.Fprintf(w, "%s\n", title); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "senders\tpayments\tfailed\tseconds\tpayments/s\t"+
		"p50 ms\tp99 ms\t")
	for _, l := range levels {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%.1f\t%.1f\t%.0f\t%.0f\t\n",
			l.Concurrency, l.Succeeded, l.Failed,
			l.Elapsed.Seconds(), l.PerSecond(), ms(l.P50), ms(l.P99))
	}
	return tw.Flush()
}

func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// KeysendPayer pays dest amtMsat by keysend through lnd's router for each
// call: a fresh preimage in the keysend record, its hash as the payment
// hash. It returns once lnd reports the payment succeeded or failed.
func KeysendPayer(router routerrpc.RouterClient, dest []byte,
	amtMsat int64) PayFunc {

	return func(ctx context.Context, _ int) error {
		var preimage [32]byte
		if _, err := rand.Read(preimage[:]); err != nil {
			return fmt.Errorf("keysend preimage: %w", err)
		}
		hash := sha256.Sum256(preimage[:])
		_, err := SendPayment(ctx, router, &routerrpc.SendPaymentRequest{
			Dest:        dest,
			AmtMsat:     amtMsat,
			PaymentHash: hash[:],
			DestCustomRecords: map[uint64][]byte{
				record.KeySendType: preimage[:],
			},
			TimeoutSeconds:    60,
			FeeLimitMsat:      amtMsat,
			NoInflightUpdates: true,
		})
		return err
	}
}

// ErrPaymentFailed is returned by SendPayment when lnd reports the payment
// failed.
var ErrPaymentFailed = errors.New("payment failed")

// SendPayment sends req with SendPaymentV2 and waits for the final state.
// It returns the payment when it succeeded, and ErrPaymentFailed naming
// lnd's reason when it failed.
func SendPayment(ctx context.Context, router routerrpc.RouterClient,
	req *routerrpc.SendPaymentRequest) (*lnrpc.Payment, error) {

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := router.SendPaymentV2(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("SendPaymentV2: %w", err)
	}
	for {
		p, err := stream.Recv()
		if err != nil {
			return nil, fmt.Errorf("SendPaymentV2 %x: %w",
				req.PaymentHash, err)
		}
		switch p.Status {
		case lnrpc.Payment_SUCCEEDED:
			return p, nil
		case lnrpc.Payment_FAILED:
			return p, fmt.Errorf("%w: %s: %s", ErrPaymentFailed,
				p.PaymentHash, p.FailureReason)
		}
	}
}

// KeysendBaseline measures raw lnd keysend throughput from the network's
// hub to provider1, 1-sat payments, at each concurrency. It is the figure
// Sluice's payouts are compared with.
func KeysendBaseline(ctx context.Context, p *devnet.Profile,
	concurrencies []int, lim Limits) ([]Level, error) {

	hub, err := p.Hub()
	if err != nil {
		return nil, err
	}
	provider, err := p.Node(devnet.NodeProvider1)
	if err != nil {
		return nil, err
	}
	dest, err := hex.DecodeString(provider.PubKey)
	if err != nil {
		return nil, fmt.Errorf("provider1 pubkey %q: %w",
			provider.PubKey, err)
	}
	conn, err := hub.Dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	pay := KeysendPayer(
		routerrpc.NewRouterClient(conn), dest, KeysendBaselineMsat,
	)

	// One payment first, so the first level does not pay for the
	// connection and the first path finding.
	if err := pay(ctx, -1); err != nil {
		return nil, fmt.Errorf("keysend baseline warm-up: %w", err)
	}
	return MeasureLevels(ctx, concurrencies, lim, pay)
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's CPU
// times: 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcessCPU returns the CPU time (user and system) the process has used,
// from /proc/<pid>/stat: Linux only.
func ProcessCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu of %d: %w", pid, err)
	}
	// The command name, field 2, is in parentheses and may hold
	// spaces: count the fields after its closing one. utime and stime
	// are fields 14 and 15, so the 12th and 13th after it.
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return 0, fmt.Errorf("cpu of %d: no command name in %q", pid,
			raw)
	}
	fields := strings.Fields(string(raw[end+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("cpu of %d: %d fields", pid, len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("cpu of %d: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// Memory is a process's resident memory, in bytes.
type Memory struct {
	// RSS is resident now (VmRSS): anonymous, file-backed (the
	// binary's pages among them) and shared memory.
	RSS int64

	// Anon is the anonymous part of RSS (RssAnon): the heap and
	// stacks, what the process itself allocated.
	Anon int64

	// Peak is the highest RSS so far (VmHWM).
	Peak int64
}

// ProcessMemory returns the process's resident memory from
// /proc/<pid>/status: Linux only.
func ProcessMemory(pid int) (Memory, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("memory of %d: %w", pid, err)
	}
	// Lines read "VmRSS:\t  12345 kB"; the kernel's kB are KiB.
	field := func(name string) (int64, error) {
		for line := range strings.Lines(string(raw)) {
			rest, ok := strings.CutPrefix(line, name+":")
			if !ok {
				continue
			}
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("memory of %d: %s: %q",
					pid, name, rest)
			}
			kib, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("memory of %d: %s: %w",
					pid, name, err)
			}
			return kib << 10, nil
		}
		// A kernel thread has no memory of its own to show.
		return 0, fmt.Errorf("memory of %d: no %s", pid, name)
	}
	var m Memory
	for _, f := range []struct {
		name string
		to   *int64
	}{{"VmRSS", &m.RSS}, {"RssAnon", &m.Anon}, {"VmHWM", &m.Peak}} {
		if *f.to, err = field(f.name); err != nil {
			return Memory{}, err
		}
	}
	return m, nil
}
