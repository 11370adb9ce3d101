// Command sluice is the command-line client of sluiced, in the style of
// lncli: global flags name the server, its TLS certificate and a macaroon;
// each subcommand is one API call or one local task; --json prints machine
// output.
package main

import (
	"fmt"
	"os"

	"github.com/sluice-ln/sluice/agent/agentcli"
	"github.com/urfave/cli"
)

func main() {
	app := cli.NewApp()
	app.Name = "sluice"
	app.Usage = "control and query sluiced, and run the local network"
	app.Flags = globalFlags
	app.Commands = []cli.Command{
		getInfoCommand,
		providerCommand,
		jobCommand,
		operatorCommand,
		vaultCommand,
		yieldCommand,
		sharesCommand,
		leaseCommand,
		marketCommand,
		agentcli.Command,
		devnetCommand,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "[sluice] %v\n", err)
		os.Exit(1)
	}
}
