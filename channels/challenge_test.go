package channels_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-ln/sluice/channels"
)

// testFields are challenge fields with every value set.
func testFields(t *testing.T) channels.ChallengeFields {
	t.Helper()

	_, hub := keyOf(0x11)
	_, node := keyOf(0x12)
	agentPriv, _ := keyOf(0x13)
	agent, err := channels.ParseAgentKey(
		agentPriv.PubKey().SerializeCompressed()[1:],
	)
	if err != nil {
		t.Fatal(err)
	}
	return channels.ChallengeFields{
		Network: "regtest",
		Hub:     hub,
		Node:    node,
		Agent:   agent,
		Nonce:   strings.Repeat("ab", 32),
		Expires: time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC),
	}
}

// TestChallengeMessage renders the documented format and parses it back.
func TestChallengeMessage(t *testing.T) {
	t.Parallel()

	f := testFields(t)
	msg := f.Message()
	want := "Sluice provider link\n" +
		"By signing this message, the Lightning node below links " +
		"itself to the Sluice hub below as a compute provider and " +
		"authorises the agent key below to sign its usage.\n" +
		"version: 1\n" +
		"service: sluice\n" +
		"network: regtest\n" +
		"hub: " + f.Hub.String() + "\n" +
		"node: " + f.Node.String() + "\n" +
		"agent: " + f.Agent.String() + "\n" +
		"nonce: " + f.Nonce + "\n" +
		"expires: 2026-05-04T10:30:00Z\n"
	if msg != want {
		t.Fatalf("Message =\n%s\nwant\n%s", msg, want)
	}

	got, err := channels.ParseChallengeMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if got != f {
		t.Errorf("ParseChallengeMessage = %+v, want %+v", got, f)
	}
}

// TestParseChallengeMessageRefuses refuses anything but the exact format.
func TestParseChallengeMessageRefuses(t *testing.T) {
	t.Parallel()

	f := testFields(t)
	msg := f.Message()
	tests := []struct {
		name string
		msg  string
	}{
		{"empty", ""},
		{"no final newline", strings.TrimSuffix(msg, "\n")},
		{"extra line", msg + "amount: 1000\n"},
		{"other title", strings.Replace(msg, "Sluice provider link",
			"Sluice link", 1)},
		{"other statement", strings.Replace(msg, "authorises",
			"allows", 1)},
		{"other version", strings.Replace(msg, "version: 1",
			"version: 2", 1)},
		{"other service", strings.Replace(msg, "service: sluice",
			"service: other", 1)},
		{"empty network", strings.Replace(msg, "network: regtest",
			"network: ", 1)},
		{"bad hub", strings.Replace(msg, f.Hub.String(), "02zz", 1)},
		{"bad agent", strings.Replace(msg, f.Agent.String(),
			f.Node.String(), 1)},
		{"upper-case node", strings.Replace(msg, f.Node.String(),
			strings.ToUpper(f.Node.String()), 1)},
		{"short nonce", strings.Replace(msg, f.Nonce, "abcd", 1)},
		{"bad expiry", strings.Replace(msg, "2026-05-04T10:30:00Z",
			"tomorrow", 1)},
		{"expiry in another zone", strings.Replace(msg,
			"2026-05-04T10:30:00Z", "2026-05-04T12:30:00+02:00", 1)},
		{"swapped lines", strings.Replace(strings.Replace(msg,
			"service: sluice\n", "", 1), "network: regtest\n",
			"network: regtest\nservice: sluice\n", 1)},
		{"CRLF", strings.ReplaceAll(msg, "\n", "\r\n")},
	}
	for _, tc := range tests {
		_, err := channels.ParseChallengeMessage(tc.msg)
		if !errors.Is(err, channels.ErrMalformedChallenge) {
			t.Errorf("%s: %v, want ErrMalformedChallenge", tc.name,
				err)
		}
	}
}

// FuzzParseChallengeMessage: no panic, and whatever parses renders back
// to the same text.
func FuzzParseChallengeMessage(f *testing.F) {
	f.Add("Sluice provider link\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, msg string) {
		got, err := channels.ParseChallengeMessage(msg)
		if err != nil {
			return
		}
		if got.Message() != msg {
			t.Fatalf("parsed %q but renders %q", msg, got.Message())
		}
	})
}
