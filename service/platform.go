package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"shop/app/eventstore"
	"shop/app/operations"
	"shop/app/personal"
	"shop/cqrs"
	"shop/domain/inventory"
	"shop/domain/notification"
	"shop/domain/order"
	"shop/infrastructure/breaker"
	"shop/infrastructure/memory"
	"shop/infrastructure/metrics"
	"shop/infrastructure/mongo"
	"shop/infrastructure/notifier"
	"shop/infrastructure/redis"
	"shop/infrastructure/system"
	"shop/infrastructure/tracing"
	"shop/ports/httpport"
)

// Platform is what the services of one process share: the bus, the
// connections to MongoDB and Redis, the event type registry, the clock and
// the logger. Each service still keeps its own data.
type Platform struct {
	Logger    *slog.Logger
	Registry  *eventstore.Registry
	Marshaler cqrs.Marshaler
	Topics    cqrs.Topics
	Bus       Bus
	Clock     eventstore.Clock
	IDs       eventstore.IDs
	Metrics   *metrics.Metrics

	// Mongo and Redis are nil when the stores are in memory.
	Mongo *mongo.Client
	Redis *redis.Client
	// Vault seals and opens customers' personal data with their keys, kept
	// in MongoDB, or in memory beside the stores.
	Vault *personal.Vault
	// Senders deliver notifications, each provider behind its breaker.
	Senders        *notifier.Channels
	senderBreakers []*breaker.Breaker
	// Tracing, when on, traces requests, appends, publishes and deliveries.
	Tracing *tracing.Tracing
	// Parking holds the messages of aggregates whose earlier message is a
	// dead letter, for every handler: in MongoDB's operations database, or
	// in memory beside the stores.
	Parking operations.Parking
	// Leases spread each service's partitions over its replicas: in Redis
	// when it is configured, else in memory (one process).
	Leases cqrs.Leases
	// member names this process among the replicas of its services.
	member string
	// snapshotEvery is Config.SnapshotEvery.
	snapshotEvery map[string]int
	// assignments share each service's partitions with its other replicas.
	assignments sync.Map // service name → *cqrs.Assignment
	// routerEnded hears of every router whose Run returned on its own, with
	// its error: its handlers are left without messages, and the process
	// must not go on as if it served.
	routerEnded chan error

	closers []func() error
}

// Bus is a message broker as the services use it.
type Bus struct {
	// Name is the dependency's name in /health.
	Name        string
	Publisher   message.Publisher
	Subscribers cqrs.SubscriberFactory
	// Declare makes a consumer group exist on a topic before anything reads
	// it, so that what is published in the meantime waits for it.
	Declare func(ctx context.Context, consumerGroup, topic string) error
	// Requeue, when set, is what handlers publish into the topics they read
	// with (cqrs.RouterConfig.Requeue).
	Requeue message.Publisher
	// takeOver, when set, is done for each consumer group of a partition
	// that comes to this replica, before it subscribes (cqrs.ProcessorsConfig).
	takeOver func(ctx context.Context, consumerGroup, topic string) error
	// exclusive says the broker itself lets one consumer at a time take a
	// queue's messages (cqrs.AssignmentConfig.KeepWhenUnreachable).
	exclusive bool
	Check     func(context.Context) error
	Close     func() error
	// run is work the bus does while the system runs (trimming streams,
	// keeping held entries from being claimed).
	run func(ctx context.Context)
	// backlog reads the messages waiting per consumer group; nil in process.
	backlog metrics.Backlog
	// readFailures lists the consumer groups that cannot read; nil where the
	// bus does not tell.
	readFailures httpport.ReadFailures
}

// aggregates are the aggregate types of every bounded context, with their events.
func aggregates() []eventstore.AggregateEvents {
	return []eventstore.AggregateEvents{
		{AggregateType: order.AggregateType, Events: order.Events()},
		{AggregateType: inventory.StockAggregateType, Events: inventory.StockEvents()},
		{AggregateType: inventory.ReservationAggregateType, Events: inventory.ReservationEvents()},
		{AggregateType: notification.AggregateType, Events: notification.Events()},
	}
}

