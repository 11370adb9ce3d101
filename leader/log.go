package leader

import "github.com/btcsuite/btclog/v2"

// Subsystem is this package's logging subsystem name.
const Subsystem = "LEAD"

// log is the package logger; it is silent until the daemon sets one.
var log = btclog.Disabled

// UseLogger sets the package logger; the daemon calls it at start.
func UseLogger(logger btclog.Logger) { log = logger }
