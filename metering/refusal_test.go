package metering

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"testing"

	"github.com/sluice-ln/sluice/ledger"
)

// notRefusals are the exported errors of errors.go that fail a commit
// instead of refusing one batch.
var notRefusals = map[string]bool{
	"ErrIngestClosed": true,
}

// exportedErrors is every exported error of errors.go by name, so that the
// test below can check the values; TestEveryErrorIsClassified fails when
// errors.go declares one this map lacks.
var exportedErrors = map[string]error{
	"ErrMalformed":          ErrMalformed,
	"ErrUnsupportedVersion": ErrUnsupportedVersion,
	"ErrBadSignature":       ErrBadSignature,
	"ErrUnknownJob":         ErrUnknownJob,
	"ErrForeignJob":         ErrForeignJob,
	"ErrJobNotRunning":      ErrJobNotRunning,
	"ErrSeqGap":             ErrSeqGap,
	"ErrSecondNotAfter":     ErrSecondNotAfter,
	"ErrFutureSecond":       ErrFutureSecond,
	"ErrBeforeStart":        ErrBeforeStart,
	"ErrAfterEnd":           ErrAfterEnd,
	"ErrTooManySeconds":     ErrTooManySeconds,
	"ErrOverLimit":          ErrOverLimit,
	"ErrOverflow":           ErrOverflow,
	"ErrConflict":           ErrConflict,
	"ErrInsufficientEscrow": ErrInsufficientEscrow,
	"ErrUnknownResource":    ErrUnknownResource,
	"ErrIngestClosed":       ErrIngestClosed,
}

// TestEveryErrorIsClassified reads errors.go and checks that every exported
// error is made with newRefusal unless notRefusals names it, and that the
// values are recognised as refusals (or not) accordingly, bare and
// wrapped. An error added later with errors.New fails here until it is
// made a refusal or named a fault on purpose.
func TestEveryErrorIsClassified(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.VAR {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !name.IsExported() {
					continue
				}
				found++
				madeBy := ""
				if i < len(vs.Values) {
					if call, ok := vs.Values[i].(*ast.CallExpr); ok {
						madeBy = callName(call.Fun)
					}
				}
				n := name.Name
				switch {
				case notRefusals[n] && madeBy == "newRefusal":
					t.Errorf("%s is listed as a fault but made "+
						"with newRefusal", n)
				case !notRefusals[n] && madeBy != "newRefusal":
					t.Errorf("%s is made with %q: make it with "+
						"newRefusal, or list it in "+
						"notRefusals if it fails a commit",
						n, madeBy)
				}
				v, ok := exportedErrors[n]
				if !ok {
					t.Errorf("%s is missing from exportedErrors",
						n)
					continue
				}
				wrapped := fmt.Errorf("job j seq 3: %w", v)
				for _, e := range []error{v, wrapped} {
					if got := isRefusal(e); got == notRefusals[n] {
						t.Errorf("isRefusal(%v) = %v", e, got)
					}
				}
			}
		}
	}
	if found != len(exportedErrors) {
		t.Errorf("errors.go declares %d exported errors, the test "+
			"knows %d", found, len(exportedErrors))
	}
}

// callName returns the name of the function a call expression calls.
func callName(fun ast.Expr) string {
	switch f := fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return callName(f.X) + "." + f.Sel.Name
	default:
		return ""
	}
}

// TestIsRefusal checks the errors apply sorts: refusals, including the
// ledger errors a corrupt meter brings, refuse one batch; any other error
// (a store fault, a cancelled context, a bare ledger overflow) fails the
// whole commit.
func TestIsRefusal(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"refusal", ErrSeqGap, true},
		{"wrapped refusal", fmt.Errorf("seq 4: %w", ErrConflict), true},
		{"joined with a refusal", errors.Join(errors.New("x"),
			ErrOverLimit), true},
		{"corrupt carry", fmt.Errorf("pricing: %w",
			ledger.ErrInvalidCarry), true},
		{"corrupt fee rate", ledger.ErrInvalidBasisPoints, true},
		{"store fault", errors.New("disk I/O error"), false},
		{"wrapped store fault", fmt.Errorf("load job: %w",
			errors.New("connection reset")), false},
		{"ingest closed", ErrIngestClosed, false},
		{"cancelled", context.Canceled, false},
		{"bare ledger overflow", ledger.ErrOverflow, false},
		{"a look-alike", errors.New(ErrSeqGap.Error()), false},
		{"nil", nil, false},
	}
	for _, tc := range tests {
		if got := isRefusal(tc.err); got != tc.want {
			t.Errorf("%s: isRefusal(%v) = %v, want %v", tc.name,
				tc.err, got, tc.want)
		}
	}
}
