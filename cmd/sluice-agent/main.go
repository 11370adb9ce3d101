// Command sluice-agent is the provider's agent alone: `sluice-agent serve`
// offers the machine's capacity to sluiced and runs the jobs placed on it,
// `sluice-agent run` meters one command for a job. It is `sluice agent`
// without the rest of the command line, so that what runs beside a
// provider's work links only what the agent needs.
package main

import (
	"fmt"
	"os"

	"github.com/sluice-ln/sluice/agent/agentcli"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/urfave/cli"
)

func main() {
	app := cli.NewApp()
	app.Name = "sluice-agent"
	app.Usage = "the provider's agent: offer capacity and run placed " +
		"jobs, or meter one command"
	app.Flags = rpcclient.Flags
	app.Commands = []cli.Command{agentcli.RunCommand, agentcli.ServeCommand}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "[sluice-agent] %v\n", err)
		os.Exit(1)
	}
}
