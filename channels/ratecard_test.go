package channels_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluice-ln/sluice/channels"
)

// TestParseRateCard reads good cards and refuses each kind of mistake with
// its own error, naming the resource.
func TestParseRateCard(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		in   map[string]string
		want map[string]string
		err  error
	}{
		{name: "empty", in: map[string]string{},
			want: map[string]string{}},
		{name: "both", in: map[string]string{"cpu": "0.000125",
			"mem": "2"},
			want: map[string]string{"cpu": "0.000125", "mem": "2"}},
		{name: "trailing zeros", in: map[string]string{"cpu": "1.50"},
			want: map[string]string{"cpu": "1.5"}},
		{name: "zero", in: map[string]string{"mem": "0"},
			want: map[string]string{"mem": "0"}},
		{name: "leading point", in: map[string]string{"cpu": ".5"},
			want: map[string]string{"cpu": "0.5"}},
		{name: "18 places", in: map[string]string{
			"cpu": "0." + strings.Repeat("0", 17) + "1"},
			want: map[string]string{
				"cpu": "0." + strings.Repeat("0", 17) + "1"}},
		{name: "19 places with a trailing zero", in: map[string]string{
			"cpu": "0." + strings.Repeat("0", 17) + "10"},
			want: map[string]string{
				"cpu": "0." + strings.Repeat("0", 17) + "1"}},

		{name: "unknown resource", in: map[string]string{"gpu": "1"},
			err: channels.ErrUnknownResource},
		{name: "upper-case resource", in: map[string]string{"CPU": "1"},
			err: channels.ErrUnknownResource},
		{name: "negative", in: map[string]string{"cpu": "-0.5"},
			err: channels.ErrNegativeRate},
		{name: "too precise", in: map[string]string{
			"mem": "0." + strings.Repeat("0", 18) + "1"},
			err: channels.ErrRateTooPrecise},
		{name: "exponent", in: map[string]string{"cpu": "1e-3"},
			err: channels.ErrMalformedRate},
		{name: "plus", in: map[string]string{"cpu": "+1"},
			err: channels.ErrMalformedRate},
		{name: "empty rate", in: map[string]string{"cpu": ""},
			err: channels.ErrMalformedRate},
		{name: "point only", in: map[string]string{"cpu": "."},
			err: channels.ErrMalformedRate},
		{name: "trailing point", in: map[string]string{"cpu": "1."},
			err: channels.ErrMalformedRate},
		{name: "two points", in: map[string]string{"cpu": "1.2.3"},
			err: channels.ErrMalformedRate},
		{name: "unit", in: map[string]string{"cpu": "5msat"},
			err: channels.ErrMalformedRate},
		{name: "huge text", in: map[string]string{
			"cpu": strings.Repeat("1", 65)},
			err: channels.ErrMalformedRate},
	}
	for _, tc := range tests {
		card, err := channels.ParseRateCard(tc.in)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
			}
			for name := range tc.in {
				if err != nil &&
					!strings.Contains(err.Error(), name) {

					t.Errorf("%s: %v does not name %q",
						tc.name, err, name)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got := card.Strings()
		if len(got) != len(tc.want) {
			t.Errorf("%s: card %v, want %v", tc.name, got, tc.want)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tc.name, k,
					got[k], v)
			}
		}
	}
}

// TestResourceUnits names the unit of each resource, as the metering
// engineer and docs/providers.md use them.
func TestResourceUnits(t *testing.T) {
	t.Parallel()

	want := map[channels.Resource]string{
		channels.ResourceCPU: "core-millisecond",
		channels.ResourceMem: "MiB-second",
	}
	if len(channels.Resources) != len(want) {
		t.Fatalf("Resources = %v", channels.Resources)
	}
	for _, r := range channels.Resources {
		if r.Unit() != want[r] {
			t.Errorf("%s.Unit() = %q, want %q", r, r.Unit(), want[r])
		}
		if got, err := channels.ParseResource(string(r)); err != nil ||
			got != r {

			t.Errorf("ParseResource(%s) = %v, %v", r, got, err)
		}
	}
}

// FuzzParseRateValue: no panic; a rate that parses renders to a rate that
// parses to the same value.
func FuzzParseRateValue(f *testing.F) {
	for _, s := range []string{"0", "1.5", "-1", "0.000125", "1e3", "."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := channels.ParseRateValue(s)
		if err != nil {
			return
		}
		again, err := channels.ParseRateValue(r.String())
		if err != nil || !again.Decimal().Equal(r.Decimal()) {
			t.Fatalf("%q parsed to %v, which reparses to %v, %v", s,
				r, again, err)
		}
	})
}
