// Package fault classifies failures by what a caller should do about them.
//
// A transient failure (a database, broker, cache or provider that cannot be
// reached, a circuit breaker that is open; a message that arrived before the
// one it builds on) goes away by itself: the work is retried later and never
// given up on while the dependency is down; a message waiting for its
// predecessor waits up to the router's patience, then is set aside. A malformed
// input never gets better: it is set aside at once. Everything else is a
// failure of the work itself, retried a bounded number of times.
package fault

import (
	"errors"
	"fmt"
)

// ErrUnavailable marks a dependency that cannot be reached right now.
var ErrUnavailable = errors.New("dependency unavailable")

// ErrEarly marks work that arrived before what it builds on, such as an event
// before its predecessor: across processes, relays and redeliveries the bus
// does not keep an aggregate's events in order, and the predecessor comes.
var ErrEarly = errors.New("arrived before its predecessor")

// ErrNotAttempted marks a dependency that was not reached at all (a circuit
// breaker open, no server to send to): whatever the call was to do was not
// done, so a write needs no reading back to learn whether it was made.
var ErrNotAttempted = errors.New("not attempted")

// ErrMalformed marks input that can never be processed, however often it is retried.
var ErrMalformed = errors.New("malformed input")

// Unavailable wraps err as a transient failure of the named dependency.
func Unavailable(dependency string, err error) error {
	return &dependencyError{dependency: dependency, err: err}
}

// NotAttempted wraps err as a transient failure of the named dependency,
// which the call never reached (ErrNotAttempted).
func NotAttempted(dependency string, err error) error {
	return &dependencyError{dependency: dependency, err: err, notAttempted: true}
}

type dependencyError struct {
	dependency   string
	err          error
	notAttempted bool
}

func (e *dependencyError) Error() string {
	return fmt.Sprintf("%s unavailable: %v", e.dependency, e.err)
}

func (e *dependencyError) Unwrap() []error {
	if e.notAttempted {
		return []error{ErrUnavailable, ErrNotAttempted, e.err}
	}
	return []error{ErrUnavailable, e.err}
}

// Malformed wraps err as input that can never be processed.
func Malformed(err error) error {
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

// IsTransient reports a failure that goes away by itself: a dependency comes
// back, a predecessor arrives.
func IsTransient(err error) bool { return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrEarly) }

// IsMalformed reports input that retrying cannot fix.
func IsMalformed(err error) bool { return errors.Is(err, ErrMalformed) }
