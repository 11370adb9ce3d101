// Package agentcli is the provider's agent on the command line: `run`
// starts one command for a job and meters it, `serve` offers the machine's
// capacity and runs the jobs placed on the provider, each in a sandbox.
// Both the sluice command line (as `sluice agent run|serve`) and the slim
// sluice-agent binary (as `sluice-agent run|serve`) are built from it. It
// imports nothing that talks to lnd, tapd or a database, so that the agent
// a provider runs beside its work stays small (docs/market.md, "The
// agent's own cost").
package agentcli
