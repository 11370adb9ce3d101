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

// The withdrawals' errors: each bad input its own.
var (
	// ErrBadWithdrawAddress is returned for a withdrawal address that
	// is not a Taproot Asset address.
	ErrBadWithdrawAddress = errors.New("not a Taproot Asset address")

	// ErrAddrWrongNetwork is returned for a withdrawal address of
	// another network than the hub's.
	ErrAddrWrongNetwork = errors.New("the address is for another " +
		"network than the hub's")

	// ErrAddrNotGroup is returned for a withdrawal address that is not
	// a V2 group key address: withdrawals are sent by the share
	// group's key, whichever tranche they come from.
	ErrAddrNotGroup = errors.New("not a V2 group key address")

	// ErrAddrWrongAsset is returned for a withdrawal address of another
	// asset group than the share asset's.
	ErrAddrWrongAsset = errors.New("the address is for another asset " +
		"group than the share asset's")

	// ErrAddrHasAmount is returned for a withdrawal address that fixes
	// its amount: withdrawals need one that leaves it to the sender
	// and may be used again.
	ErrAddrHasAmount = errors.New("the address fixes an amount; make " +
		"one without")

	// ErrNoWithdrawAddress is returned for a withdrawal by a provider
	// that registered no withdrawal address.
	ErrNoWithdrawAddress = errors.New("no withdrawal address " +
		"registered")

	// ErrBadAmount is returned for a withdrawal of zero or fewer units.
	ErrBadAmount = errors.New("a withdrawal must be of one unit or " +
		"more")

	// ErrAboveCustody is returned for a withdrawal of more units than
	// the provider holds in the hub's custody (unlocked).
	ErrAboveCustody = errors.New("withdrawal above the shares in " +
		"custody")

	// ErrBadKey is returned for an idempotency key longer than
	// MaxKeyLen.
	ErrBadKey = errors.New("bad idempotency key")

	// ErrWithdrawalNotFound is returned when no withdrawal has the id
	// or key asked for.
	ErrWithdrawalNotFound = errors.New("withdrawal not found")

	// ErrWithdrawFailed is returned for a round whose asset send tapd
	// refused: its withdrawals' shares are back in custody.
	ErrWithdrawFailed = errors.New("withdrawal send failed")
)
