package notification

import "fmt"

// Kind is what a notification is about.
type Kind struct{ s string }

var (
	KindOrderCreated   = Kind{"order_created"}
	KindOrderConfirmed = Kind{"order_confirmed"}
	KindOrderRejected  = Kind{"order_rejected"}
	KindOrderCancelled = Kind{"order_cancelled"}
)

var kinds = []Kind{KindOrderCreated, KindOrderConfirmed, KindOrderRejected, KindOrderCancelled}

// KindFromString reads a kind as events and the API spell it.
func KindFromString(s string) (Kind, error) {
	for _, k := range kinds {
		if k.s == s {
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("unknown notification kind %q", s)
}

func (k Kind) String() string                { return k.s }
func (k Kind) MarshalText() ([]byte, error)  { return []byte(k.s), nil }
func (k *Kind) UnmarshalText(b []byte) error { return unmarshal(b, k, KindFromString) }

// Channel is how a notification reaches the customer.
type Channel struct{ s string }

var (
	ChannelEmail = Channel{"email"}
	ChannelSMS   = Channel{"sms"}
	ChannelPush  = Channel{"push"}
	// ChannelLog records the notification in the service's log; it is used
	// when the customer left no contact.
	ChannelLog = Channel{"log"}
)

var channels = []Channel{ChannelEmail, ChannelSMS, ChannelPush, ChannelLog}

// ChannelFromString reads a channel as events and the API spell it.
func ChannelFromString(s string) (Channel, error) {
	for _, c := range channels {
		if c.s == s {
			return c, nil
		}
	}
	return Channel{}, fmt.Errorf("unknown notification channel %q", s)
}

func (c Channel) String() string                { return c.s }
func (c Channel) MarshalText() ([]byte, error)  { return []byte(c.s), nil }
func (c *Channel) UnmarshalText(b []byte) error { return unmarshal(b, c, ChannelFromString) }

// Status is where a notification's delivery stands.
type Status struct{ s string }

var (
	// StatusPending: not delivered yet; a failed attempt is retried.
	StatusPending = Status{"pending"}
	// StatusSent: the channel's provider took it.
	StatusSent = Status{"sent"}
	// StatusLogged: no provider is configured for the channel; the
	// notification went to the service's log only.
	StatusLogged = Status{"logged"}
	// StatusFailed: the provider refused it for good (a recipient it does
	// not take); it is not tried again.
	StatusFailed = Status{"failed"}
	// StatusGivenUp: every attempt failed, the provider unavailable or
	// failing; no more are made.
	StatusGivenUp = Status{"given_up"}
	// StatusErased: not sent, since the customer's personal data was
	// erased before it could be.
	StatusErased = Status{"erased"}
)

// StatusFromString reads a status as the API spells it.
func StatusFromString(s string) (Status, error) {
	for _, st := range []Status{StatusPending, StatusSent, StatusLogged, StatusFailed, StatusGivenUp, StatusErased} {
		if st.s == s {
			return st, nil
		}
	}
	return Status{}, fmt.Errorf("unknown notification status %q", s)
}

func (s Status) String() string { return s.s }

func unmarshal[T any](b []byte, dst *T, parse func(string) (T, error)) error {
	v, err := parse(string(b))
	if err != nil {
		return err
	}
	*dst = v
	return nil
}
