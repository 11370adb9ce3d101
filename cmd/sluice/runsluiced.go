package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/urfave/cli"
)

var devnetSluicedFlag = cli.StringFlag{
	Name: "sluiced",
	Usage: "the sluiced binary to run (default: sluiced next to this " +
		"sluice binary, else from PATH)",
}

// devnetRunSluicedCommand is what `make run` runs: the local network and
// sluiced on it, in one command.
var devnetRunSluicedCommand = cli.Command{
	Name: "run-sluiced",
	Usage: "bring the network up unless it runs, then run sluiced on its " +
		"hub in the foreground",
	Description: "Starts the network as `up` does, or reuses the one " +
		"running in --dir, and runs sluiced in the foreground with " +
		"the sluice.conf that `up` wrote for it (the hub's lnd and " +
		"tapd, the embedded SQLite store, data under <dir>/sluiced). " +
		"It prints what runs and how to talk to it first. Ctrl-C " +
		"stops sluiced; the network keeps running until `sluice " +
		"devnet down`.",
	Flags: []cli.Flag{
		devnetDirFlag, devnetRepoFlag, devnetBinDirFlag,
		devnetCacheDirFlag, devnetSluicedFlag,
	},
	Action: devnetRunSluiced,
}

func devnetRunSluiced(c *cli.Context) error {
	sluiced, err := findSluiced(c.String("sluiced"))
	if err != nil {
		return err
	}
	dir, err := devnetDir(c)
	if err != nil {
		return err
	}
	prof, err := ensureNetwork(c, dir)
	if err != nil {
		return err
	}

	// up writes the conf; it is written again only when missing, so a
	// hand-edited one (a debug level, say) is kept.
	conf := prof.Sluiced.ConfigPath
	if _, err := os.Stat(conf); errors.Is(err, os.ErrNotExist) {
		if conf, err = prof.WriteSluicedConf(); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("sluice.conf: %w", err)
	}
	printSluicedUsage(os.Stdout, prof, conf)
	return runForeground(sluiced, "--configfile="+conf)
}

// ensureNetwork returns the profile of the network running in dir, or
// brings one up there when none runs, and prints its nodes.
func ensureNetwork(c *cli.Context, dir string) (*devnet.Profile, error) {
	// Interrupting a bring-up stops what it started; the signal handler
	// is gone before sluiced starts.
	ctx, stop := signalContext()
	defer stop()
	bins, err := devnetBinaries(ctx, c)
	if err != nil {
		return nil, err
	}

	st, err := devnet.Status(dir)
	if err != nil {
		return nil, err
	}
	prof := st.Profile
	if st.Running && prof != nil {
		fmt.Printf("devnet already running in %s; using it\n", dir)
	} else {
		prof, err = devnet.Up(ctx, devnet.Options{
			Dir:      dir,
			Binaries: bins,
			Out:      os.Stdout,
		})
		if err != nil {
			return nil, err
		}
	}
	printProfile(os.Stdout, prof, bins)
	return prof, nil
}

// printSluicedUsage says where sluiced lives and how to talk to it.
func printSluicedUsage(out io.Writer, p *devnet.Profile, conf string) {
	sluice := "sluice"
	if self, err := os.Executable(); err == nil {
		sluice = shortPath(self)
	}
	fmt.Fprintf(out, "\nsluiced on the hub: API %s, data %s, config %s, "+
		"SQLite store\n", p.Sluiced.RPCListen, shortPath(p.Sluiced.Dir),
		shortPath(conf))
	fmt.Fprintf(out, "talk to it (from another terminal):\n  %s "+
		"--rpcserver=%s --sluicedir=%s getinfo\n", sluice,
		p.Sluiced.RPCListen, shortPath(p.Sluiced.Dir))
	fmt.Fprintf(out, "Ctrl-C stops sluiced; the network keeps running "+
		"until `make devnet-down` (or `%s devnet down --dir %s`).\n\n",
		sluice, shortPath(p.Dir))
}

// runForeground runs bin with args on this terminal and returns when it
// exits. SIGINT and SIGTERM sent to this process are passed on, so that
// sluiced shuts down cleanly whichever process the signal reached.
func runForeground(bin string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Stdin = os.Stdin
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-done:
				return
			}
		}
	}()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(bin), err)
	}
	return nil
}

// findSluiced returns the sluiced binary: flag, else next to this binary
// (make build puts both in bin/), else from PATH.
func findSluiced(flag string) (string, error) {
	if path := rpcclient.CleanPath(flag); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("--sluiced: %w", err)
		}
		return path, nil
	}
	if self, err := os.Executable(); err == nil {
		sibling := filepath.Join(filepath.Dir(self), "sluiced")
		if fi, err := os.Stat(sibling); err == nil && !fi.IsDir() {
			return sibling, nil
		}
	}
	path, err := exec.LookPath("sluiced")
	if err != nil {
		return "", fmt.Errorf("sluiced not found next to sluice or in "+
			"PATH (run `make build`, or give --sluiced): %w", err)
	}
	return path, nil
}

// shortPath is path relative to the working directory when it is below
// it, for lines a user copies.
func shortPath(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || rel == ".." || filepath.IsAbs(rel) ||
		len(rel) >= 3 && rel[:3] == ".."+string(filepath.Separator) {

		return path
	}
	return rel
}
