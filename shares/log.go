package shares

import "github.com/btcsuite/btclog/v2"

// Subsystem is the logging subsystem of the package.
const Subsystem = "SHRS"

// log is the package's logger; silent until UseLogger.
var log = btclog.Disabled

// UseLogger sets the package's logger.
func UseLogger(logger btclog.Logger) {
	log = logger
}
