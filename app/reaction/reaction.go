// Package reaction builds an event handler from one function per event type,
// in the style of Watermill's NewEventHandler[T]: the events a policy reacts
// to are named by the types its functions take, so there is no list of names
// beside a type switch that must agree with it.
package reaction

import (
	"context"
	"fmt"

	"shop/app/eventstore"
	"shop/domain/es"
)

// Reaction is what a handler does with the events of one type.
type Reaction struct {
	event  string
	handle func(ctx context.Context, rec eventstore.Record) error
}

// On reacts to the events of type E with handle, which is given the record
// and its event as an E.
func On[E es.Event](handle func(ctx context.Context, rec eventstore.Record, e E) error) Reaction {
	var zero E
	name := zero.EventName()
	return Reaction{event: name, handle: func(ctx context.Context, rec eventstore.Record) error {
		e, ok := rec.Event.(E)
		if !ok {
			return fmt.Errorf("%s: the record holds a %T", name, rec.Event)
		}
		return handle(ctx, rec, e)
	}}
}

// Handler hands each record to the reaction to its event type.
type Handler struct {
	events []string
	byName map[string]Reaction
}

// New builds a handler of reactions to distinct event types.
func New(reactions ...Reaction) (*Handler, error) {
	h := &Handler{byName: make(map[string]Reaction, len(reactions))}
	for _, r := range reactions {
		if _, dup := h.byName[r.event]; dup {
			return nil, fmt.Errorf("two reactions to %s", r.event)
		}
		h.byName[r.event] = r
		h.events = append(h.events, r.event)
	}
	return h, nil
}

// Events lists the event types the handler reacts to, in the order given.
func (h *Handler) Events() []string { return append([]string(nil), h.events...) }

// Handle runs the reaction to rec's event type.
func (h *Handler) Handle(ctx context.Context, rec eventstore.Record) error {
	name := rec.Type
	if rec.Event != nil {
		name = rec.Event.EventName()
	}
	r, ok := h.byName[name]
	if !ok {
		return fmt.Errorf("no reaction to %s", name)
	}
	return r.handle(ctx, rec)
}
