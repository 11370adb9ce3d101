package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/sluice-ln/sluice/rpc/rpcclient"
	"github.com/sluice-ln/sluice/rpc/sluicerpc"
	"github.com/sluice-ln/sluice/settlement"
	"github.com/urfave/cli"
)

// workloadArgs is the workload of `job create`: argv from the arguments
// after the flags, inputs from --input NAME=@PATH. Nil without arguments
// and inputs; inputs without a command are refused. The server checks the
// workload's rules; the size is checked here too, before reading a file
// that could never be sent.
func workloadArgs(argv, inputs []string) (*sluicerpc.Workload, error) {
	if len(argv) == 0 && len(inputs) == 0 {
		return nil, nil
	}
	if len(argv) == 0 {
		return nil, errors.New("--input needs a command to read it: " +
			"sluice job create ... --input NAME=@PATH -- PROG " +
			"[ARGS...]")
	}
	w := &sluicerpc.Workload{Argv: argv, Inputs: map[string][]byte{}}
	size := 0
	for _, a := range argv {
		size += len(a)
	}
	for _, in := range inputs {
		name, path, ok := strings.Cut(in, "=@")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("--input %q: want NAME=@PATH",
				in)
		}
		if _, dup := w.Inputs[name]; dup {
			return nil, fmt.Errorf("--input %s given twice", name)
		}
		content, err := readCapped(rpcclient.CleanPath(path),
			settlement.MaxWorkloadBytes-size-len(name))
		if err != nil {
			return nil, fmt.Errorf("--input %s: %w", name, err)
		}
		size += len(name) + len(content)
		w.Inputs[name] = content
	}
	return w, nil
}

// readCapped reads the file at path, refusing one over room bytes (the
// room the workload has left).
func readCapped(path string, room int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	content, err := io.ReadAll(io.LimitReader(f, int64(room)+1))
	if err != nil {
		return nil, err
	}
	if len(content) > room {
		return nil, fmt.Errorf("%w: %s does not fit: the command, "+
			"its arguments and the inputs may be %d bytes in all",
			settlement.ErrWorkloadTooLarge, path,
			settlement.MaxWorkloadBytes)
	}
	return content, nil
}

// shellWords shows argv as a person would type it.
func shellWords(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`*?;&|<>()") {
			words[i] = strconv.Quote(a)
		}
	}
	return strings.Join(words, " ")
}

// printWorkload prints a job's workload and result rows, if it has them.
func printWorkload(row func(name, format string, args ...any),
	j *sluicerpc.Job) {

	w := j.Workload
	if w == nil {
		return
	}
	row("workload", "%s (%d bytes)", shellWords(w.Argv), w.SizeBytes)
	for _, in := range w.Inputs {
		row("  input", "%s, %d bytes", in.Name, in.SizeBytes)
	}
	r := j.Result
	if r == nil {
		row("result", "none yet")
		return
	}
	row("result", "%s, %d bytes of output%s, sha256 %x", exitText(r),
		r.OutputSizeBytes, truncText(r.Truncated), r.OutputSha256)
}

// exitText says how a run ended.
func exitText(r *sluicerpc.JobResult) string {
	s := fmt.Sprintf("exit %d", r.ExitCode)
	if r.Signal != "" {
		s = "killed by " + r.Signal
	}
	if r.Reason != "" {
		s += " (" + r.Reason + ")"
	}
	return s
}

// truncText marks a truncated output.
func truncText(truncated bool) string {
	if truncated {
		return " (truncated: the hash is of the whole output)"
	}
	return ""
}

var jobOutputCommand = cli.Command{
	Name:      "output",
	Usage:     "fetch what a job's workload printed, checked against its hash",
	ArgsUsage: "JOB_ID",
	Description: `Writes the output of the job's workload to --out, or to stdout,
and prints its SHA-256 (to stderr when the output goes to stdout). The
output is checked against the hash the provider's agent reported; one
that does not match is not written. A truncated output (the agent keeps
the first 1 MiB) cannot be checked: its hash is of the whole output.`,
	Flags: []cli.Flag{
		cli.StringFlag{Name: "out, o", Usage: "write the output to " +
			"this file instead of stdout"},
		jsonFlag,
	},
	Action: jobOutput,
}

func jobOutput(c *cli.Context) error {
	id, err := jobArg(c, "output")
	if err != nil {
		return err
	}
	client, err := newAPIClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := callContext()
	defer cancel()
	resp, err := client.jobs.GetJobOutput(ctx, connect.NewRequest(
		&sluicerpc.GetJobOutputRequest{JobId: id}))
	if err != nil {
		return client.callError("job output", err)
	}
	out, r := resp.Msg.Output, resp.Msg.Result
	sum := sha256.Sum256(out)
	if !r.Truncated && !bytes.Equal(sum[:], r.OutputSha256) {
		return fmt.Errorf("job %s: the output's SHA-256 is %x, the "+
			"result says %x: not written", id, sum,
			r.OutputSha256)
	}
	if wantJSON(c) {
		return printJSON(c.App.Writer, resp.Msg)
	}

	check := "verified"
	if r.Truncated {
		check = "of the whole output; truncated to the first " +
			strconv.Itoa(len(out)) + " bytes, which it cannot check"
	}
	note := fmt.Sprintf("sha256 %s (%s), %s, %d bytes\n",
		hex.EncodeToString(r.OutputSha256), check, exitText(r),
		len(out))
	path := rpcclient.CleanPath(c.String("out"))
	if path == "" {
		if _, err := c.App.Writer.Write(out); err != nil {
			return err
		}
		errw := c.App.ErrWriter
		if errw == nil {
			errw = os.Stderr
		}
		_, err := io.WriteString(errw, note)
		return err
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.App.Writer, "wrote %s\n%s", path, note)
	return err
}
