package readmodel_test

import (
	"errors"
	"testing"

	"shop/app/fault"
	"shop/app/readmodel"
)

func TestShouldApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		stored, version int
		apply           bool
		gap             bool
	}{
		{0, 1, true, false},
		{3, 4, true, false},
		{4, 4, false, false},
		{5, 4, false, false},
		{0, 2, false, true},
		{3, 5, false, true},
	}
	for _, tt := range tests {
		apply, err := readmodel.ShouldApply(tt.stored, tt.version)
		// A gap waits for its predecessor: transient, never poisoned.
		if apply != tt.apply || errors.Is(err, readmodel.ErrVersionGap) != tt.gap || fault.IsTransient(err) != tt.gap {
			t.Errorf("ShouldApply(%d, %d) = %v, %v", tt.stored, tt.version, apply, err)
		}
	}
}
