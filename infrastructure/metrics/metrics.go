// Package metrics exposes the system's Prometheus metrics: HTTP requests,
// commands, the event store, the relay, business counters, dead letters,
// circuit breakers and the brokers' backlog. Watermill's own router metrics
// (components/metrics) are registered on the same registry.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"shop/app/eventstore"
	"shop/domain/refusal"
)

// Namespace starts every metric's name.
const Namespace = "shop"

// Metrics are the process's metrics, on a registry of its own.
type Metrics struct {
	Registry *prometheus.Registry

	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	commandDuration *prometheus.HistogramVec
	appendDuration  *prometheus.HistogramVec
	appended        *prometheus.CounterVec
	conflicts       *prometheus.CounterVec
	relayLag        *prometheus.HistogramVec
	orders          *prometheus.CounterVec
	reservations    *prometheus.CounterVec
	notifications   *prometheus.CounterVec
	deadLetters     *prometheus.CounterVec
	parking         *prometheus.CounterVec
	mongoCommands   *prometheus.CounterVec
	busPublished    *prometheus.CounterVec
	busReadErrors   *prometheus.CounterVec
	partitionMoves  *prometheus.CounterVec
}

// New registers every metric, with the Go runtime's and the process's.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) prometheus.Collector { r.MustRegister(c); return c }
	fast := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}
	return &Metrics{
		Registry: r,
		httpRequests: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests by service, route, method and status."}, []string{"service", "route", "method", "status"})).(*prometheus.CounterVec),
		httpDuration: f(prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "http_request_duration_seconds",
			Help: "HTTP request latency by service, route, method and status.", Buckets: fast}, []string{"service", "route", "method", "status"})).(*prometheus.HistogramVec),
		commandDuration: f(prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "command_duration_seconds",
			Help: "Command handling time by command and outcome (ok, refused, failed).", Buckets: fast}, []string{"command", "outcome"})).(*prometheus.HistogramVec),
		appendDuration: f(prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "eventstore_append_duration_seconds",
			Help: "Event store append latency by service.", Buckets: fast}, []string{"service"})).(*prometheus.HistogramVec),
		appended: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "events_appended_total",
			Help: "Events appended to the event store, by service and type."}, []string{"service", "type"})).(*prometheus.CounterVec),
		conflicts: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "eventstore_conflicts_total",
			Help: "Appends refused because another writer appended first, by service."}, []string{"service"})).(*prometheus.CounterVec),
		relayLag: f(prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "relay_lag_seconds",
			Help: "Time from an event's append to its publish, by service.", Buckets: fast}, []string{"service"})).(*prometheus.HistogramVec),
		orders: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "orders_total",
			Help: "Orders by what happened to them: placed, confirmed, rejected, cancelled."}, []string{"event"})).(*prometheus.CounterVec),
		reservations: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "reservations_total",
			Help: "Stock reservations of orders by outcome: confirmed, rejected, cancelled."}, []string{"outcome"})).(*prometheus.CounterVec),
		notifications: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "notifications_total",
			Help: "Notification deliveries by channel and status: sent, logged (no provider for the channel), attempt_failed (tried again), failed (refused for good), given_up (attempts ran out)."}, []string{"channel", "status"})).(*prometheus.CounterVec),
		deadLetters: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "dead_letters_total",
			Help: "Messages set aside as dead letters, by handler."}, []string{"handler"})).(*prometheus.CounterVec),
		parking: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "parked_messages_total",
			Help: "Messages parked behind the dead letter of their aggregate (event parked), and handled once it was replayed or discarded (released), by handler."}, []string{"handler", "event"})).(*prometheus.CounterVec),
		mongoCommands: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "mongodb_commands_total",
			Help: "Commands sent to MongoDB, each one round trip, by database and command."}, []string{"database", "command"})).(*prometheus.CounterVec),
		busPublished: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "bus_messages_published_total",
			Help: "Messages this process published to the bus, by topic (without its partition)."}, []string{"topic"})).(*prometheus.CounterVec),
		busReadErrors: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "bus_read_errors_total",
			Help: "Failed reads of the bus by consumer group, and whether the group was missing and was created again (recreated true)."}, []string{"consumer_group", "recreated"})).(*prometheus.CounterVec),
		partitionMoves: f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "partition_moves_total",
			Help: "Partitions this replica took (direction in) or let go (out), by service and reason: acquired, rebalanced, stopping, lost, expired."}, []string{"service", "direction", "reason"})).(*prometheus.CounterVec),
	}
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveRequest records an HTTP request.
func (m *Metrics) ObserveRequest(service, route, method string, status int, took time.Duration) {
	s := strconv.Itoa(status)
	m.httpRequests.WithLabelValues(service, route, method, s).Inc()
	m.httpDuration.WithLabelValues(service, route, method, s).Observe(took.Seconds())
}

// ObserveCommand records a handled command. A refusal (the input or the
// state says no) is told apart from a failure (a bug, a dependency down).
func (m *Metrics) ObserveCommand(name string, took time.Duration, err error) {
	outcome := "ok"
	switch {
	case err == nil:
	case errors.Is(err, refusal.ErrRefused):
		outcome = "refused"
	default:
		outcome = "failed"
	}
	m.commandDuration.WithLabelValues(name, outcome).Observe(took.Seconds())
}

// MongoCommand counts a command sent to MongoDB.
func (m *Metrics) MongoCommand(database, command string) {
	m.mongoCommands.WithLabelValues(database, command).Inc()
}

