// Command sluiced is Sluice's settlement daemon. main only reads the
// configuration, runs the daemon until SIGINT or SIGTERM and turns the
// outcome into an exit code; everything else is in package daemon.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/sluice-ln/sluice/daemon"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run is main with the arguments given and the exit code returned.
func run(args []string) int {
	cfg, err := daemon.LoadConfig(args)
	switch {
	case errors.Is(err, daemon.ErrHelpRequested):
		help := strings.TrimPrefix(
			err.Error(), daemon.ErrHelpRequested.Error(),
		)
		fmt.Println(strings.TrimSpace(help))
		return 0

	case errors.Is(err, daemon.ErrVersionRequested):
		fmt.Println("sluiced version", daemon.VersionString())
		return 0

	case err != nil:
		fmt.Fprintf(os.Stderr, "sluiced: %v\n", err)
		return 1
	}

	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sluiced: cpuprofile: %v\n", err)
			return 1
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "sluiced: cpuprofile: %v\n", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}

	ctx, stop := signal.NotifyContext(
		context.Background(), os.Interrupt, syscall.SIGTERM,
	)
	defer stop()

	d, err := daemon.New(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sluiced: %v\n", err)
		return 1
	}
	if err := d.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "sluiced: %v\n", err)
		return 1
	}

	return 0
}
