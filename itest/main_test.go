//go:build itest

package itest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/metering"
)

// Environment variables the harness reads.
const (
	// envKeep, when set to 1, keeps every test's network directory,
	// not only those of failed tests.
	envKeep = "SLUICE_ITEST_KEEP"
)

// buildTimeout bounds building the daemons from a cold cache (about 7
// minutes on two cores) and Sluice's own binaries.
const buildTimeout = 30 * time.Minute

// binaries are built once by TestMain and shared by every test.
var binaries struct {
	// daemons are btcd, lnd, lncli, tapd and tapcli.
	daemons devnet.Binaries

	// sluiced, sluice and sluice-agent are built from this tree.
	sluiced string
	sluice  string
	agent   string

	// newerSluiced and newerSluice are built with the upgradetest tag:
	// the "newer build" of TestRollingUpgrade, with one additive
	// migration and usage batch version 2 more.
	newerSluiced string
	newerSluice  string

	// repoRoot is the repository under test.
	repoRoot string
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// runMain builds what the tests run, runs them and removes the temporary
// build directory.
func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()

	tmp, err := os.MkdirTemp("", "sluice-itest-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "itest: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	if err := buildAll(ctx, tmp); err != nil {
		fmt.Fprintf(os.Stderr, "itest: %v\n", err)
		return 1
	}
	return m.Run()
}

// buildAll finds or builds the pinned daemons and builds sluiced and sluice
// from this tree into dir.
func buildAll(ctx context.Context, dir string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root, err := devnet.FindRepoRoot(wd)
	if err != nil {
		return err
	}
	binaries.repoRoot = root

	// $SLUICE_DEVNET_BINDIR names prebuilt daemons; otherwise the
	// pinned ones are built into the cache. Progress goes to stderr: a
	// cold build takes minutes, and go test shows nothing of a package
	// until it ends otherwise.
	binaries.daemons, err = devnet.FindBinaries(ctx, devnet.BuildOptions{
		RepoRoot: root,
		Out:      os.Stderr,
	})
	if err != nil {
		return fmt.Errorf("daemons: %w", err)
	}

	// The binaries take the test binary's own tags (extraTags), so
	// that a libsecp256k1 test run tests a libsecp256k1 sluiced.
	start := time.Now()
	tags := strings.Join(extraTags, ",")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", tags,
		"-o", dir+"/", "./cmd/sluiced", "./cmd/sluice",
		"./cmd/sluice-agent")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build sluiced, sluice and sluice-agent: "+
			"%w\n%s", err, out)
	}
	newer := filepath.Join(dir, "upgradetest")
	cmd = exec.CommandContext(ctx, "go", "build",
		"-tags", strings.Join(append([]string{"upgradetest"},
			extraTags...), ","),
		"-o", newer+"/", "./cmd/sluiced", "./cmd/sluice")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build the upgradetest sluiced and sluice: "+
			"%w\n%s", err, out)
	}
	binaries.newerSluiced = filepath.Join(newer, "sluiced")
	binaries.newerSluice = filepath.Join(newer, "sluice")
	binaries.sluiced = filepath.Join(dir, "sluiced")
	binaries.sluice = filepath.Join(dir, "sluice")
	binaries.agent = filepath.Join(dir, "sluice-agent")
	fmt.Fprintf(os.Stderr, "itest: built sluiced, sluice and sluice-agent "+
		"(and the upgradetest sluiced and sluice) in %s, tags %q, "+
		"usage signatures verified with %s\n",
		time.Since(start).Round(100*time.Millisecond), tags,
		metering.Verifier())
	return nil
}
