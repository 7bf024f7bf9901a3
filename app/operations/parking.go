package operations

import (
	"context"
	"fmt"
	"time"
)

// Lane is one handler's messages of one aggregate: the messages that must be
// handled in the order of the aggregate's versions. Handler is the consumer
// group, with its partition, as dead letters name it.
type Lane struct {
	Handler     string
	AggregateID string
}

// HandlerName is the lane's handler without its partition.
func (l Lane) HandlerName() string { return partitionSuffix.ReplaceAllString(l.Handler, "") }

// Block says that a lane waits behind the dead letter of one of its
// messages: later messages of the lane are parked, unhandled, until the
// dead letter is replayed and handled, or discarded.
type Block struct {
	Lane
	// MessageID is the message whose dead letter holds the lane, Version
	// its aggregate version: only later versions wait behind it.
	MessageID string
	Version   int
}

// DeadLetterID names the dead letter that holds the lane.
func (b Block) DeadLetterID() string { return deadLetterID(b.MessageID, b.Handler) }

// ParkedMessage is a message of a held lane, kept as it came so that it is
// handled as if it had just arrived once the lane moves again.
type ParkedMessage struct {
	Lane
	MessageID        string
	AggregateVersion int
	Topic            string
	Payload          []byte
	Metadata         map[string]string
	ParkedAt         time.Time
}

// Parking keeps the held lanes and their parked messages, durably: a
// process that takes a partition over finds what its previous owner held.
type Parking interface {
	// Block holds the lane behind the message; a block of the lane by an
	// earlier version is replaced, one by a later version kept.
	Block(ctx context.Context, b Block) error
	// Blocks lists the held lanes of one handler, or of every handler when
	// handler is empty.
	Blocks(ctx context.Context, handler string) ([]Block, error)
	// Unblock frees the lane if the message still holds it.
	Unblock(ctx context.Context, b Block) error
	// Park keeps a message of a held lane; parking it again changes nothing.
	Park(ctx context.Context, m ParkedMessage) error
	// Parked lists the lane's parked messages, lowest version first.
	Parked(ctx context.Context, l Lane) ([]ParkedMessage, error)
	// Unpark removes a parked message once it was handled.
	Unpark(ctx context.Context, l Lane, messageID string) error
	// Redact replaces a parked message's payload, to erase personal data
	// it holds in clear; a message not parked is left alone.
	Redact(ctx context.Context, l Lane, messageID string, payload []byte) error
	// Count counts the parked messages of every lane that has some.
	Count(ctx context.Context) (map[Lane]int, error)
}

// Releaser tells a dead letter's handler that the dead letter was discarded,
// so that the messages parked behind it are handled, in order, by the
// process that consumes the lane.
type Releaser interface {
	Release(ctx context.Context, d DeadLetter) error
}

// holders maps the id of each dead letter that holds its lane to the lane.
func (o *Operations) holders(ctx context.Context) (map[string]Lane, error) {
	blocks, err := o.parking.Blocks(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("held lanes: %w", err)
	}
	holders := make(map[string]Lane, len(blocks))
	for _, b := range blocks {
		holders[b.DeadLetterID()] = b.Lane
	}
	return holders, nil
}

// countParked gives each dead letter that holds its lane the number of
// messages parked behind it.
func (o *Operations) countParked(ctx context.Context, list []DeadLetter) error {
	if len(list) == 0 {
		return nil
	}
	holders, err := o.holders(ctx)
	if err != nil || len(holders) == 0 {
		return err
	}
	counts, err := o.parking.Count(ctx)
	if err != nil {
		return fmt.Errorf("parked messages: %w", err)
	}
	for i := range list {
		if lane, ok := holders[list[i].ID]; ok {
			list[i].Parked = counts[lane]
		}
	}
	return nil
}