// AggregateTypes names every aggregate type.
var AggregateTypes = func() []string {
	var names []string
	for _, a := range aggregates() {
		names = append(names, a.AggregateType)
	}
	return names
}()

// NewRegistry registers the events of every bounded context.
func NewRegistry() (*eventstore.Registry, error) {
	return eventstore.NewRegistry(aggregates()...)
}

// personalKeyCacheTTL is how long a process uses a customer's key without
// reading it again: the notifications of one order share one read. An
// erasure answers this long after deleting the key. It is no setting, since
// every process of a deployment must agree on it.
const personalKeyCacheTTL = 5 * time.Second

// newPlatform connects to the configured servers; the adapters' key store of
// personal data and parking, when set, replace those it would open.
func newPlatform(ctx context.Context, cfg Config, logger *slog.Logger, adapters Adapters) (_ *Platform, err error) {
	registry, err := NewRegistry()
	if err != nil {
		return nil, err
	}
	p := &Platform{
		Logger:        logger,
		Registry:      registry,
		Marshaler:     cqrs.Marshaler{Registry: registry},
		Topics:        cfg.Topics,
		Clock:         system.Clock{},
		IDs:           system.IDs{},
		Metrics:       metrics.New(),
		Leases:        cqrs.NewMemoryLeases(),
		member:        memberName(cfg),
		snapshotEvery: cfg.SnapshotEvery,
		routerEnded:   make(chan error, 64),
	}
	// The notifications service alone sends: a process without it builds
	// no sender nor their breakers, and the senders' log lines say whose.
	if cfg.notifies() {
		if p.Senders, p.senderBreakers, err = newSenders(cfg, logger.With("service", Notifications), breakerLogger(logger)); err != nil {
			return nil, err
		}
	}
	for _, b := range p.senderBreakers {
		p.Metrics.Breaker(b.Name(), b.State)
	}
	defer func() {
		if err != nil {
			_ = p.close()
		}
	}()
	if cfg.MongoURL != "" {
		if p.Mongo, err = mongo.Connect(cfg.MongoURL, cfg.MongoDatabasePrefix, breaker.New("mongodb", cfg.Breaker, breakerLogger(logger)), p.Metrics.MongoCommand); err != nil {
			return nil, err
		}
		p.closers = append(p.closers, func() error { return p.Mongo.Close(context.Background()) })
		p.Metrics.Breaker(p.Mongo.Breaker().Name(), p.Mongo.Breaker().State)
	}
	keys := adapters.PersonalKeys
	switch {
	case keys != nil:
	case p.Mongo != nil:
		keys = mongo.NewPersonalKeys(p.Mongo)
	default:
		keys = memory.NewPersonalKeys()
	}
	switch {
	case adapters.Tracing != nil:
		p.Tracing = adapters.Tracing
	default:
		traces := cfg.Tracing
		traces.ServiceName = cfg.traceServiceName()
		if p.Tracing, err = tracing.New(ctx, traces); err != nil {
			return nil, err
		}
		if p.Tracing != nil {
			// Closed last (closers run backwards): the spans of the
			// shutdown are exported too.
			p.closers = append([]func() error{func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				return p.Tracing.Shutdown(ctx)
			}}, p.closers...)
		}
	}
	if err := p.openParking(ctx, adapters.Parking); err != nil {
		return nil, fmt.Errorf("parking: %w", err)
	}
	if p.Vault, err = personal.NewVault(personal.Config{Keys: keys, CacheTTL: personalKeyCacheTTL}); err != nil {
		return nil, err
	}
	if cfg.RedisURL != "" {
		if p.Redis, err = redis.Connect(cfg.RedisURL, cfg.RedisKeyPrefix, breaker.New("redis", cfg.Breaker, breakerLogger(logger))); err != nil {
			return nil, err
		}
		p.closers = append(p.closers, p.Redis.Close)
		p.Metrics.Breaker(p.Redis.Breaker().Name(), p.Redis.Breaker().State)
		if cfg.Bus != BusGoChannel { // one process: nothing to share
			p.Leases = redis.NewLeases(p.Redis)
		}
	}
	if p.Bus, err = buses[cfg.Bus].open(cfg, logger, p.Metrics.BusReadFailed); err != nil {
		return nil, err
	}
	p.Bus.Publisher = countingPublisher{Publisher: p.Bus.Publisher, topics: cfg.Topics, metrics: p.Metrics}
	if p.Bus.backlog != nil {
		p.Metrics.Broker(p.Bus.Name, p.Bus.backlog)
	}
	return p, nil
}

