package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
	"github.com/sluice-ln/sluice/rpc"
	"github.com/sluice-ln/sluice/store"
)

// TestValidateDebugLevel checks lnd's --debuglevel syntax against
// Sluice's subsystems.
func TestValidateDebugLevel(t *testing.T) {
	tests := []struct {
		level string
		// wantErr is a fragment of the error; empty for valid input.
		wantErr string
	}{
		{"info", ""},
		{"trace", ""},
		{"off", ""},
		{ledger.Subsystem + "=debug", ""},
		{ledger.Subsystem + "=debug," + store.Subsystem + "=trace", ""},
		{"warn," + rpc.Subsystem + "=debug", ""},
		{Subsystem + "=critical,LNDC=error", ""},
		{"", "invalid"},
		{"loud", "loud"},
		{"INFO", "INFO"},
		{"ldgr=debug", "ldgr"},
		{"NOPE=debug", "NOPE"},
		{ledger.Subsystem + "=loud", "loud"},
		{ledger.Subsystem, ledger.Subsystem},
		{ledger.Subsystem + "=debug=trace", "format"},
		{"info,debug", "debug"},
	}
	for _, tc := range tests {
		err := ValidateDebugLevel(tc.level)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("ValidateDebugLevel(%q) = %v, want nil",
				tc.level, err)

		case tc.wantErr != "" && err == nil:
			t.Errorf("ValidateDebugLevel(%q) = nil, want an error",
				tc.level)

		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("ValidateDebugLevel(%q) = %v, want it to "+
				"mention %q", tc.level, err, tc.wantErr)
		}
	}
}

// TestSubsystemNames checks that every Sluice package logger is
// registered, and that the unknown-subsystem error lists them.
func TestSubsystemNames(t *testing.T) {
	names := strings.Join(SubsystemNames(), " ")
	for _, want := range []string{
		Subsystem, ledger.Subsystem, store.Subsystem, rpc.Subsystem,
		"LNDC",
	} {
		if !strings.Contains(names, want) {
			t.Errorf("SubsystemNames() = %s, missing %s", names,
				want)
		}
	}

	err := ValidateDebugLevel("NOPE=debug")
	if err == nil || !strings.Contains(err.Error(), ledger.Subsystem) {
		t.Errorf("unknown subsystem error %v does not list %s", err,
			ledger.Subsystem)
	}
}

// TestSetupLogging checks that levels apply per subsystem and that lines
// reach both the console and the log file.
func TestSetupLogging(t *testing.T) {
	dir := t.TempDir()
	cfg, err := LoadConfig([]string{
		"--datadir", dir,
		"--debuglevel", "warn," + Subsystem + "=debug",
	})
	if err != nil {
		t.Fatal(err)
	}

	var console bytes.Buffer
	logs, err := setupLogging(cfg, &console, func() {})
	if err != nil {
		t.Fatalf("setupLogging: %v", err)
	}
	log.Debugf("daemon debug line")
	ledgerLog := logs.manager.SubLoggers()[ledger.Subsystem]
	if ledgerLog == nil {
		t.Fatalf("no %s logger", ledger.Subsystem)
	}
	ledgerLog.Infof("ledger info line")
	ledgerLog.Warnf("ledger warn line")
	if err := logs.close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	// After close the package logger is disabled: this must not appear.
	log.Infof("after close")

	out := console.String()
	if !strings.Contains(out, "daemon debug line") {
		t.Errorf("console lacks the daemon's debug line:\n%s", out)
	}
	if !strings.Contains(out, ledger.Subsystem+": ledger warn line") {
		t.Errorf("console lacks the ledger's warn line:\n%s", out)
	}
	if strings.Contains(out, "ledger info line") {
		t.Errorf("console has the ledger's info line below its "+
			"level:\n%s", out)
	}
	if strings.Contains(out, "after close") {
		t.Errorf("console has a line logged after close:\n%s", out)
	}

	file, err := os.ReadFile(filepath.Join(dir, "logs", "regtest",
		"sluiced.log"))
	if err != nil {
		t.Fatalf("log file: %v", err)
	}
	if !strings.Contains(string(file), "daemon debug line") {
		t.Errorf("log file lacks the daemon's debug line:\n%s", file)
	}
}

// TestLogFileRotates checks that the log file rolls over at its size limit
// and keeps the rolled file.
func TestLogFileRotates(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "sluiced.log")
	f, err := openLogFile(path, 1, 3)
	if err != nil {
		t.Fatalf("openLogFile: %v", err)
	}
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for i := 0; i < 1100; i++ {
		if _, err := f.Write(line); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n, err := f.Write(line); err != nil || n != len(line) {
		t.Errorf("Write after Close = %d, %v; want dropped quietly",
			n, err)
	}

	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("log dir holds %v, want the log and a rolled file",
			names)
	}
}
