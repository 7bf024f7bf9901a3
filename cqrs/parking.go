package cqrs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

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
// versions, before anything that comes after. Other aggregates go on, and
// so do the held aggregate's earlier versions (a predecessor that comes
// late is what the dead letter may wait for).
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
// the partition held stays held. The messages an operator sends (a replay,
// a discard's notice) read their lane from the store, which a previous
// owner may have changed after this router read it.
type parkingLot struct {
	store operations.Parking
	delay time.Duration
	// traced, when set, gives each released message the span of a
	// delivery of its own (traceDelivery).
	traced message.HandlerMiddleware
	// counted, when set, hears of each message parked and released.
	counted func(handler, event string)
	logger  *slog.Logger

	mu     sync.Mutex
	loaded map[string]bool
	held   map[operations.Lane]hold
	// lanes serialise the parking and the release of one lane: a message
	// of the lane that overtakes the release (two deliveries overlap while
	// a partition changes hands) waits for it instead of being parked
	// behind a lane about to be freed.
	lanes map[operations.Lane]*sync.Mutex
}

// hold is the message that holds a lane, and its version.
type hold struct {
	messageID string
	version   int
}

func newParkingLot(store operations.Parking, delay time.Duration, traced message.HandlerMiddleware, counted func(handler, event string), logger *slog.Logger) *parkingLot {
	return &parkingLot{
		store: store, delay: delay, traced: traced, counted: counted, logger: logger,
		loaded: map[string]bool{}, held: map[operations.Lane]hold{}, lanes: map[operations.Lane]*sync.Mutex{},
	}
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

// holder returns what holds the lane, after reading the handler's held
// lanes from the store the first time, and the lane's own from the store
// when fresh asks for it.
func (l *parkingLot) holder(ctx context.Context, lane operations.Lane, fresh bool) (hold, error) {
	l.mu.Lock()
	loaded := l.loaded[lane.Handler]
	l.mu.Unlock()
	if !loaded || fresh {
		blocks, err := l.store.Blocks(ctx, lane.Handler)
		if err != nil {
			return hold{}, fault.Unavailable("parking", fmt.Errorf("held lanes of %s: %w", lane.Handler, err))
		}
		l.mu.Lock()
		if !l.loaded[lane.Handler] {
			for _, b := range blocks {
				l.held[b.Lane] = hold{b.MessageID, b.Version}
			}
			l.loaded[lane.Handler] = true
		}
		if fresh {
			delete(l.held, lane)
			for _, b := range blocks {
				if b.Lane == lane {
					l.held[lane] = hold{b.MessageID, b.Version}
				}
			}
		}
		l.mu.Unlock()
	}
	return l.heldNow(lane), nil
}

func (l *parkingLot) heldNow(lane operations.Lane) hold {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[lane]
}

// lock takes the lane's lock and returns its unlock.
func (l *parkingLot) lock(lane operations.Lane) func() {
	l.mu.Lock()
	m := l.lanes[lane]
	if m == nil {
		m = &sync.Mutex{}
		l.lanes[lane] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// block holds the lane behind a message, in the store first: the message
// is acknowledged only once its lane is held for whoever consumes it next.
// A lane held by a later version stays held by it (the store keeps the
// later block too): a late predecessor that fails does not free what waits
// behind the later dead letter.
func (l *parkingLot) block(ctx context.Context, lane operations.Lane, messageID string, version int) error {
	if err := l.store.Block(ctx, operations.Block{Lane: lane, MessageID: messageID, Version: version}); err != nil {
		return fault.Unavailable("parking", fmt.Errorf("hold %s of %s behind %s: %w", lane.AggregateID, lane.Handler, messageID, err))
	}
	l.mu.Lock()
	if held, ok := l.held[lane]; !ok || held.version <= version {
		l.held[lane] = hold{messageID, version}
	}
	l.mu.Unlock()
	return nil
}

// Middleware parks the later messages of held lanes, and releases a lane
// once the message that holds it was handled, or its dead letter
// discarded. It sits outside the poison queue, whose publisher
// (holdingPublisher) holds a lane when it sets a message aside.
func (l *parkingLot) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		lane, version, ok := laneOf(msg)
		if !ok {
			return h(msg)
		}
		// Kept before the call: the handlers inside leave the message with
		// the context of its last attempt, which Timeout cancelled.
		ctx := msg.Context()
		notice := msg.Metadata.Get(ReleaseKey) != ""
		held, err := l.holder(ctx, lane, notice || msg.Metadata.Get(ReplaysKey) != "")
		if err != nil {
			l.pause(ctx)
			return nil, err
		}
		if notice {
			// The notice of a discarded dead letter, never handled itself;
			// a notice for a lane its message no longer holds is late.
			if held.messageID != msg.UUID {
				return nil, nil
			}
			return nil, l.release(ctx, lane, msg.UUID, h)
		}
		if held.waitsBehind(msg.UUID, version) {
			parked, now, err := l.park(ctx, msg, lane, version)
			if parked || err != nil {
				return nil, err
			}
			held = now
		}
		delete(msg.Metadata, requeuedKey)
		out, err := h(msg)
		if err != nil || held.messageID != msg.UUID || poisoned(msg) || requeued(msg) {
			// A holder set aside again, or sent to the back of its topic,
			// still holds its lane.
			return out, err
		}
		// The message that held the lane, replayed, was handled.
		return out, l.release(ctx, lane, msg.UUID, h)
	}
}

// waitsBehind reports whether a message of the lane waits behind the hold:
// a later version than the holder's, and not the holder itself.
func (h hold) waitsBehind(messageID string, version int) bool {
	return h.messageID != "" && h.messageID != messageID && version > h.version
}

// park keeps a message of a held lane. The lane's hold is read from the
// store first, and again after the message is kept: a partition's previous
// owner, still finishing, may have freed the lane that this router's map
// says is held. When the lane no longer holds the message back, park
// reports false, with what holds the lane now, and the message is handled.
func (l *parkingLot) park(ctx context.Context, msg *message.Message, lane operations.Lane, version int) (bool, hold, error) {
	defer l.lock(lane)()
	storeCtx := context.WithoutCancel(ctx)
	held, err := l.holder(storeCtx, lane, true)
	if err != nil || !held.waitsBehind(msg.UUID, version) {
		return false, held, err
	}
	err = l.store.Park(storeCtx, operations.ParkedMessage{
		Lane: lane, MessageID: msg.UUID, AggregateVersion: version, Topic: message.SubscribeTopicFromCtx(ctx),
		Payload: msg.Payload, Metadata: maps.Clone(msg.Metadata), ParkedAt: time.Now(),
	})
	if err != nil {
		l.pause(ctx)
		return false, held, fault.Unavailable("parking", fmt.Errorf("park %s: %w", msg.UUID, err))
	}
	// Freed meanwhile, by a release that had read the lane's parked
	// messages before this one was kept: the release looks once more after
	// it frees the lane, and this looks after it parked, so that one of the
	// two handles it.
	if again, err := l.holder(storeCtx, lane, true); err != nil || !again.waitsBehind(msg.UUID, version) {
		if uerr := l.store.Unpark(storeCtx, lane, msg.UUID); uerr != nil {
			err = errors.Join(err, uerr)
		}
		if err != nil {
			l.pause(ctx)
			return false, again, fault.Unavailable("parking", fmt.Errorf("park %s: %w", msg.UUID, err))
		}
		return false, again, nil
	}
	l.count(lane, "parked")
	trace.SpanFromContext(ctx).AddEvent("parked behind the dead letter of its aggregate",
		trace.WithAttributes(attribute.String("shop.held_by", held.messageID)))
	l.logger.InfoContext(ctx, "message parked behind the dead letter of its aggregate", "message_id", msg.UUID,
		"handler", lane.Handler, "aggregate_id", lane.AggregateID, "aggregate_version", version, "held_by", held.messageID)
	return true, held, nil
}

// release handles the lane's parked messages in order, each as if it had
// just arrived, and frees the lane once none is left, if holder still holds
// it. A released message that is set aside holds the lane in its turn, as
// does one sent to the back of its topic (it arrived before what it builds
// on), and those after it stay parked. A failure that is not final, or the
// router closing, leaves the rest parked and fails the message that
// released them, which comes again and goes on where this stopped.
//
// What handlers return is dropped: event handlers publish nothing.
func (l *parkingLot) release(ctx context.Context, lane operations.Lane, holder string, h message.HandlerFunc) error {
	defer l.lock(lane)()
	if l.heldNow(lane).messageID != holder {
		return nil
	}
	// The bookkeeping finishes what the handler did, as finishAttempt lets
	// the handler finish: a message handled and left parked would be
	// handled again.
	storeCtx := context.WithoutCancel(ctx)
	if l.traced != nil {
		h = l.traced(h)
	}
	released := map[string]bool{}
	for {
		more, held, err := l.handleParked(ctx, lane, holder, h, released)
		if err != nil || held {
			return err
		}
		if !more {
			break
		}
	}
	if err := l.store.Unblock(storeCtx, operations.Block{Lane: lane, MessageID: holder}); err != nil {
		l.pause(ctx)
		return fault.Unavailable("parking", fmt.Errorf("free %s: %w", lane.AggregateID, err))
	}
	l.mu.Lock()
	if l.held[lane].messageID == holder {
		delete(l.held, lane)
	}
	l.mu.Unlock()
	// A message parked by another router between the last look and the
	// lane's freeing (park looks again after it parked, for those after).
	if _, _, err := l.handleParked(ctx, lane, holder, h, released); err != nil {
		return err
	}
	l.logger.InfoContext(ctx, "parked messages released", "handler", lane.Handler, "aggregate_id", lane.AggregateID,
		"released", len(released), "after", holder)
	return nil
}

// releasingKey marks the context of the messages a release hands to the
// handler: their delivery spans link to the releasing delivery.
type releasingKey struct{}

// handleParked handles the lane's parked messages once, in order. more
// reports that it handled some; held, that one of them holds the lane now.
func (l *parkingLot) handleParked(ctx context.Context, lane operations.Lane, holder string, h message.HandlerFunc, released map[string]bool) (more, held bool, err error) {
	storeCtx := context.WithoutCancel(ctx)
	parked, err := l.store.Parked(storeCtx, lane)
	if err != nil {
		l.pause(ctx)
		return false, false, fault.Unavailable("parking", fmt.Errorf("parked messages of %s: %w", lane.AggregateID, err))
	}
	for _, p := range parked {
		if released[p.MessageID] {
			return false, false, fault.Unavailable("parking", fmt.Errorf("%s is still parked after its release", p.MessageID))
		}
		if err := ctx.Err(); err != nil {
			return false, false, fmt.Errorf("release of %s stopped: %w", lane.AggregateID, err)
		}
		released[p.MessageID] = true
		if p.MessageID == holder {
			// Parked as it held the lane (its unpark had failed): never
			// handed on after its own release.
			if err := l.store.Unpark(storeCtx, lane, p.MessageID); err != nil {
				l.pause(ctx)
				return false, false, fault.Unavailable("parking", fmt.Errorf("unpark %s: %w", p.MessageID, err))
			}
			continue
		}
		msg := message.NewMessage(p.MessageID, p.Payload)
		msg.Metadata = maps.Clone(p.Metadata)
		if msg.Metadata == nil {
			msg.Metadata = message.Metadata{}
		}
		delete(msg.Metadata, requeuedKey)
		msg.SetContext(context.WithValue(ctx, releasingKey{}, true))
		if _, err := h(msg); err != nil {
			return false, false, err
		}
		if requeued(msg) {
			// Its copy comes back under its id, and holds the lane until
			// it is handled.
			if err := l.block(storeCtx, lane, p.MessageID, p.AggregateVersion); err != nil {
				return false, false, err
			}
		}
		if err := l.store.Unpark(storeCtx, lane, p.MessageID); err != nil {
			l.pause(ctx)
			return false, false, fault.Unavailable("parking", fmt.Errorf("unpark %s: %w", p.MessageID, err))
		}
		if poisoned(msg) || requeued(msg) {
			l.logger.InfoContext(ctx, "a released message holds its aggregate again: the rest stays parked behind it",
				"message_id", p.MessageID, "handler", lane.Handler, "aggregate_id", lane.AggregateID)
			return true, true, nil
		}
		l.count(lane, "released")
	}
	return len(parked) > 0, false, nil
}

func (l *parkingLot) count(lane operations.Lane, event string) {
	if l.counted == nil {
		return
	}
	l.counted(lane.HandlerName(), event)
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

// requeuedKey marks a message that requeueEarly sent to the back of its
// topic: acknowledged, not handled.
const requeuedKey = "requeued"

func requeued(msg *message.Message) bool { return msg.Metadata.Get(requeuedKey) != "" }

// holdingPublisher is the poison queue's publisher: it holds the lane of a
// message before the message goes to the poison topic, so that nothing of
// its aggregate overtakes it while it waits in the dead letters.
type holdingPublisher struct {
	message.Publisher
	lot *parkingLot
}

func (p holdingPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, msg := range msgs {
		if lane, version, ok := laneOf(msg); ok {
			if err := p.lot.block(msg.Context(), lane, msg.UUID, version); err != nil {
				return err
			}
		}
	}
	return p.Publisher.Publish(topic, msgs...)
}
