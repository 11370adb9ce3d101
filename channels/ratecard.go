package channels

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/sluice-ln/sluice/ledger"
)

// Resource names a metered resource. The agent meters, and a job's spec
// and a provider's rate card price, exactly these.
type Resource string

const (
	// ResourceCPU is CPU time, counted in core-milliseconds: one core
	// busy for one millisecond. Its rate is msat per core-millisecond.
	ResourceCPU Resource = "cpu"

	// ResourceMem is memory held, counted in MiB-seconds: one MiB
	// resident for one second. Its rate is msat per MiB-second.
	ResourceMem Resource = "mem"
)

// Resources are every resource a rate card may price, in display order.
var Resources = []Resource{ResourceCPU, ResourceMem}

// Unit is the unit a resource is counted in, for messages and the CLI.
func (r Resource) Unit() string {
	switch r {
	case ResourceCPU:
		return "core-millisecond"
	case ResourceMem:
		return "MiB-second"
	default:
		return "unit"
	}
}

// ParseResource returns the resource named s, or ErrUnknownResource.
func ParseResource(s string) (Resource, error) {
	r := Resource(s)
	if !slices.Contains(Resources, r) {
		return "", fmt.Errorf("%w: %q (known: %s)", ErrUnknownResource,
			s, resourceList())
	}
	return r, nil
}

// resourceList is the known resources, comma separated.
func resourceList() string {
	names := make([]string, len(Resources))
	for i, r := range Resources {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// RateCard is a provider's prices: millisatoshi per unit of each resource
// (see Resource for the units). A resource missing from the card is not
// offered. Jobs copy the card as it stands when they are created.
type RateCard map[Resource]ledger.Rate

// ParseRateCard reads a rate card from resource names to decimal strings,
// as the API and the store carry it. Each mistake has its own error:
// ErrUnknownResource, ErrMalformedRate, ErrNegativeRate, ErrRateTooPrecise;
// the message names the resource. An empty map is an empty card.
func ParseRateCard(in map[string]string) (RateCard, error) {
	card := make(RateCard, len(in))

	// Sorted, so that the same bad card always gives the same error.
	for _, name := range slices.Sorted(maps.Keys(in)) {
		res, err := ParseResource(name)
		if err != nil {
			return nil, fmt.Errorf("rate card: %w", err)
		}
		rate, err := ParseRateValue(in[name])
		if err != nil {
			return nil, fmt.Errorf("rate card: %s: %w", name, err)
		}
		card[res] = rate
	}
	return card, nil
}

// maxRateText bounds the text of one rate.
const maxRateText = 64

// ParseRateValue reads one rate: a plain decimal such as "2", "0.5" or
// "0.000125" msat per unit. A sign, an exponent or any other character is
// ErrMalformedRate, except a leading minus on an otherwise good number,
// which is ErrNegativeRate; more than ledger.MaxRateDecimals decimal places
// (trailing zeros aside) is ErrRateTooPrecise.
func ParseRateValue(s string) (ledger.Rate, error) {
	if len(s) > maxRateText {
		return ledger.Rate{}, fmt.Errorf("%w: %d characters, at most %d",
			ErrMalformedRate, len(s), maxRateText)
	}
	body, negative := strings.CutPrefix(s, "-")
	whole, frac, hasPoint := strings.Cut(body, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) ||
		hasPoint && frac == "" {

		return ledger.Rate{}, fmt.Errorf("%w: %q is not a plain "+
			"decimal like 0.5", ErrMalformedRate, s)
	}
	if negative && strings.Trim(whole+frac, "0") != "" {
		return ledger.Rate{}, fmt.Errorf("%w: %s msat per unit",
			ErrNegativeRate, s)
	}
	if places := len(strings.TrimRight(frac, "0")); places >
		ledger.MaxRateDecimals {

		return ledger.Rate{}, fmt.Errorf("%w: %s has %d, at most %d",
			ErrRateTooPrecise, s, places, ledger.MaxRateDecimals)
	}

	rate, err := ledger.ParseRate(strings.TrimPrefix(body, "-"))
	if err != nil {
		return ledger.Rate{}, fmt.Errorf("%w: %w", ErrMalformedRate, err)
	}
	return rate, nil
}

// allDigits reports whether s holds only ASCII digits (true for "").
func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Strings is the card as resource names to decimal strings.
func (c RateCard) Strings() map[string]string {
	out := make(map[string]string, len(c))
	for res, rate := range c {
		out[string(res)] = rate.String()
	}
	return out
}
