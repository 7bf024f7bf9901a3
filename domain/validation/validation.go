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
