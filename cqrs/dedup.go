package cqrs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"shop/app/fault"
	"shop/cqrs/metadata"
)

// ProcessedMessages remembers which messages a handler has handled.
type ProcessedMessages interface {
	// Processed reports whether key was marked and has not expired.
	Processed(ctx context.Context, key string) (bool, error)
	// MarkProcessed marks key.
	MarkProcessed(ctx context.Context, key string) error
}

// Deduplicator drops a message that a handler already handled, keyed by the
// message id and the handler's name. Unlike Watermill's Deduplicator it marks a
// message only after its handler succeeded, so a failed message is handled again
// when it is redelivered, and it keys by message id rather than a hash of the
// payload, so two equal commands with different causes are both handled.
//
// Only handlers registered with Guard are deduplicated: projections are
// idempotent by the version they keep, and need no extra lookup. When the
// store cannot be reached, messages are handled without it.
type Deduplicator struct {
	store  ProcessedMessages
	logger *slog.Logger

	mu      sync.RWMutex
	guarded map[string]string // router handler name → name in keys
}

// NewDeduplicator builds a deduplicator on store.
func NewDeduplicator(store ProcessedMessages, logger *slog.Logger) *Deduplicator {
	return &Deduplicator{store: store, logger: logger, guarded: map[string]string{}}
}

// Guard deduplicates the router handler, keying its messages by name: the
// partitions of one handler share a name, so a message delivered through
// another partition after a repartition is still recognised.
func (d *Deduplicator) Guard(routerHandler, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.guarded[routerHandler] = name
}

// Middleware is the router middleware.
func (d *Deduplicator) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		d.mu.RLock()
		name, ok := d.guarded[message.HandlerNameFromCtx(msg.Context())]
		d.mu.RUnlock()
		if !ok {
			return h(msg)
		}
		key := name + ":" + msg.UUID
		seen, err := d.store.Processed(msg.Context(), key)
		if err != nil {
			// Fail open: every handler is idempotent by itself (versions,
			// effects keyed by their cause), so while the store is down
			// messages are handled, not held back; only the shortcut is lost.
			d.logger.Warn("deduplication store unavailable; handling the message without it", "handler", name, "message_id", msg.UUID, "error", err)
			return h(msg)
		}
		if seen {
			d.logger.Debug("duplicate message dropped", "handler", name, "message_id", msg.UUID)
			return nil, nil
		}
		out, err := h(msg)
		if err != nil {
			return out, err
		}
		if err := d.store.MarkProcessed(context.WithoutCancel(msg.Context()), key); err != nil {
			// The work is done; a redelivery will be absorbed by the handler's
			// own idempotency. Failing here would only repeat the work.
			d.logger.Warn("could not mark message processed", "handler", name, "message_id", msg.UUID, "error", err)
		}
		return out, nil
	}
}

// KnownNames refuses messages whose type no handler of the system knows, and
// messages a transport could not read: they are malformed and go to the poison
// queue instead of being acked unseen or redelivered forever.
//
// It also knows which types each handler reacts to, so that a message of a
// known type its handler ignores (an order's confirmation, at the inventory's
// policy) is acknowledged before the middlewares run, rather than retried,
// timed, deduplicated and marked for nothing.
type KnownNames struct {
	mu        sync.RWMutex
	names     map[string]bool
	interests map[string]map[string]bool // router handler name → types it handles
}

// NewKnownNames starts with the given names.
func NewKnownNames(names ...string) *KnownNames {
	k := &KnownNames{names: map[string]bool{}, interests: map[string]map[string]bool{}}
	k.Add(names...)
	return k
}

// Interested says which types a router handler handles.
func (k *KnownNames) Interested(routerHandler string, types map[string]bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.interests[routerHandler] = types
}

// SkipIgnored is the router middleware that acknowledges, unhandled, a
// message of a known type its handler does not handle. What is unknown or
// could not be read goes on, to be poisoned.
func (k *KnownNames) SkipIgnored(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		name := msg.Metadata.Get(metadata.NameKey)
		k.mu.RLock()
		types, registered := k.interests[message.HandlerNameFromCtx(msg.Context())]
		ignored := registered && k.names[name] && !types[name] && msg.Metadata.Get(metadata.UndecodableKey) == ""
		k.mu.RUnlock()
		if ignored {
			return nil, nil
		}
		return h(msg)
	}
}

// Add makes names known.
func (k *KnownNames) Add(names ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, n := range names {
		k.names[n] = true
	}
}

// Middleware is the router middleware.
func (k *KnownNames) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if reason := msg.Metadata.Get(metadata.UndecodableKey); reason != "" {
			return nil, fault.Malformed(fmt.Errorf("message %s could not be read: %s", msg.UUID, reason))
		}
		name := msg.Metadata.Get(metadata.NameKey)
		k.mu.RLock()
		known := k.names[name]
		k.mu.RUnlock()
		if !known {
			return nil, fault.Malformed(fmt.Errorf("message %s has unknown type %q", msg.UUID, name))
		}
		return h(msg)
	}
}
