package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"shop/app/eventstore"
	"shop/app/inventory"
	"shop/app/notifications"
	"shop/app/operations"
	"shop/app/orders"
	"shop/cqrs"
	domaininventory "shop/domain/inventory"
	"shop/domain/notification"
	"shop/domain/order"
	"shop/infrastructure/memory"
	"shop/infrastructure/metrics"
	"shop/infrastructure/mongo"
)

// newOperations builds the operators' use cases on the platform: the dead
// letter archive, replays from the given event stores, rebuilds of the given
// read models.
func (p *Platform) newOperations(ctx context.Context, stores map[string]eventstore.Store, rebuilds []operations.Rebuild, snapshotted []operations.Snapshotted) (*operations.Operations, error) {
	var deadLetters operations.DeadLetters = memory.NewDeadLetters()
	var runs operations.Runs = memory.NewRuns()
	if p.Mongo != nil {
		var err error
		if deadLetters, err = mongo.NewDeadLetters(ctx, p.Mongo); err != nil {
			return nil, err
		}
		if runs, err = mongo.NewRuns(ctx, p.Mongo); err != nil {
			return nil, err
		}
	}
	events, err := cqrs.NewEventBus(p.Bus.Publisher, p.Topics, p.Marshaler, p.Tracing, cqrs.WatermillLogger(p.Logger))
	if err != nil {
		return nil, err
	}
	return operations.New(operations.Config{
		DeadLetters: deadLetters, Parking: p.Parking, Runs: runs, Republisher: cqrs.Republisher{Publisher: p.Bus.Publisher},
		Events: events, Stores: stores, Rebuilds: rebuilds, Clock: p.Clock, IDs: p.IDs,
		Vault: p.Vault, Archive: p.archiveEraser(), Snapshotted: snapshotted,
	})
}

// newDeadLetterRouter archives poisoned messages, and counts them.
func (p *Platform) newDeadLetterRouter(ops *operations.Operations, closeTimeout time.Duration) (*message.Router, error) {
	sub, err := p.Bus.Subscribers(cqrs.DeadLetterArchiveGroup)
	if err != nil {
		return nil, err
	}
	return cqrs.NewDeadLetterRouter(sub, p.Topics, countedArchive{ops, p.Metrics}, closeTimeout, p.Logger)
}

type countedArchive struct {
	archive cqrs.Archiver
	metrics *metrics.Metrics
}

func (c countedArchive) Archive(ctx context.Context, d operations.DeadLetter) error {
	if err := c.archive.Archive(ctx, d); err != nil {
		return err
	}
	c.metrics.DeadLetter(d.HandlerName())
	return nil
}

// Rebuilds of each read model, from the live read model of a running service.

// Projections names the read models that can be rebuilt. The notifications
// service keeps none: its queries are answered from the event store.
var Projections = []string{ordersProjection, productsProjection}

const (
	ordersProjection   = "orders"
	productsProjection = "products"
)

func ordersRebuild(store eventstore.Store, live orders.OrderViews) (operations.Rebuild, error) {
	r := operations.Rebuild{Name: ordersProjection, Store: store, AggregateTypes: []string{order.AggregateType}}
	switch v := live.(type) {
	case *memory.OrderViews:
		return inMemory(r, v, memory.NewOrderViews, func(m *memory.OrderViews) (operations.Projector, error) { return orders.NewOrderProjection(m) }), nil
	case *mongo.OrderViews:
		return inMongo(r, v.Rebuilding, v.RebuildLease, func(m *mongo.OrderViews) (operations.Projector, error) { return orders.NewOrderProjection(m) }), nil
	}
	return r, fmt.Errorf("orders read model %T cannot be rebuilt", live)
}

func productsRebuild(store eventstore.Store, live inventory.ProductViews) (operations.Rebuild, error) {
	r := operations.Rebuild{Name: productsProjection, Store: store, AggregateTypes: []string{domaininventory.StockAggregateType}}
	switch v := live.(type) {
	case *memory.ProductViews:
		return inMemory(r, v, memory.NewProductViews, func(m *memory.ProductViews) (operations.Projector, error) { return inventory.NewProductProjection(m) }), nil
	case *mongo.ProductViews:
		return inMongo(r, v.Rebuilding, v.RebuildLease, func(m *mongo.ProductViews) (operations.Projector, error) { return inventory.NewProductProjection(m) }), nil
	}
	return r, fmt.Errorf("products read model %T cannot be rebuilt", live)
}

// inMemory rebuilds a read model in memory: a fresh copy is filled, then its
// content replaces the live one's, and the events after that go to the live
// one.
func inMemory[M interface{ Replace(M) }](r operations.Rebuild, live M, fresh func() M, project func(M) (operations.Projector, error)) operations.Rebuild {
	r.Begin = func(context.Context) (operations.Replacement, error) {
		copy := fresh()
		toCopy, err := project(copy)
		if err != nil {
			return nil, err
		}
		toLive, err := project(live)
		if err != nil {
			return nil, err
		}
		return operations.NewReplacement(toCopy, toLive,
			operations.Steps{Swap: func(context.Context) error { live.Replace(copy); return nil }}), nil
	}
	return r
}

// inMongo rebuilds a read model on MongoDB into a fresh collection, which the
// read model's pointer then names: the events after that go to it too.
func inMongo[M any](r operations.Rebuild, rebuilding func(context.Context) (M, operations.Steps, error), lease func(context.Context) (operations.Lease, error), project func(M) (operations.Projector, error)) operations.Rebuild {
	r.Settle = 2 * mongo.PointerTTL
	r.Lease = lease
	r.Begin = func(ctx context.Context) (operations.Replacement, error) {
		copy, steps, err := rebuilding(ctx)
		if err != nil {
			return nil, err
		}
		p, err := project(copy)
		if err != nil {
			return nil, err
		}
		return operations.NewReplacement(p, p, steps), nil
	}
	return r
}

