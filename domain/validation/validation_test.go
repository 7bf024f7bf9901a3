package validation_test

import (
	"strings"
	"testing"

	"shop/domain/validation"
)

func TestSafeIDsAreOnesTheAPICanAddress(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"prod-123": true, "123e4567-e89b-12d3-a456-426614174000": true, "a.b_c:d": true, "X": true,
		"": false, "a/b": false, "../etc": false, ".hidden": false, "a b": false, "naïve": false, "a%2Fb": false,
		strings.Repeat("x", 128): true, strings.Repeat("x", 129): false,
	} {
		if got := validation.SafeID(id, 128); got != want {
			t.Errorf("SafeID(%q) = %v, want %v", id, got, want)
		}
	}
}
