package shares

import "errors"

var (
	// ErrGenesisDone is returned for a genesis when the share asset's
	// group has been minted already, or its genesis is in flight under
	// another name.
	ErrGenesisDone = errors.New("share asset genesis done already")

	// ErrNoGenesis is returned when the share asset has no genesis yet.
	ErrNoGenesis = errors.New("share asset has no genesis")

	// ErrNothingToMint is returned for a genesis while the ledger's
	// share supply is zero: a Taproot Asset cannot be minted with no
	// units.
	ErrNothingToMint = errors.New("no shares to mint: the ledger's " +
		"share supply is zero")

	// ErrNameTaken is returned for a mint whose asset name another mint
	// has used.
	ErrNameTaken = errors.New("share asset name used already")

	// ErrBadName is returned for an asset name tapd would refuse.
	ErrBadName = errors.New("bad share asset name")

	// ErrMintFailed is returned when tapd refused the mint or cancelled
	// its batch; the intent is failed and a genesis may be tried again
	// under another name.
	ErrMintFailed = errors.New("share mint failed")

	// ErrNoEpochOp is returned when no epoch tranche or burn is there
	// to return.
	ErrNoEpochOp = errors.New("no epoch tranche or burn")

	// ErrOpExists is returned for an epoch's tranche or burn when the
	// epoch has one of that kind already, or another one is pending.
	ErrOpExists = errors.New("epoch tranche or burn exists or another " +
		"is pending")

	// ErrBurnFailed is returned when tapd refused an epoch's burn.
	ErrBurnFailed = errors.New("share burn failed")
)
