package settlement

import (
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/lightningnetwork/lnd/routing/route"
)

// FuzzCheckRefundInvoice feeds arbitrary text to the refund invoice check,
// which reads a buyer's input: it must never panic, and whatever it
// accepts must be payable for RefundMinValidity more and not pay the hub.
func FuzzCheckRefundInvoice(f *testing.F) {
	seeds := []string{
		"",
		"lnbcrt1",
		"lnbcrt10u1pjexample",
		"lnbc1pvjluezsp5zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3zyg3" +
			"zyg3zygspp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rq" +
			"wzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8" +
			"g6rfwvs8qun0dfjkxaq9qrsgq357wnc5r2ueh7ck6q93dj32dlqnls" +
			"087fxdwk8qakdyafkq3yap9us6v52vjjsrvywa6rt52cm9r9zqt8r2t" +
			"7mlcwspyetp5h2tztugp9lfyql",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	var hub route.Vertex
	hub[0] = 2
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, payReq string) {
		pr, err := checkRefundInvoice(payReq, "regtest",
			&chaincfg.RegressionNetParams, hub, now)
		if err != nil {
			return
		}
		if pr.Destination == hub {
			t.Fatalf("accepted an invoice paying the hub: %q",
				payReq)
		}
		if pr.ExpiresAt.Sub(now) < RefundMinValidity {
			t.Fatalf("accepted an invoice expiring at %v: %q",
				pr.ExpiresAt, payReq)
		}
	})
}
