package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"

	"github.com/sluice-ln/sluice/devnet"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/urfave/cli"
)

// defaultDevnetDir is the network's directory below the repository root;
// .gitignore lists it.
const defaultDevnetDir = ".devnet"

var (
	devnetDirFlag = cli.StringFlag{
		Name: "dir",
		Usage: "the network's directory, holding all its data " +
			"(default: .devnet under the repository root)",
	}
	devnetRepoFlag = cli.StringFlag{
		Name: "repo",
		Usage: "Sluice's repository root, where devnet/tools pins " +
			"the daemons (default: found from the working directory)",
	}
	devnetBinDirFlag = cli.StringFlag{
		Name: "bindir",
		Usage: "use the btcd, lnd, lncli, tapd and tapcli binaries in " +
			"this directory instead of building them",
		EnvVar: devnet.EnvBinDir,
	}
	devnetCacheDirFlag = cli.StringFlag{
		Name: "cachedir",
		Usage: "where built binaries are cached (default: " +
			"<user cache dir>/sluice/devnet)",
		EnvVar: devnet.EnvCacheDir,
	}
)

var devnetCommand = cli.Command{
	Name:  "devnet",
	Usage: "run a local regtest network of btcd, lnd and tapd",
	Description: "Builds the daemons pinned in devnet/tools (cached after " +
		"the first time) and runs a regtest network on 127.0.0.1: " +
		"btcd, a miner, the hub lnd that sluiced uses, two provider " +
		"nodes (up --providers for up to eight), a buyer node, " +
		"and tapd on the hub and provider1. " +
		"Its profile (ports, certificates, macaroons, pubkeys) is " +
		"written to <dir>/profile.json.",
	Subcommands: []cli.Command{
		{
			Name:  "up",
			Usage: "build the daemons if needed and start the network",
			Flags: []cli.Flag{
				devnetDirFlag, devnetRepoFlag, devnetBinDirFlag,
				devnetCacheDirFlag,
				cli.IntFlag{
					Name: "providers",
					Usage: fmt.Sprintf("how many provider "+
						"nodes, each with a channel "+
						"from the hub (%d to %d; each "+
						"lnd takes about 300 MB)",
						devnet.DefaultProviders,
						devnet.MaxProviders),
					Value: devnet.DefaultProviders,
				},
			},
			Action: devnetUp,
		},
		{
			Name:   "status",
			Usage:  "show which processes of the network run",
			Flags:  []cli.Flag{devnetDirFlag, devnetRepoFlag, jsonFlag},
			Action: devnetStatus,
		},
		{
			Name: "down",
			Usage: "stop every process of the network (and only " +
				"those); --purge also removes its directory",
			Flags: []cli.Flag{
				devnetDirFlag, devnetRepoFlag,
				cli.BoolFlag{
					Name:  "purge",
					Usage: "remove the network's directory",
				},
			},
			Action: devnetDown,
		},
		{
			Name:  "build",
			Usage: "build the pinned daemons into the cache",
			Flags: []cli.Flag{devnetRepoFlag, devnetCacheDirFlag},
			Action: func(c *cli.Context) error {
				ctx, stop := signalContext()
				defer stop()
				bins, err := devnetBinaries(ctx, c)
				if err != nil {
					return err
				}
				fmt.Println(bins.Dir)
				return nil
			},
		},
		devnetRunSluicedCommand,
		devnetDemoCommand,
		devnetTrafficCommand,
	},
}

// signalContext is cancelled by SIGINT or SIGTERM, so an interrupted
// bring-up stops what it started.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(
		context.Background(), os.Interrupt, syscall.SIGTERM,
	)
}

