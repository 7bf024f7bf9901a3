package cqrs

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"shop/app/fault"
	"shop/app/operations"
	"shop/cqrs/metadata"
)

// ReplaysKey counts how often an operator published a message again.
const ReplaysKey = "replays"

// DeadLetterArchiveGroup is the consumer group that archives poisoned messages.
const DeadLetterArchiveGroup = "operations.dead-letter-archive"

// Archiver keeps poisoned messages.
type Archiver interface {
	Archive(ctx context.Context, d operations.DeadLetter) error
}

// NewDeadLetterRouter consumes the poison topic into the archive, on a
// router of its own: without the poison queue (a message the archive cannot
// keep would otherwise be poisoned again, into itself), retried while the
// archive's store is down, and never acknowledged unkept.
func NewDeadLetterRouter(sub message.Subscriber, topics Topics, archive Archiver, closeTimeout time.Duration, logger *slog.Logger) (*message.Router, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: closeTimeout}, WatermillLogger(logger))
	if err != nil {
		return nil, err
	}
	router.AddMiddleware(
		waitWhileUnavailable(time.Second),
		middleware.Retry{MaxRetries: 5, InitialInterval: 100 * time.Millisecond, MaxInterval: 5 * time.Second, Multiplier: 2, ResetContextOnRetry: true, Logger: WatermillLogger(logger)}.Middleware,
		finishAttempt,
		middleware.Recoverer,
	)
	router.AddConsumerHandler(DeadLetterArchiveGroup, topics.Poison(), sub, func(msg *message.Message) error {
		d := DeadLetterFromMessage(msg)
		if err := archive.Archive(msg.Context(), d); err != nil {
			logger.Error("dead letter not archived; it will be tried again", "message_id", msg.UUID, "handler", d.Handler, "error", err)
			// Keep it on the poison topic: nacked after the wait, never dropped.
			return fault.Unavailable("dead letter archive", err)
		}
		logger.Warn("message set aside as a dead letter", "message_id", msg.UUID, "handler", d.Handler, "type", d.EventType, "reason", d.Reason)
		return nil
	})
	return router, nil
}

// DeadLetterFromMessage reads what the PoisonQueue middleware put on a
// poisoned message.
func DeadLetterFromMessage(msg *message.Message) operations.DeadLetter {
	md := maps.Clone(msg.Metadata)
	d := operations.DeadLetter{
		MessageID: msg.UUID,
		Handler:   md.Get(middleware.PoisonedHandlerKey),
		Topic:     md.Get(middleware.PoisonedTopicKey),
		Reason:    md.Get(middleware.ReasonForPoisonedKey),
		EventType: md.Get(metadata.NameKey),
		Payload:   append([]byte(nil), msg.Payload...),
	}
	d.AggregateID = md.Get(metadata.AggregateIDKey)
	d.AggregateVersion, _ = strconv.Atoi(md.Get(metadata.AggregateVersionKey))
	d.Replays, _ = strconv.Atoi(md.Get(ReplaysKey))
	// A replay is a new chance: an early message waits its full patience
	// again. Its address stays, so that only its handler takes it.
	for _, k := range []string{middleware.PoisonedHandlerKey, middleware.PoisonedTopicKey, middleware.ReasonForPoisonedKey, middleware.PoisonedSubscriberKey, ReplaysKey, EarlySinceKey} {
		delete(md, k)
	}
	d.Metadata = md
	if d.Handler == "" {
		d.Handler = "unknown"
	}
	return d
}

// Republisher publishes dead letters again.
type Republisher struct {
	Publisher message.Publisher
}

// Republish publishes the dead letter to its original topic, under its own
// message id, so that the handlers that had handled it drop it as a
// duplicate, with the count of its replays.
func (r Republisher) Republish(ctx context.Context, d operations.DeadLetter, replays int) error {
	if d.Topic == "" {
		return fmt.Errorf("dead letter %s has no topic to go back to", d.ID)
	}
	msg := message.NewMessage(d.MessageID, d.Payload)
	msg.Metadata = maps.Clone(d.Metadata)
	if msg.Metadata == nil {
		msg.Metadata = message.Metadata{}
	}
	msg.Metadata.Set(ReplaysKey, strconv.Itoa(replays))
	msg.SetContext(ctx)
	return r.Publisher.Publish(d.Topic, msg)
}

// ReleaseKey marks the notice that a dead letter was discarded: its handler
// hands it to no one, and handles the messages parked behind it.
const ReleaseKey = "release_parked"

// Release publishes the notice that the dead letter was discarded to its
// original topic, under its message id and addressed to its handler: the
// process that consumes the lane now gets it, in the lane's order, and the
// other handlers of the topic let it pass.
func (r Republisher) Release(ctx context.Context, d operations.DeadLetter) error {
	if d.Topic == "" {
		return fmt.Errorf("dead letter %s has no topic to go back to", d.ID)
	}
	msg := message.NewMessage(d.MessageID, nil)
	for _, k := range []string{metadata.NameKey, metadata.AggregateIDKey, metadata.AggregateVersionKey, metadata.AggregateTypeKey} {
		if v := d.Metadata[k]; v != "" {
			msg.Metadata.Set(k, v)
		}
	}
	msg.Metadata.Set(ReleaseKey, "discarded")
	msg.Metadata.Set(RequeuedForKey, d.Handler)
	msg.SetContext(ctx)
	return r.Publisher.Publish(d.Topic, msg)
}
