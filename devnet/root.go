package devnet

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ModulePath is the module path of Sluice's own go.mod; the repository root
// is the directory holding a go.mod that declares it.
const ModulePath = "github.com/sluice-ln/sluice"

// ErrNoRepoRoot is returned when no directory from the starting one up to the
// file system root holds Sluice's go.mod.
var ErrNoRepoRoot = errors.New("sluice repository root not found")

// FindRepoRoot walks up from start (a directory) to the first directory whose
// go.mod declares module ModulePath. Nested modules such as devnet/tools are
// skipped because they declare another path.
func FindRepoRoot(start string) (string, error) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", fmt.Errorf("find repo root from %q: %w", start, err)
	}
	for {
		mod, err := modulePath(filepath.Join(dir, "go.mod"))
		switch {
		case err == nil && mod == ModulePath:
			return dir, nil
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return "", fmt.Errorf("find repo root: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no go.mod with module %s "+
				"in %s or above", ErrNoRepoRoot, ModulePath, start)
		}
		dir = parent
	}
}

// modulePath returns the path named by the module directive of a go.mod.
func modulePath(goMod string) (string, error) {
	f, err := os.Open(goMod)
	if err != nil {
		return "", err
	}
	defer f.Close()

	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok &&
			(rest == "" || rest[0] == ' ' || rest[0] == '\t') {

			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", goMod, err)
	}
	return "", nil
}