// devnetRepoRoot returns --repo or the repository root above the working
// directory.
func devnetRepoRoot(c *cli.Context) (string, error) {
	if repo := rpcclient.CleanPath(c.String("repo")); repo != "" {
		return devnet.FindRepoRoot(repo)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return devnet.FindRepoRoot(wd)
}

// devnetDir returns --dir or .devnet under the repository root.
func devnetDir(c *cli.Context) (string, error) {
	if dir := rpcclient.CleanPath(c.String("dir")); dir != "" {
		return filepath.Abs(dir)
	}
	root, err := devnetRepoRoot(c)
	if err != nil {
		return "", fmt.Errorf("%w (or give --dir)", err)
	}
	return filepath.Join(root, defaultDevnetDir), nil
}

// devnetBinaries returns --bindir, checked, or builds the pinned daemons
// into the cache.
func devnetBinaries(ctx context.Context, c *cli.Context) (devnet.Binaries,
	error) {

	if dir := rpcclient.CleanPath(c.String("bindir")); dir != "" {
		bins := devnet.Binaries{Dir: dir}
		if err := bins.Check(); err != nil {
			return devnet.Binaries{}, err
		}
		return bins, nil
	}
	root, err := devnetRepoRoot(c)
	if err != nil {
		return devnet.Binaries{}, fmt.Errorf("%w (or give --bindir)",
			err)
	}
	return devnet.Build(ctx, devnet.BuildOptions{
		RepoRoot: root,
		CacheDir: rpcclient.CleanPath(c.String("cachedir")),
		Out:      os.Stdout,
	})
}

func devnetUp(c *cli.Context) error {
	ctx, stop := signalContext()
	defer stop()

	dir, err := devnetDir(c)
	if err != nil {
		return err
	}
	bins, err := devnetBinaries(ctx, c)
	if err != nil {
		return err
	}
	prof, err := devnet.Up(ctx, devnet.Options{
		Dir:       dir,
		Binaries:  bins,
		Out:       os.Stdout,
		Providers: c.Int("providers"),
	})
	if err != nil {
		return err
	}
	printProfile(os.Stdout, prof, bins)
	return nil
}

// printProfile tells the user what runs and how to talk to it.
func printProfile(out io.Writer, p *devnet.Profile, bins devnet.Binaries) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nNODE\tROLE\tRPC\tPUBKEY")
	for _, n := range p.Nodes {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", n.Name, n.Role, n.RPCHost,
			n.PubKey)
		if n.Tapd != nil {
			fmt.Fprintf(w, "%s\ttapd\t%s\t\n", n.Tapd.Name,
				n.Tapd.RPCHost)
		}
	}
	fmt.Fprintf(w, "btcd\tchain backend\t%s\t\n", p.Btcd.RPCHost)
	fmt.Fprintf(w, "miner\tmines to hub\t%s\t\n", p.Miner.RPCHost)
	w.Flush()

	hub, err := p.Hub()
	if err != nil {
		return
	}
	fmt.Fprintf(out, "\nprofile: %s\n", filepath.Join(p.Dir,
		devnet.ProfileName))
	fmt.Fprintf(out, "talk to the hub:\n  %s --network=regtest "+
		"--rpcserver=%s --tlscertpath=%s --macaroonpath=%s getinfo\n",
		bins.Path(devnet.BinLncli), hub.RPCHost, hub.TLSCertPath,
		hub.AdminMacaroonPath)
	fmt.Fprintf(out, "sluiced on this network: data dir %s, listen %s\n",
		p.Sluiced.Dir, p.Sluiced.RPCListen)
	fmt.Fprintf(out, "stop it: sluice devnet down --dir %s\n", p.Dir)
}

func devnetStatus(c *cli.Context) error {
	dir, err := devnetDir(c)
	if err != nil {
		return err
	}
	st, err := devnet.Status(dir)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(st)
	}

	state := "stopped"
	switch {
	case st.Running:
		state = "running"
	case anyRunning(st):
		state = "partly running (run `sluice devnet down`)"
	}
	fmt.Printf("devnet in %s: %s\n", st.Dir, state)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROCESS\tSTATE\tPID\tLOG")
	for _, p := range st.Processes {
		s, pid := "stopped", "-"
		if p.Running {
			s, pid = "running", fmt.Sprint(p.PID)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", p.Name, s, pid, p.LogPath)
	}
	w.Flush()
	if st.Profile != nil {
		fmt.Printf("profile: %s (created %s)\n",
			filepath.Join(st.Dir, devnet.ProfileName),
			st.Profile.CreatedAt.Local().Format("2006-01-02 15:04:05"))
	}
	return nil
}

func anyRunning(st *devnet.NetworkStatus) bool {
	for _, p := range st.Processes {
		if p.Running {
			return true
		}
	}
	return false
}

func devnetDown(c *cli.Context) error {
	dir, err := devnetDir(c)
	if err != nil {
		return err
	}
	return devnet.DownVerbose(dir, c.Bool("purge"), os.Stdout)
}