// BusPublished counts messages published to a topic, named without its partition.
func (m *Metrics) BusPublished(topic string, n int) {
	m.busPublished.WithLabelValues(topic).Add(float64(n))
}

// BusReadFailed counts a failed read of a consumer group.
func (m *Metrics) BusReadFailed(consumerGroup string, recreated bool) {
	m.busReadErrors.WithLabelValues(consumerGroup, strconv.FormatBool(recreated)).Inc()
}

// DeadLetter counts a message set aside.
func (m *Metrics) DeadLetter(handler string) { m.deadLetters.WithLabelValues(handler).Inc() }

// Parking counts a message parked behind a dead letter (event "parked") or
// released after it ("released").
func (m *Metrics) Parking(handler, event string) { m.parking.WithLabelValues(handler, event).Inc() }

// Published records the relay's publish of a record.
func (m *Metrics) Published(service string, rec eventstore.Record, at time.Time) {
	if !rec.RecordedAt.IsZero() {
		m.relayLag.WithLabelValues(service).Observe(at.Sub(rec.RecordedAt).Seconds())
	}
}

// Business maps a stored event to the business counter it moves.
type Business func(rec eventstore.Record) (counter string, labels []string)

// Counter names a business counter for Business.
const (
	OrdersCounter        = "orders"
	ReservationsCounter  = "reservations"
	NotificationsCounter = "notifications"
)

func (m *Metrics) business(counter string, labels []string) {
	switch counter {
	case OrdersCounter:
		m.orders.WithLabelValues(labels...).Inc()
	case ReservationsCounter:
		m.reservations.WithLabelValues(labels...).Inc()
	case NotificationsCounter:
		m.notifications.WithLabelValues(labels...).Inc()
	}
}

// Store measures a service's event store: append latency, conflicts, and
// through business, the business counters of what was appended.
func (m *Metrics) Store(service string, s eventstore.Store, business Business) eventstore.Store {
	m.conflicts.WithLabelValues(service) // exported as zero until the first conflict
	return instrumentedStore{Store: s, m: m, service: service, business: business}
}

type instrumentedStore struct {
	eventstore.Store
	m        *Metrics
	service  string
	business Business
}

func (s instrumentedStore) Append(ctx context.Context, records []eventstore.Record) error {
	start := time.Now()
	err := s.Store.Append(ctx, records)
	s.m.appendDuration.WithLabelValues(s.service).Observe(time.Since(start).Seconds())
	if errors.Is(err, eventstore.ErrConflict) {
		s.m.conflicts.WithLabelValues(s.service).Inc()
	}
	if err != nil {
		return err
	}
	for _, rec := range records {
		s.m.appended.WithLabelValues(s.service, rec.Type).Inc()
		if s.business != nil {
			if counter, labels := s.business(rec); counter != "" {
				s.m.business(counter, labels)
			}
		}
	}
	return nil
}

// Pending reports how many records a service's relay holds.
func (m *Metrics) Pending(service string, pending func() int) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "relay_pending_events", Help: "Events appended and not yet published, by service.",
		ConstLabels: prometheus.Labels{"service": service},
	}, func() float64 { return float64(pending()) }))
}

// PartitionsOwned reports how many partitions of each of a service's
// handlers this replica consumes.
func (m *Metrics) PartitionsOwned(handlers []string, owned func() int) {
	for _, h := range handlers {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "partitions_owned", Help: "Partitions of a handler this replica consumes.",
			ConstLabels: prometheus.Labels{"handler": h},
		}, func() float64 { return float64(owned()) }))
	}
}

// PartitionMoved counts a partition this replica took or let go.
func (m *Metrics) PartitionMoved(service string, owned bool, reason string) {
	direction := "out"
	if owned {
		direction = "in"
	}
	m.partitionMoves.WithLabelValues(service, direction, reason).Inc()
}

// Breaker reports a circuit breaker's state: 0 closed, 1 half-open, 2 open.
func (m *Metrics) Breaker(dependency string, state func() string) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "circuit_breaker_state", Help: "Circuit breaker state by dependency: 0 closed, 1 half-open, 2 open.",
		ConstLabels: prometheus.Labels{"dependency": dependency},
	}, func() float64 {
		switch state() {
		case "open":
			return 2
		case "half-open":
			return 1
		}
		return 0
	}))
}

// Backlog reads how many messages wait for each consumer group.
type Backlog func(ctx context.Context) (map[string]float64, error)

// Broker reports the brokers' backlog per consumer group, read at most every
// ten seconds: a scrape must not load the broker.
func (m *Metrics) Broker(bus string, backlog Backlog) {
	m.Registry.MustRegister(&backlogCollector{bus: bus, read: backlog, desc: prometheus.NewDesc(
		prometheus.BuildFQName(Namespace, "", "broker_pending_messages"),
		"Messages waiting for a consumer group on the broker: queued on RabbitMQ, pending or unread on Redis Streams.",
		[]string{"bus", "consumer_group"}, nil)})
}

type backlogCollector struct {
	bus  string
	read Backlog
	desc *prometheus.Desc

	mu    sync.Mutex
	at    time.Time
	cache map[string]float64
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if time.Since(c.at) > 10*time.Second {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		// A count that cannot be read is not reported: an old one would
		// show a flat backlog for as long as the broker is down.
		v, err := c.read(ctx)
		if err != nil {
			v = nil
		}
		c.cache, c.at = v, time.Now()
		cancel()
	}
	values := c.cache
	c.mu.Unlock()
	for group, n := range values {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, n, c.bus, group)
	}
}
