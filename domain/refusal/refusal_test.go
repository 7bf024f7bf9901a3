package refusal_test

import (
	"errors"
	"fmt"
	"testing"

	"shop/domain/refusal"
)

func TestARefusalIsToldApartFromAFailureThroughWrapping(t *testing.T) {
	t.Parallel()
	notFound := refusal.New(refusal.NotFound, "thing_not_found", "thing not found")
	conflict := refusal.New(refusal.Conflict, "thing_busy", "thing busy")
	wrapped := fmt.Errorf("cancel: %w: %w", notFound, conflict)
	cases := []struct {
		name    string
		err     error
		refused bool
		kind    refusal.Kind
		code    string
	}{
		{"a refusal", notFound, true, refusal.NotFound, "thing_not_found"},
		{"wrapped, the outermost counts", wrapped, true, refusal.NotFound, "thing_not_found"},
		{"a failure", errors.New("disk on fire"), false, 0, ""},
		{"nothing", nil, false, 0, ""},
	}
	for _, c := range cases {
		r, ok := refusal.Of(c.err)
		if errors.Is(c.err, refusal.ErrRefused) != c.refused || ok != c.refused {
			t.Errorf("%s: refused %v, Of %v, want %v", c.name, errors.Is(c.err, refusal.ErrRefused), ok, c.refused)
			continue
		}
		if ok && (r.Kind != c.kind || r.Code != c.code) {
			t.Errorf("%s: kind %d code %q, want %d %q", c.name, r.Kind, r.Code, c.kind, c.code)
		}
	}
	if !errors.Is(wrapped, conflict) || errors.Is(notFound, conflict) {
		t.Error("a refusal is matched by its own value only")
	}
}
