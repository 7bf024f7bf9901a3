// Package operations holds the operators' use cases: the archive of dead
// letters and their replay, the replay of stored events, and the rebuild of
// read models. The command line and the admin HTTP API drive them.
package operations

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"shop/domain/refusal"
)

// Status is where a dead letter stands.
type Status struct{ s string }

var (
	// StatusFailed: a handler gave up on the message; it waits for an operator.
	StatusFailed = Status{"failed"}
	// StatusReplayed: the message was published again; if it fails again it
	// comes back as failed, with its replay count.
	StatusReplayed = Status{"replayed"}
	// StatusDiscarded: an operator decided the message needs no handling.
	StatusDiscarded = Status{"discarded"}
	// StatusQuarantined: replayed too often; it is not replayed again until
	// an operator looks at it.
	StatusQuarantined = Status{"quarantined"}
)

// StatusFromString reads a status as operators spell it.
func StatusFromString(s string) (Status, error) {
	for _, st := range []Status{StatusFailed, StatusReplayed, StatusDiscarded, StatusQuarantined} {
		if st.s == s {
			return st, nil
		}
	}
	return Status{}, invalidf("unknown dead letter status %q: want failed, replayed, discarded or quarantined", s)
}

func (s Status) String() string { return s.s }

// ErrDeadLetterNotFound is returned for an id the archive does not hold.
var ErrDeadLetterNotFound = refusal.New(refusal.NotFound, "not_found", "dead letter not found")

// ErrInvalidArgument is wrapped by the refusals of what a use case was asked:
// a filter that cannot match, a bound out of range, a selection too broad to
// be meant. Nothing was changed; asking differently may succeed.
var ErrInvalidArgument = refusal.New(refusal.Invalid, "invalid_argument", "invalid argument")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}

// DeadLetter is a message a handler gave up on, as the archive keeps it.
type DeadLetter struct {
	// ID is the message id and the handler that gave up on it: the same
	// message poisoned by two handlers is two dead letters.
	ID        string
	MessageID string
	// Handler is the consumer group that failed, such as
	// "inventory.order-policy.p1"; HandlerName drops the partition.
	Handler string
	Topic   string
	// EventType is the message's type: an event's or a command's name.
	EventType   string
	AggregateID string
	// AggregateVersion orders an aggregate's dead letters when replaying; 0
	// for commands.
	AggregateVersion int
	Payload          []byte
	Metadata         map[string]string
	Reason           string
	FirstFailedAt    time.Time
	LastFailedAt     time.Time
	// Failures counts how often the message was poisoned, Replays how often
	// an operator published it again.
	Failures int
	Replays  int
	Status   Status
	History  []Action
}

// Action is something an operator did to a dead letter.
type Action struct {
	At   time.Time
	What string
	By   string
}

var partitionSuffix = regexp.MustCompile(`\.p\d+$`)

// HandlerName is the handler without its partition.
func (d DeadLetter) HandlerName() string { return partitionSuffix.ReplaceAllString(d.Handler, "") }

// deadLetterID names the dead letter of a message and a handler.
func deadLetterID(messageID, handler string) string { return messageID + "@" + handler }

// DeadLetterFilter selects dead letters. Zero fields do not filter.
type DeadLetterFilter struct {
	// Handler matches with or without the partition.
	Handler   string
	Topic     string
	EventType string
	// Reason matches a substring of the reason, ignoring case.
	Reason string
	// Since and Until bound the last failure: Since inclusive, Until exclusive.
	Since, Until time.Time
	IDs          []string
	Statuses     []Status
	Limit        int
}

// Validate refuses filters that cannot match anything.
func (f DeadLetterFilter) Validate() error {
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return invalidf("since (%s) must be before until (%s)", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	if f.Limit < 0 {
		return invalidf("limit must not be negative")
	}
	return nil
}

// Matches reports whether d passes the filter; adapters that cannot filter
// on everything in their query use it for the rest.
func (f DeadLetterFilter) Matches(d DeadLetter) bool {
	if f.Handler != "" && d.Handler != f.Handler && d.HandlerName() != f.Handler {
		return false
	}
	if (f.Topic != "" && d.Topic != f.Topic) || (f.EventType != "" && d.EventType != f.EventType) {
		return false
	}
	if f.Reason != "" && !strings.Contains(strings.ToLower(d.Reason), strings.ToLower(f.Reason)) {
		return false
	}
	if (!f.Since.IsZero() && d.LastFailedAt.Before(f.Since)) || (!f.Until.IsZero() && !d.LastFailedAt.Before(f.Until)) {
		return false
	}
	if len(f.IDs) > 0 && !slices.Contains(f.IDs, d.ID) && !slices.Contains(f.IDs, d.MessageID) {
		return false
	}
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, d.Status) {
		return false
	}
	return true
}

// DeadLetters is the archive.
type DeadLetters interface {
	// Record stores a poisoned message. The same message poisoned again by
	// the same handler updates its record: the last failure, the failure
	// count, the reason, and the status back to failed unless an operator
	// quarantined or discarded it.
	Record(ctx context.Context, d DeadLetter) error
	// Get returns ErrDeadLetterNotFound for an unknown id.
	Get(ctx context.Context, id string) (DeadLetter, error)
	// List returns the matching dead letters, oldest failure first.
	List(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error)
	// Act records an operator's action: the new status and the action in
	// the history.
	Act(ctx context.Context, id string, status Status, a Action) error
	// Replayed records a replay: the replay count grows by one and the
	// action goes into the history. The status becomes replayed only if the
	// dead letter still has the failures it had when the replay read it: a
	// replayed message can fail again before the replay is recorded, and then
	// it stays failed.
	Replayed(ctx context.Context, id string, failures int, a Action) error
}
