package store

import (
	"slices"
	"testing"
)

func TestValuesChunks(t *testing.T) {
	cases := map[int][]int{
		0:    nil,
		1:    {1},
		7:    {7},
		31:   {31},
		32:   {32},
		100:  {64, 32, 4},
		512:  {512},
		700:  {512, 128, 32, 28},
		1030: {512, 512, 6},
	}
	for n, want := range cases {
		got := valuesChunks(n)
		if !slices.Equal(got, want) {
			t.Errorf("valuesChunks(%d) = %v, want %v", n, got, want)
		}
		sum := 0
		for _, s := range got {
			sum += s
		}
		if sum != n {
			t.Errorf("valuesChunks(%d) adds up to %d", n, sum)
		}
	}
}

func TestValuesSQL(t *testing.T) {
	got := valuesSQL(Postgres, "INSERT INTO t (a, b) VALUES ", 2, 2,
		" RETURNING a")
	want := "INSERT INTO t (a, b) VALUES ($1,$2),($3,$4) RETURNING a"
	if got != want {
		t.Errorf("postgres: %q, want %q", got, want)
	}
	got = valuesSQL(SQLite, "INSERT INTO t (a) VALUES ", 1, 3, "")
	if want := "INSERT INTO t (a) VALUES (?),(?),(?)"; got != want {
		t.Errorf("sqlite: %q, want %q", got, want)
	}
}
