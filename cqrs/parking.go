package cqrs

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"shop/app/fault"
	"shop/app/operations"
	"shop/cqrs/metadata"
)

// parkingLot holds an aggregate's later messages behind its dead letter,
// for each handler of one partition's router: a handler that gave up on
// version 2 of an aggregate must not handle version 3 as if 2 had been
// handled. The messages of the held lane are parked, unhandled and
// acknowledged, until the dead letter is replayed and handled, or
// discarded; then the lane's process handles them in the order of their
// versions, before anything that comes after. Other aggregates go on.
//
// Written here because neither Watermill nor the brokers know of
// aggregates: the poison queue sets a message aside and lets the next one
// through, whatever it belongs to.
//
// The held lanes are kept in the store and, for the handlers of this
// router, in memory: a message looks up its lane in the map, and only the
// messages of held lanes cost a round trip. A router is built for each
// partition this replica takes, and reads the lanes of a handler from the
// store before it hands it the first message: what the previous owner of
// the partition held stays held.
type parkingLot struct {
	store operations.Parking
	delay time.Duration
	// traced, when set, gives each released message the span of a
	// delivery of its own (traceDelivery).
	traced message.HandlerMiddleware
	logger *slog.Logger

	mu     sync.Mutex
	loaded map[string]bool
	held   map[operations.Lane]string
}

func newParkingLot(store operations.Parking, delay time.Duration, traced message.HandlerMiddleware, logger *slog.Logger) *parkingLot {
	return &parkingLot{store: store, delay: delay, traced: traced, logger: logger, loaded: map[string]bool{}, held: map[operations.Lane]string{}}
}

// laneOf is the lane of an aggregate's event; a message of no aggregate
// version (a command, a message of an older producer) is in none.
func laneOf(msg *message.Message) (operations.Lane, int, bool) {
	id := msg.Metadata.Get(metadata.AggregateIDKey)
	version, err := strconv.Atoi(msg.Metadata.Get(metadata.AggregateVersionKey))
	if id == "" || err != nil || version < 1 {
		return operations.Lane{}, 0, false
	}
	return operations.Lane{Handler: message.HandlerNameFromCtx(msg.Context()), AggregateID: id}, version, true
}

// holder returns the message that holds the lane, after reading the
// handler's held lanes from the store the first time.
func (l *parkingLot) holder(ctx context.Context, lane operations.Lane) (string, error) {
	l.mu.Lock()
	loaded := l.loaded[lane.Handler]
	l.mu.Unlock()
	if !loaded {
		blocks, err := l.store.Blocks(ctx, lane.Handler)
		if err != nil {
			return "", fault.Unavailable("parking", fmt.Errorf("held lanes of %s: %w", lane.Handler, err))
		}
		l.mu.Lock()
		if !l.loaded[lane.Handler] {
			for _, b := range blocks {
				l.held[b.Lane] = b.MessageID
			}
			l.loaded[lane.Handler] = true
		}
		l.mu.Unlock()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[lane], nil
}

// block holds the lane behind msg, in the store first: the message is
// acknowledged only once its lane is held for whoever consumes it next.
func (l *parkingLot) block(ctx context.Context, lane operations.Lane, messageID string) error {
	if err := l.store.Block(ctx, operations.Block{Lane: lane, MessageID: messageID}); err != nil {
		return fault.Unavailable("parking", fmt.Errorf("hold %s of %s behind %s: %w", lane.AggregateID, lane.Handler, messageID, err))
	}
	l.mu.Lock()
	l.held[lane] = messageID
	l.mu.Unlock()
	return nil
}

// Middleware parks the messages of held lanes, and releases a lane once
// the message that holds it was handled, or its dead letter discarded. It
// sits outside the poison queue, whose publisher (holdingPublisher) holds a
// lane when it sets a message aside.
func (l *parkingLot) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		lane, version, ok := laneOf(msg)
		if !ok {
			return h(msg)
		}
		ctx := msg.Context()
		holder, err := l.holder(ctx, lane)
		if err != nil {
			l.pause(ctx)
			return nil, err
		}
		if msg.Metadata.Get(ReleaseKey) != "" {
			// The notice of a discarded dead letter, never handled itself;
			// a notice for a lane its message no longer holds is late.
			if holder != msg.UUID {
				return nil, nil
			}
			return l.release(ctx, msg.UUID, lane, h)
		}
		if holder != "" && holder != msg.UUID {
			return nil, l.park(msg, lane, version)
		}
		out, err := h(msg)
		if err != nil || holder == "" || poisoned(msg) {
			return out, err
		}
		// The message that held the lane, replayed, was handled. The
		// context is the one it came with: the handlers inside leave the
		// message with their last attempt's, which Timeout cancelled.
		more, err := l.release(ctx, msg.UUID, lane, h)
		return append(out, more...), err
	}
}