// Tools are the operators' use cases of a process that serves nothing: the
// command line's. They reach every service's data in MongoDB and the bus.
type Tools struct {
	*operations.Operations
	platform *Platform
}

// NewTools connects to the configured servers for the operators' commands.
// They need MongoDB: in the embedded mode the data lives in the serving
// process, whose admin HTTP API offers the same tools.
func NewTools(ctx context.Context, cfg Config, logger *slog.Logger) (*Tools, error) {
	if cfg.MongoURL == "" {
		return nil, errors.New("the operators' commands read MongoDB, and MONGODB_URL is not set; in the embedded mode use the admin HTTP API of the running orders service (ADMIN_TOKEN)")
	}
	platform, err := newPlatform(ctx, cfg, logger, Adapters{})
	if err != nil {
		return nil, err
	}
	ops, err := platform.toolOperations(ctx)
	if err != nil {
		_ = platform.close()
		return nil, err
	}
	return &Tools{Operations: ops, platform: platform}, nil
}

func (p *Platform) toolOperations(ctx context.Context) (*operations.Operations, error) {
	return p.operationsOf(ctx, func(string) *Service { return nil })
}

// operationsOf builds the operators' use cases on every service's event
// store and read model: those of the services running here as they run, the
// others' opened from MongoDB. In memory, only the data of the services
// running here exists.
func (p *Platform) operationsOf(ctx context.Context, running func(name string) *Service) (*operations.Operations, error) {
	stores := map[string]eventstore.Store{}
	var rebuilds []operations.Rebuild
	var snapshotted []operations.Snapshotted
	for _, name := range AllServices {
		var snapshots eventstore.Snapshots
		if svc := running(name); svc != nil {
			stores[name], snapshots = svc.Store, svc.snapshots
			if svc.rebuild.Name != "" {
				rebuilds = append(rebuilds, svc.rebuild)
			}
		} else {
			if p.Mongo == nil {
				continue
			}
			store, rebuild, err := p.storeAndRebuild(ctx, name)
			if err != nil {
				return nil, err
			}
			stores[name], snapshots = store, p.snapshotStore(name)
			if rebuild.Name != "" {
				rebuilds = append(rebuilds, rebuild)
			}
		}
		s, err := p.snapshotted(name, stores[name], snapshots)
		if err != nil {
			return nil, err
		}
		snapshotted = append(snapshotted, s...)
	}
	return p.newOperations(ctx, stores, rebuilds, snapshotted)
}

// storeAndRebuild opens a service's event store and the rebuild of its read
// model, if it keeps one.
func (p *Platform) storeAndRebuild(ctx context.Context, name string) (eventstore.Store, operations.Rebuild, error) {
	store, err := p.eventStore(ctx, name)
	if err != nil {
		return nil, operations.Rebuild{}, err
	}
	var rebuild operations.Rebuild
	switch name {
	case Orders:
		var views orders.OrderViews
		if views, err = p.orderViews(ctx); err == nil {
			rebuild, err = ordersRebuild(store, views)
		}
	case Inventory:
		var views inventory.ProductViews
		if views, err = p.productViews(ctx); err == nil {
			rebuild, err = productsRebuild(store, views)
		}
	case Notifications:
	default:
		err = fmt.Errorf("unknown service %q", name)
	}
	return store, rebuild, err
}

// Close closes the connections.
func (t *Tools) Close() error { return t.platform.close() }

// snapshotted lists a service's aggregate types with their streams and
// snapshots, for the operators to rebuild and, in an erasure, delete the
// snapshots. Its repositories take snapshots only: they append nothing.
func (p *Platform) snapshotted(service string, store eventstore.Store, snapshots eventstore.Snapshots) ([]operations.Snapshotted, error) {
	var out []operations.Snapshotted
	var err error
	add := func(s operations.Snapshotted, e error) {
		out, err = append(out, s), errors.Join(err, e)
	}
	switch service {
	case Orders:
		add(snapshotted(p, order.AggregateType, store, snapshots, orders.NewRepository))
	case Inventory:
		add(snapshotted(p, domaininventory.StockAggregateType, store, snapshots, inventory.NewStockRepository))
		add(snapshotted(p, domaininventory.ReservationAggregateType, store, snapshots, inventory.NewReservationRepository))
	case Notifications:
		add(snapshotted(p, notification.AggregateType, store, snapshots, notifications.NewRepository))
	default:
		return nil, fmt.Errorf("unknown service %q", service)
	}
	return out, err
}

func snapshotted[A eventstore.Aggregate](p *Platform, aggregateType string, store eventstore.Store, snapshots eventstore.Snapshots,
	build func(eventstore.RepositoryConfig[A]) (*eventstore.Repository[A], error)) (operations.Snapshotted, error) {
	repo, err := build(eventstore.RepositoryConfig[A]{
		Store: store, Outbox: noAppends{}, Clock: p.Clock, IDs: p.IDs, Sealer: p.Vault, CacheSize: -1,
		Snapshots: snapshotPolicy(p.snapshotEvery[aggregateType], snapshots, p.Logger),
	})
	if err != nil {
		return operations.Snapshotted{}, err
	}
	return operations.Snapshotted{AggregateType: aggregateType, Store: store, Snapshots: snapshots, Take: repo.TakeSnapshot}, nil
}

// noAppends is the outbox of repositories that append nothing.
type noAppends struct{}

func (noAppends) Begin(context.Context) (eventstore.Slip, error) {
	return nil, errors.New("the operators' repositories append nothing")
}
