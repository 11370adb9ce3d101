package keyfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		write   func(string, []byte) error
		path    string
		wantErr bool
	}{
		{"new file", Write, filepath.Join(dir, "a.key"), false},
		{"replaces", Write, filepath.Join(dir, "a.key"), false},
		{"missing dir", Write, filepath.Join(dir, "no", "b.key"), true},
		{"WriteAll makes the dir", WriteAll,
			filepath.Join(dir, "sub", "c.key"), false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte{byte(i), 0xfe, 0x01}
			err := tc.write(tc.path, data)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read %x, wrote %x", got, data)
			}
			fi, err := os.Stat(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
	left, err := filepath.Glob(filepath.Join(dir, "*.tmp*"))
	if err != nil || len(left) != 0 {
		t.Fatalf("temporary files left: %v %v", left, err)
	}
}