func (l *parkingLot) park(msg *message.Message, lane operations.Lane, version int) error {
	ctx := msg.Context()
	err := l.store.Park(ctx, operations.ParkedMessage{
		Lane: lane, MessageID: msg.UUID, AggregateVersion: version, Topic: message.SubscribeTopicFromCtx(ctx),
		Payload: msg.Payload, Metadata: maps.Clone(msg.Metadata), ParkedAt: time.Now(),
	})
	if err != nil {
		l.pause(ctx)
		return fault.Unavailable("parking", fmt.Errorf("park %s: %w", msg.UUID, err))
	}
	l.logger.InfoContext(ctx, "message parked behind the dead letter of its aggregate", "message_id", msg.UUID,
		"handler", lane.Handler, "aggregate_id", lane.AggregateID, "aggregate_version", version)
	return nil
}

// release handles the lane's parked messages in order, each as if it had
// just arrived, and frees the lane once none is left, if holder holds it. One that is set aside
// holds the lane again, and those after it stay parked. A failure that is
// not final leaves the rest parked and fails the message that released
// them, which comes again and goes on where this stopped.
func (l *parkingLot) release(ctx context.Context, holder string, lane operations.Lane, h message.HandlerFunc) ([]*message.Message, error) {
	parked, err := l.store.Parked(ctx, lane)
	if err != nil {
		l.pause(ctx)
		return nil, fault.Unavailable("parking", fmt.Errorf("parked messages of %s: %w", lane.AggregateID, err))
	}
	if l.traced != nil {
		h = l.traced(h)
	}
	var out []*message.Message
	for _, p := range parked {
		msg := message.NewMessage(p.MessageID, p.Payload)
		msg.Metadata = maps.Clone(p.Metadata)
		if msg.Metadata == nil {
			msg.Metadata = message.Metadata{}
		}
		msg.SetContext(ctx)
		produced, err := h(msg)
		if err != nil {
			return out, err
		}
		out = append(out, produced...)
		if err := l.store.Unpark(ctx, lane, p.MessageID); err != nil {
			l.pause(ctx)
			return out, fault.Unavailable("parking", fmt.Errorf("unpark %s: %w", p.MessageID, err))
		}
		if poisoned(msg) {
			l.logger.InfoContext(ctx, "released message set aside: the rest of its aggregate stays parked behind it",
				"message_id", p.MessageID, "handler", lane.Handler, "aggregate_id", lane.AggregateID)
			return out, nil
		}
	}
	if err := l.store.Unblock(ctx, operations.Block{Lane: lane, MessageID: holder}); err != nil {
		l.pause(ctx)
		return out, fault.Unavailable("parking", fmt.Errorf("free %s: %w", lane.AggregateID, err))
	}
	l.mu.Lock()
	if l.held[lane] == holder {
		delete(l.held, lane)
	}
	l.mu.Unlock()
	l.logger.InfoContext(ctx, "parked messages released", "handler", lane.Handler, "aggregate_id", lane.AggregateID,
		"released", len(parked), "after", holder)
	return out, nil
}

// pause holds a message whose parking store is down before it is handed
// back, as waitWhileUnavailable does for the handlers inside.
func (l *parkingLot) pause(ctx context.Context) {
	t := time.NewTimer(l.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// poisoned reports whether the poison queue set the message aside: it
// marks the message itself before it publishes it.
func poisoned(msg *message.Message) bool {
	return msg.Metadata.Get(middleware.PoisonedHandlerKey) != ""
}

// holdingPublisher is the poison queue's publisher: it holds the lane of a
// message before the message goes to the poison topic, so that nothing of
// its aggregate overtakes it while it waits in the dead letters.
type holdingPublisher struct {
	message.Publisher
	lot *parkingLot
}

func (p holdingPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		if lane, _, ok := laneOf(msg); ok {
			if err := p.lot.block(msg.Context(), lane, msg.UUID); err != nil {
				return err
			}
		}
	}
	return p.Publisher.Publish(topic, msgs...)
}
