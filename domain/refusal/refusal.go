// Package refusal is the one classification of the errors that say no: the
// input or the current state refuses what was asked, as opposed to a failure
// (a bug, a dependency down). The domain and the use cases declare their
// refusals with it; HTTP answers each with the status of its kind and its
// code, and the metrics count it as refused, without either listing them.
package refusal

import "errors"

// Kind is how a refusal is answered.
type Kind int

const (
	// Invalid input (422).
	Invalid Kind = iota + 1
	// NotFound: what the request names does not exist (404).
	NotFound
	// Conflict with the current state (409).
	Conflict
)

// ErrRefused matches every refusal: errors.Is(err, refusal.ErrRefused).
var ErrRefused = errors.New("refused")

// Error is a refusal of a kind, with a code that clients can match.
type Error struct {
	Kind    Kind
	Code    string
	Message string
}

// New declares a refusal; compare with errors.Is against the value.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

func (e *Error) Error() string { return e.Message }

// Is makes every refusal match ErrRefused.
func (e *Error) Is(target error) bool { return target == ErrRefused }

// Of returns the refusal err carries, the outermost where it wraps several.
func Of(err error) (*Error, bool) {
	var r *Error
	ok := errors.As(err, &r)
	return r, ok
}