func breakerLogger(logger *slog.Logger) func(name, from, to string) {
	return func(name, from, to string) {
		logger.Warn("circuit breaker changed state", "dependency", name, "from", from, "to", to)
	}
}

// openParking opens the parking of held aggregates, unless one is given.
func (p *Platform) openParking(ctx context.Context, given operations.Parking) (err error) {
	switch {
	case given != nil:
		p.Parking = given
	case p.Mongo == nil:
		p.Parking = memory.NewParking()
	default:
		p.Parking, err = mongo.NewParking(ctx, p.Mongo)
	}
	return err
}

// close closes the bus, then the connections.
func (p *Platform) close() error {
	var errs []error
	if p.Bus.Close != nil {
		errs = append(errs, p.Bus.Close())
	}
	for i := len(p.closers) - 1; i >= 0; i-- {
		errs = append(errs, p.closers[i]())
	}
	return errors.Join(errs...)
}

// countingPublisher counts what the process publishes, per topic without
// its partition, so that the messages an order costs can be read off the
// metrics.
type countingPublisher struct {
	message.Publisher
	topics  cqrs.Topics
	metrics *metrics.Metrics
}

func (p countingPublisher) Publish(topic string, msgs ...*message.Message) error {
	err := p.Publisher.Publish(topic, msgs...)
	if err == nil {
		p.metrics.BusPublished(p.topics.Family(topic), len(msgs))
	}
	return err
}

