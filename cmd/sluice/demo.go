package main

import (
	"fmt"
	"os"
	"time"

	"github.com/sluice-ln/sluice/demo"
	"github.com/urfave/cli"
)

// devnetDemoCommand is what `make run` runs: the whole story on the local
// network (package demo).
var devnetDemoCommand = cli.Command{
	Name:  "demo",
	Usage: "play the main story on the local network, live",
	Description: "Brings the network up unless it runs in --dir, starts " +
		"sluiced on its hub (SQLite store) unless one answers there, " +
		"links provider1 (its lnd signs the challenge), adds a buyer, " +
		"creates a job the buyer node pays, runs `sluice agent run` " +
		"on a CPU-bound command for --work while payouts stream to " +
		"provider1 every second, ends the job, refunds the buyer; " +
		"then the reward shares go on tapd: the share asset's " +
		"genesis at the first rewarded epoch, a tranche per epoch " +
		"after it, provider1's shares withdrawn to its own tapd and " +
		"its reward verified against the chain. It prints the " +
		"books: balanced, reconciled with the hub's lnd, and tapd's " +
		"share supply the ledger's. A sluiced it started (with " +
		"reward epochs of a quarter of --work) is stopped at the end " +
		"(--keep-sluiced leaves it running); the network keeps " +
		"running until `make devnet-down`.",
	Flags: []cli.Flag{
		devnetDirFlag, devnetRepoFlag, devnetBinDirFlag,
		devnetCacheDirFlag, devnetSluicedFlag,
		cli.DurationFlag{
			Name:  "work",
			Value: demo.DefaultWork,
			Usage: "how long the agent's command runs",
		},
		cli.IntFlag{
			Name:  "platformfee",
			Value: demo.DefaultPlatformFee,
			Usage: "the platform's fee in basis points, for a " +
				"sluiced the demo starts (-1: none)",
		},
		cli.BoolFlag{
			Name: "keep-sluiced",
			Usage: "leave the sluiced the demo started running " +
				"in the background",
		},
	},
	Action: devnetDemo,
}

func devnetDemo(c *cli.Context) error {
	sluiced, err := findSluiced(c.String("sluiced"))
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the sluice binary: %w", err)
	}
	dir, err := devnetDir(c)
	if err != nil {
		return err
	}
	prof, err := ensureNetwork(c, dir)
	if err != nil {
		return err
	}

	ctx, stop := signalContext()
	defer stop()
	start := time.Now()
	sum, runErr := demo.Run(ctx, demo.Config{
		Profile:     prof,
		Sluice:      self,
		Sluiced:     sluiced,
		Work:        c.Duration("work"),
		PlatformFee: c.Int("platformfee"),
		KeepSluiced: c.Bool("keep-sluiced"),
		Out:         os.Stdout,
	})
	var jobID string
	running := false
	if sum != nil {
		sum.Print(os.Stdout)
		jobID, running = sum.JobID, sum.SluicedRunning
	}
	demo.PrintNext(os.Stdout, prof, shortPath(self), jobID, running)
	if runErr != nil {
		return runErr
	}
	if err := sum.Check(); err != nil {
		return err
	}
	fmt.Printf("\nThe story played in %v: the ledger balances and "+
		"reconciles with the hub's lnd, tapd's share supply is the "+
		"ledger's, provider1's tapd holds the shares it withdrew and "+
		"its reward verified.\n",
		time.Since(start).Round(time.Second))
	return nil
}
