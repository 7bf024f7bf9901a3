// Package architecture_test checks that the code's dependencies point
// inward: the domain knows nothing else, the use cases know only the domain,
// the adapters do not reach the bus wiring, and only cmd/shop reaches the
// composition root, tests included.
package architecture_test

import (
	"errors"
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

const module = "shop"

// rule says which of the module's packages a layer's code may import,
// tests included: a test that reaches outward ties the layer to it as much
// as its code does.
type rule struct {
	layer   string   // a package path prefix within the module
	allowed []string // package path prefixes it may import
	// thirdParty says whether packages outside the module and the standard
	// library may be imported.
	thirdParty bool
}

var rules = []rule{
	{layer: "domain/", allowed: []string{"domain/"}},
	{layer: "app/", allowed: []string{"domain/", "app/"}, thirdParty: true},
	// The bus wiring: the use cases it delivers to, the log context that
	// names a message on every line logged about it, and the tracing that
	// carries a message's trace across the bus.
	{layer: "cqrs/", allowed: []string{"domain/", "app/", "cqrs/", "infrastructure/logging", "infrastructure/tracing"}, thirdParty: true},
	{layer: "cqrs/metadata", allowed: nil},
	{layer: "infrastructure/", allowed: []string{"domain/", "app/", "cqrs/metadata", "infrastructure/"}, thirdParty: true},
	// The driving adapters reach the use cases; the load generator also
	// reads the bus (cqrs). cmd/shop hands them what the composition root
	// built.
	{layer: "ports/", allowed: []string{"domain/", "app/", "cqrs", "ports/"}, thirdParty: true},
	// The composition root builds everything but the command.
	{layer: "service/", allowed: []string{"domain/", "app/", "cqrs/", "infrastructure/", "ports/", "service/"}, thirdParty: true},
}

// testOnly lists what tests of a layer may import besides its rule: the use
// cases and the ports are tested on the memory adapters, and the adapters'
// tests build routers and subscribers with cqrs. The command line's tests,
// which drive the real system, live with cmd/shop.
var testOnly = map[string][]string{
	"app/":            {"infrastructure/memory"},
	"infrastructure/": {"cqrs"},
	"ports/":          {"infrastructure/memory"},
	"cqrs/":           {"infrastructure/memory"},
}

func TestDependenciesPointInward(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin") {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel) + "/"
		r, ok := ruleOf(rel)
		if !ok {
			return nil
		}
		pkg, err := build.ImportDir(path, build.ImportComment)
		if err != nil {
			var none *build.NoGoError
			if errors.As(err, &none) {
				return nil
			}
			return err
		}
		checked++
		check := func(imports []string, extra []string) {
			for _, imp := range imports {
				if why := refused(r, extra, imp); why != "" {
					t.Errorf("%s imports %s: %s", rel, imp, why)
				}
			}
		}
		check(pkg.Imports, nil)
		check(append(pkg.TestImports, pkg.XTestImports...), testOnly[r.layer])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("only %d packages checked: the walk missed the module", checked)
	}
}

func ruleOf(rel string) (rule, bool) {
	var best rule
	found := false
	for _, r := range rules {
		if strings.HasPrefix(rel, r.layer) && len(r.layer) > len(best.layer) {
			best, found = r, true
		}
	}
	return best, found
}

func refused(r rule, extra []string, imp string) string {
	inModule := imp == module || strings.HasPrefix(imp, module+"/")
	if !inModule {
		if isStandard(imp) || r.thirdParty {
			return ""
		}
		return "this layer imports the standard library only"
	}
	path := strings.TrimPrefix(imp, module+"/") + "/"
	for _, a := range append(append([]string{}, r.allowed...), extra...) {
		if strings.HasPrefix(path, strings.TrimSuffix(a, "/")+"/") {
			return ""
		}
	}
	return "outward of " + strings.TrimSuffix(r.layer, "/")
}

// isStandard: the standard library's paths have no dot in their first
// element.
func isStandard(imp string) bool {
	first, _, _ := strings.Cut(imp, "/")
	return !strings.Contains(first, ".")
}
