package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/app/operations"
	"shop/cqrs"
	"shop/ports/httpport"
)

// serviceSpec declares one service, once: its name, the events it
// subscribes to, and how its use cases, event handlers, HTTP API and read
// model rebuild are built on what every service gets (serviceCore). The
// wiring (newService) and the bus topology (Topology) both read it, so a
// service or a handler is added in one place.
type serviceSpec struct {
	name string
	// subscriptions are the service's event handlers, as the bus knows
	// them; build gives a handler for each, by name.
	subscriptions []subscription
	build         func(c serviceCore) (serviceParts, error)
}

// subscription is one event handler of a service on the bus.
type subscription struct {
	// handler names the handler's queues and consumer groups: renaming it
	// starts them afresh.
	handler string
	// aggregateType is whose events it takes.
	aggregateType string
	// deduplicate drops messages it already handled; projections, which
	// are idempotent by themselves, leave it off.
	deduplicate bool
	// everyEvent: a projection reacts to every event of its aggregate type,
	// since each moves the version its view keeps; one that misses any is
	// refused at start, naming it.
	everyEvent bool
}

// specs are the services in start order.
var specs = []serviceSpec{ordersSpec, inventorySpec, notificationsSpec}

// AllServices lists every service in start order.
var AllServices = specNames()

func specNames() []string {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.name
	}
	return names
}

func specOf(name string) (serviceSpec, bool) {
	i := slices.IndexFunc(specs, func(s serviceSpec) bool { return s.name == name })
	if i < 0 {
		return serviceSpec{}, false
	}
	return specs[i], true
}

// serviceCore is what every service is built on: its own event store, with
// the relay that publishes from it, and the platform.
type serviceCore struct {
	ctx      context.Context
	cfg      Config
	platform *Platform
	adapters Adapters
	logger   *slog.Logger
	store    eventstore.Store
	// snapshots keeps the snapshots of the service's streams.
	snapshots eventstore.Snapshots
	relay     *cqrs.Relay
	obs       decorator.Observability
}

// repository is the configuration of a repository of aggregates of type A,
// named aggregateType, in the service's store.
func repository[A eventstore.Aggregate](c serviceCore, aggregateType string) eventstore.RepositoryConfig[A] {
	p := c.platform
	return eventstore.RepositoryConfig[A]{
		Store: c.store, Outbox: c.relay, Clock: p.Clock, IDs: p.IDs, Sealer: p.Vault,
		Snapshots: snapshotPolicy(c.cfg.SnapshotEvery[aggregateType], c.snapshots, c.logger),
	}
}

// snapshotPolicy snapshots streams every so many events; what fails is
// logged, since it fails nothing else.
func snapshotPolicy(every int, snapshots eventstore.Snapshots, logger *slog.Logger) eventstore.SnapshotPolicy {
	return eventstore.SnapshotPolicy{
		Store: snapshots, Every: every,
		Failed: func(err error) {
			logger.Warn("snapshot not taken or not read; the stream is loaded whole", "error", err)
		},
	}
}

// serviceParts is what a service's build makes.
type serviceParts struct {
	// handlers has the handler of each of the spec's subscriptions, which
	// takes the events it lists (app/reaction).
	handlers map[string]eventHandler
	// api builds the HTTP API; admin is zero but in the process that runs
	// the operators' tools.
	api     func(base httpport.Base, admin httpport.Admin) http.Handler
	rebuild operations.Rebuild
	onStart func(context.Context) error
	// background, when set, runs from the start until the shutdown (before
	// the connections close).
	background func(context.Context)
}

// eventHandler handles the events it lists.
type eventHandler interface {
	cqrs.EventHandler
	Events() []string
}

type serviceDeps struct {
	ctx      context.Context
	cfg      Config
	platform *Platform
	adapters Adapters
}

func newService(name string, d serviceDeps) (*Service, error) {
	spec, ok := specOf(name)
	if !ok {
		return nil, fmt.Errorf("unknown service %q", name)
	}
	p, cfg := d.platform, d.cfg
	c := serviceCore{ctx: d.ctx, cfg: cfg, platform: p, adapters: d.adapters, logger: p.Logger.With("service", name)}
	c.obs = decorator.Observability{Logger: c.logger, Metrics: p.Metrics}
	store, err := p.eventStore(d.ctx, name)
	if err != nil {
		return nil, err
	}
	c.store = d.adapters.store(name, store)
	if p.Tracing != nil {
		c.store = p.Tracing.Store(name, c.store)
	}
	c.snapshots = p.snapshotStore(name)
	if c.relay, err = p.newRelay(cfg, name, c.store); err != nil {
		return nil, err
	}
	parts, err := spec.build(c)
	if err != nil {
		return nil, err
	}
	proc, err := p.newProcessors(cfg, p.processedMessages(cfg))
	if err != nil {
		return nil, err
	}
	for _, sub := range spec.subscriptions {
		h, ok := parts.handlers[sub.handler]
		if !ok {
			return nil, fmt.Errorf("no handler built for %s", sub.handler)
		}
		events := h.Events()
		if sub.everyEvent {
			for _, name := range p.eventNames(sub.aggregateType) {
				if !slices.Contains(events, name) {
					return nil, fmt.Errorf("%s has no reaction to %s: every event moves the version of its view", sub.handler, name)
				}
			}
		}
		if err := proc.AddEventHandler(sub.handler, sub.aggregateType, events, d.adapters.handler(sub.handler, h), cqrs.EventHandlerOptions{Deduplicate: sub.deduplicate}); err != nil {
			return nil, err
		}
	}
	if len(parts.handlers) != len(spec.subscriptions) {
		return nil, fmt.Errorf("%d handlers built for %d subscriptions", len(parts.handlers), len(spec.subscriptions))
	}
	base := p.httpBase(cfg, name, c.logger)
	svc := &Service{
		Name:       name,
		Handler:    parts.api(base, httpport.Admin{}),
		Store:      c.store,
		snapshots:  c.snapshots,
		processors: proc,
		relay:      c.relay,
		rebuild:    parts.rebuild,
		onStart:    parts.onStart,
		background: parts.background,
		withAdmin:  func(admin httpport.Admin) http.Handler { return parts.api(base, admin) },
	}
	if svc.assignment, err = p.newAssignment(cfg, name, proc); err != nil {
		return nil, err
	}
	return svc, nil
}

// Topology lists every consumer group of the whole system, whichever services
// this process runs, from the services' subscriptions. Each process declares
// all of them when it starts, so that what one service publishes before
// another first starts waits in the other's queue (RabbitMQ drops messages
// an exchange has no queue for) or stream group (the trimmer keeps what a
// group has not read).
func Topology(topics cqrs.Topics) []cqrs.Binding {
	bindings := []cqrs.Binding{{ConsumerGroup: cqrs.DeadLetterArchiveGroup, Topic: topics.Poison()}}
	for p := range topics.Partitions {
		for _, s := range specs {
			for _, sub := range s.subscriptions {
				bindings = append(bindings, cqrs.Binding{ConsumerGroup: cqrs.PartitionName(sub.handler, p), Topic: topics.Events(sub.aggregateType, p)})
			}
		}
	}
	return bindings
}
