// Package readmodel holds the rule every projection follows: a view keeps the
// version of the last event it applied, applies only the next one, ignores
// repeats, and refuses to skip ahead.
package readmodel

import (
	"fmt"

	"shop/app/fault"
)

// ErrVersionGap is returned when an event arrives before its predecessor: it
// is retried until the earlier event has been applied, never applied out of order.
var ErrVersionGap = fmt.Errorf("%w: read model is behind", fault.ErrEarly)

// ShouldApply decides about the event with the given version for a view at
// version stored (0 when the view does not exist): true to apply it, false for
// an event already applied, ErrVersionGap when events are missing in between.
func ShouldApply(stored, version int) (bool, error) {
	switch {
	case version == stored+1:
		return true, nil
	case version <= stored:
		return false, nil
	default:
		return false, fmt.Errorf("%w: view at version %d, event has version %d", ErrVersionGap, stored, version)
	}
}
