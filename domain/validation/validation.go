// Package validation collects the rule violations of one input, so that a
// caller learns about every problem at once rather than one per attempt.
package validation

import (
	"fmt"
	"strings"

	"shop/domain/refusal"
)

// Violation is one broken rule, named by the field it concerns (a path such as
// "items[2].quantity").
type Violation struct {
	Field   string
	Message string
}

// Error is returned when an input breaks one or more rules.
type Error struct {
	Violations []Violation
}

// Is makes invalid input a refusal (refusal.ErrRefused), of kind Invalid.
func (e *Error) Is(target error) bool { return target == refusal.ErrRefused }

func (e *Error) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Errors accumulates violations; the zero value is ready to use.
type Errors struct {
	violations []Violation
}

// Add records a violation of field.
func (e *Errors) Add(field, format string, args ...any) {
	e.violations = append(e.violations, Violation{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err is nil when nothing was added, else an *Error with every violation.
func (e *Errors) Err() error {
	if len(e.violations) == 0 {
		return nil
	}
	return &Error{Violations: e.violations}
}

// SafeID reports whether s can be an id of the API: 1 to max characters,
// letters, digits, '-', '_', '.' and ':', not starting with '.'. An id is
// a path segment of the API (/products/{id}), so a '/' or a ".." would make
// it one the API cannot address.
func SafeID(s string, max int) bool {
	if s == "" || len(s) > max || s[0] == '.' {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// SafeIDRule says what SafeID takes, for a violation's message.
const SafeIDRule = "must be 1 to %d letters, digits, '-', '_', '.' or ':', not starting with '.'"
