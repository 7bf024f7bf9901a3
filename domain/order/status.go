package order

import "fmt"

// Status is where an order stands in its life.
type Status struct{ s string }

var (
	StatusPending   = Status{"PENDING"}
	StatusConfirmed = Status{"CONFIRMED"}
	StatusRejected  = Status{"REJECTED"}
	StatusCancelled = Status{"CANCELLED"}
)

// StatusFromString reads a status as the API and the events spell it.
func StatusFromString(s string) (Status, error) {
	for _, st := range []Status{StatusPending, StatusConfirmed, StatusRejected, StatusCancelled} {
		if st.s == s {
			return st, nil
		}
	}
	return Status{}, fmt.Errorf("unknown order status %q", s)
}

func (s Status) String() string { return s.s }

// IsZero reports a status that was never set.
func (s Status) IsZero() bool { return s == Status{} }
