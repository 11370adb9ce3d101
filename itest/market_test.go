//go:build itest

package itest

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// onlineLine is provider show's online row: "online:  yes, free ..." or
// "online:  no".
var onlineLine = regexp.MustCompile(`online:\s+(yes|no)`)

// TestMarketServe runs `sluice agent serve` for the devnet's linked
// provider1 against a real sluiced with a short heartbeat timeout:
// `provider show` and `market offers` see it online with its offer; after
// kill -9 of the agent, `provider show` sees it offline once the timeout
// passed, and a dry-run placement finds no provider online. A buyer's job
// created without a provider is placed on it while it is online.
func TestMarketServe(t *testing.T) {
	net := newNetwork(t)
	s := net.newSluiced()
	s.addConf("market", "market.heartbeattimeout=3s")
	s.start()

	files := newProviderFiles(t, "provider1")
	link := s.linkCLI(net.linkArgs("provider1", files)...)
	id := link.Provider.ProviderId
	if _, err := s.cli("--macaroonpath", files.macaroon, "provider",
		"rates", "--cpu", "0.001", "--mem", "0.01"); err != nil {

		t.Fatalf("rates: %v", err)
	}

	args := append(s.cliArgs(), "--macaroonpath", files.macaroon,
		"agent", "serve", "--interval", "1s", "--cores", "1",
		"--mem", "256", "--slots", "2")
	agent := exec.Command(binaries.sluice, args...)
	var out bytes.Buffer
	agent.Stdout, agent.Stderr = &out, &out
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = agent.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = agent.Process.Kill()
		<-exited
	})

	shown := func(want string) func() error {
		return func() error {
			got, err := s.cli("--macaroonpath", files.macaroon,
				"provider", "show")
			if err != nil {
				return err
			}
			m := onlineLine.FindStringSubmatch(got)
			if m == nil || m[1] != want {
				return fmt.Errorf("not %s yet:\n%s\nagent:\n%s",
					want, got, out.String())
			}
			return nil
		}
	}
	eventually(t, 30*time.Second, "the provider online", shown("yes"))

	operator := filepath.Join(s.dir, s.net.profile.Network,
		"operator.macaroon")
	offers, err := s.cli("--macaroonpath", operator, "market", "offers")
	if err != nil {
		t.Fatalf("offers: %v", err)
	}
	for _, want := range []string{id, "yes", "256", "cpu=0.001"} {
		if !bytes.Contains([]byte(offers), []byte(want)) {
			t.Fatalf("offers lack %q:\n%s", want, offers)
		}
	}
	placed, err := s.cli("--macaroonpath", operator, "market", "place",
		"--cpu", "500", "--mem", "128", "--explain")
	if err != nil || !bytes.Contains([]byte(placed),
		[]byte("placed on "+id)) {

		t.Fatalf("place: %v\n%s", err, placed)
	}

	// A buyer's job without a provider is placed on it; a max rate
	// below its card is refused, naming why.
	buyer := s.addBuyer(t, "placed")
	created, err := s.cli("--macaroonpath", buyer, "job", "create",
		"--cpu", "500", "--mem", "128", "--budget", "20000sat",
		"--max-rate", "cpu=0.01", "--explain")
	if err != nil || !bytes.Contains([]byte(created),
		[]byte("placed on provider "+id)) ||
		!bytes.Contains([]byte(created), []byte("taken")) {

		t.Fatalf("job create, placed: %v\n%s", err, created)
	}
	_, err = s.cli("--macaroonpath", buyer, "job", "create", "--cpu",
		"500", "--mem", "128", "--budget", "20000sat", "--max-rate",
		"cpu=0.0001")
	if err == nil || !bytes.Contains([]byte(err.Error()),
		[]byte("max")) {

		t.Fatalf("job create under every rate: %v", err)
	}

	// kill -9: no goodbye; the timeout takes it offline.
	if err := agent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	eventually(t, 30*time.Second, "the provider offline", shown("no"))
	_, err = s.cli("--macaroonpath", operator, "market", "place",
		"--cpu", "500", "--mem", "128")
	if err == nil || !bytes.Contains([]byte(err.Error()),
		[]byte("no provider online")) {

		t.Fatalf("place with the provider offline: %v", err)
	}
}
