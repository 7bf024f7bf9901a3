package amqp

import (
	"errors"
	"io"
	"net"
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"shop/app/fault"
)

func TestAnAMQPErrorFromTheBrokerOrTheNetworkIsTransient(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		amqp091.ErrClosed,
		&amqp091.Error{Code: amqp091.ConnectionForced, Reason: "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"},
		&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")},
		io.ErrUnexpectedEOF,
	} {
		if got := classify(err); !fault.IsTransient(got) || !errors.Is(got, err) {
			t.Errorf("%v: %v", err, got)
		}
	}
	if got := classify(errors.New("cannot marshal message")); fault.IsTransient(got) {
		t.Errorf("a message that cannot be marshalled is transient: %v", got)
	}
}