// newProcessors builds one service's processors on the platform's bus,
// with the router every partition of it runs on.
func (p *Platform) newProcessors(cfg Config, dedup cqrs.ProcessedMessages) (*cqrs.Processors, error) {
	// Every event type of the system is known, also those this router's
	// handlers ignore: an event of another type on a topic they read is
	// acknowledged, not poisoned.
	known := cqrs.NewKnownNames(p.Registry.Names()...)
	deduplicator := cqrs.NewDeduplicator(dedup, p.Logger)
	routerCfg := cfg.Router
	routerCfg.Metrics = p.Metrics.Registry
	routerCfg.CloseTimeout = cfg.ShutdownTimeout
	routerCfg.Requeue = p.Bus.Requeue
	routerCfg.Parking = p.Parking
	routerCfg.Parked = p.Metrics.Parking
	routerCfg.Tracing = p.Tracing
	if _, err := cqrs.NewRouter(routerCfg, p.Bus.Publisher, p.Topics, known, deduplicator, p.Logger); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	processors, err := cqrs.NewProcessors(cqrs.ProcessorsConfig{
		NewRouter: func() (*message.Router, error) {
			return cqrs.NewRouter(routerCfg, p.Bus.Publisher, p.Topics, known, deduplicator, p.Logger)
		},
		Topics: p.Topics, Marshaler: p.Marshaler, Subscribers: p.Bus.Subscribers, TakeOver: p.Bus.takeOver,
		Known: known, Dedup: deduplicator,
		Ended: func(partition int, err error) {
			select {
			case p.routerEnded <- fmt.Errorf("the router of partition %d stopped: %w", partition, err):
			default: // the process is told already
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("processors: %w", err)
	}
	return processors, nil
}

// newAssignment shares the partitions of a service's handlers with the
// service's other replicas.
func (p *Platform) newAssignment(cfg Config, service string, processors *cqrs.Processors) (*cqrs.Assignment, error) {
	a, err := cqrs.NewAssignment(cqrs.AssignmentConfig{
		Group:               p.Topics.Prefix + service,
		Member:              p.member,
		Partitions:          p.Topics.Partitions,
		Leases:              p.Leases,
		TTL:                 cfg.PartitionLeaseTTL,
		KeepWhenUnreachable: p.Bus.exclusive,
		Start:               processors.StartPartition,
		Moved: func(_ int, owned bool, reason string) {
			p.Metrics.PartitionMoved(service, owned, reason)
		},
		Logger: p.Logger.With("service", service),
	})
	if err != nil {
		return nil, err
	}
	p.Metrics.PartitionsOwned(processors.Handlers(), func() int { return len(a.Owned()) })
	p.assignments.Store(service, a)
	return a, nil
}

// memberName names this process among its services' replicas: the host
// name (or REDIS_CONSUMER_NAME) where one is set, with the process id and a
// random tail, since replicas may share a host and a restarted process is a
// new member.
func memberName(cfg Config) string {
	name := cfg.Streams.Consumer
	if name == "" {
		name = "process"
	}
	return fmt.Sprintf("%s-%d-%s", name, os.Getpid(), uuid.NewString()[:8])
}

// newRelay builds the relay of one service's event store.
func (p *Platform) newRelay(cfg Config, service string, store eventstore.Store) (*cqrs.Relay, error) {
	bus, err := cqrs.NewEventBus(p.Bus.Publisher, p.Topics, p.Marshaler, p.Tracing, cqrs.WatermillLogger(p.Logger))
	if err != nil {
		return nil, err
	}
	relay, err := cqrs.NewRelay(cqrs.RelayConfig{
		Store: store, Publisher: bus, Topics: p.Topics, Logger: p.Logger, Holder: p.holder(cfg, service),
		SweepInterval: cfg.RelaySweepInterval, SweepAge: cfg.RelaySweepAge,
		Published: func(rec eventstore.Record, at time.Time) { p.Metrics.Published(service, rec, at) },
	})
	if err != nil {
		return nil, err
	}
	p.Metrics.Pending(service, relay.Pending)
	return relay, nil
}

// holder names a service's relay in the origins it holds, for operators: the
// process's name where it has one, with its process id.
func (p *Platform) holder(cfg Config, service string) string {
	name := cfg.Streams.Consumer
	if name == "" {
		name = "pid"
	}
	return fmt.Sprintf("%s/%d/%s", name, os.Getpid(), service)
}

// httpBase is what every service's API shares.
func (p *Platform) httpBase(cfg Config, service string, logger *slog.Logger) httpport.Base {
	base := httpport.Base{Service: service, Logger: logger, Health: p.health(cfg), Metrics: p.Metrics, MetricsHandler: p.Metrics.Handler()}
	if p.Tracing != nil {
		base.Trace = p.Tracing.HTTP(service)
	}
	return base
}

// eventNames lists every event type of an aggregate type: projections handle
// them all, since every event moves the version they keep.
func (p *Platform) eventNames(aggregateType string) []string {
	var names []string
	for _, t := range p.Registry.EventTypes(aggregateType) {
		names = append(names, t.Name())
	}
	return names
}

// health lists the dependencies /health reports, and the breakers.
func (p *Platform) health(cfg Config) *httpport.Health {
	deps := []httpport.Dependency{{Name: p.Bus.Name, Required: true, Check: p.Bus.Check}}
	var breakers []httpport.Breaker
	for _, b := range p.senderBreakers {
		breakers = append(breakers, b)
	}
	if p.Mongo != nil {
		deps = append(deps, httpport.Dependency{Name: "mongodb", Required: true, Check: p.Mongo.Ping})
		breakers = append(breakers, p.Mongo.Breaker())
	}
	if p.Redis != nil && cfg.Bus != BusRedis {
		// Redis only remembers idempotency keys and handled messages here:
		// without it the service goes on (see README), degraded.
		deps = append(deps, httpport.Dependency{Name: "redis", Required: false, Check: p.Redis.Ping})
	}
	if p.Redis != nil {
		breakers = append(breakers, p.Redis.Breaker())
	}
	h := httpport.NewHealth(breakers, p.Bus.readFailures, deps...)
	h.Partitions = p.partitionsOwned
	if cfg.notifies() {
		h.Senders = p.Senders.Describe()
	}
	return h
}

// partitionsOwned lists the partitions each service of the process consumes.
func (p *Platform) partitionsOwned() map[string][]int {
	owned := map[string][]int{}
	p.assignments.Range(func(service, a any) bool {
		owned[service.(string)] = append([]int{}, a.(*cqrs.Assignment).Owned()...)
		return true
	})
	return owned
}
