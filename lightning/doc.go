// Package lightning is the engine's view of lnd and tapd: the narrow
// interfaces the domain packages need, their adapters over lndclient and
// taprpc, and fakes for unit tests.
package lightning
