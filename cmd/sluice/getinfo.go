package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/urfave/cli"
)

var getInfoCommand = cli.Command{
	Name: "getinfo",
	Usage: "show what sluiced is running: version, network, hub node, " +
		"database, uptime",
	Description: "Calls GetInfo with the macaroon given by --macaroonpath " +
		"(default: the operator's) and prints a summary, or the answer " +
		"as JSON with --json.",
	Flags:  []cli.Flag{jsonFlag},
	Action: getInfo,
}

func getInfo(c *cli.Context) error {
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()

	resp, err := client.sluice.GetInfo(
		ctx, connect.NewRequest(&sluicerpc.GetInfoRequest{}),
	)
	if err != nil {
		return client.callError("getinfo", err)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}
	return printInfo(c.App.Writer, resp.Msg)
}

// printInfo prints GetInfo's answer for a person.
func printInfo(out io.Writer, info *sluicerpc.GetInfoResponse) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(name, value string) {
		if value == "" {
			value = "-"
		}
		fmt.Fprintf(w, "%s:\t%s\n", name, value)
	}
	row("version", info.Version)
	row("network", info.Network)
	row("hub pubkey", hex.EncodeToString(info.HubPubkey))
	row("db backend", info.DbBackend)
	if info.StartTime != nil {
		uptime := time.Duration(info.UptimeSeconds) * time.Second
		row("started", fmt.Sprintf("%s (up %s)",
			info.StartTime.AsTime().Local().Format(time.RFC3339),
			uptime))
	}
	if info.LeaderRole != "" {
		lead := info.LeaderRole
		switch {
		case info.LeaderToken != 0:
			lead += fmt.Sprintf(" (token %d)", info.LeaderToken)
		case info.LeaderAddress != "":
			lead += " of " + info.LeaderAddress
		}
		row("leader role", lead)
	}
	role := info.Role
	if info.ProviderId != "" {
		role += " for provider " + info.ProviderId
	}
	if info.BuyerId != "" {
		role += " for buyer " + info.BuyerId
	}
	row("macaroon role", role)
	return w.Flush()
}
