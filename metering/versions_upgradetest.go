//go:build upgradetest

package metering

// Version 2 adds the time the agent signed a batch (Batch.SentAt), which
// the server stores as the job's last sent-at time. It exists only in
// builds with the upgradetest tag: the newer build of the rolling-upgrade
// test (itest/upgrade_test.go, docs/protocol.md "Batch versions").
func init() {
	versions = append(versions, 2)
}
