package service

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"shop/cqrs"
	domaininventory "shop/domain/inventory"
	"shop/infrastructure/amqp"
	"shop/infrastructure/breaker"
	"shop/infrastructure/logging"
	"shop/infrastructure/redis"
	"shop/infrastructure/tracing"
)

// Buses the services can talk over.
const (
	BusGoChannel = "gochannel"
	BusAMQP      = "amqp"
	BusRedis     = "redis"
)

// Names of the services.
const (
	Orders        = "orders"
	Inventory     = "inventory"
	Notifications = "notifications"
)

// Config is everything a process needs to run some of the services. With no
// environment set, everything runs embedded: an in-process bus and in-memory stores.
type Config struct {
	// Services to run; all of them by default.
	Services []string
	// Host is the address the HTTP servers listen on; all interfaces by default.
	Host string
	// Ports of each service's HTTP API.
	Ports map[string]int

	LogLevel  slog.Level
	LogFormat logging.Format

	Router cqrs.RouterConfig
	Topics cqrs.Topics
	// PartitionLeaseTTL is how long a replica that stopped renewing keeps
	// its partitions (PARTITION_LEASE_TTL): the time a dead replica's
	// partitions wait before the survivors take them.
	PartitionLeaseTTL time.Duration

	// IdempotencyTTL is how long an HTTP Idempotency-Key is remembered.
	IdempotencyTTL time.Duration
	// DedupTTL is how long a handled message id is remembered.
	DedupTTL time.Duration
	// DedupMemoryMax caps how many message ids the in-memory deduplication keeps.
	DedupMemoryMax int
	// NotificationMaxAttempts is how often a notification is tried before it is given up on.
	NotificationMaxAttempts int
	// NotificationRetryDelay is the wait after a notification's first failed
	// attempt; it doubles after each.
	NotificationRetryDelay time.Duration
	// Notify holds the notification providers.
	Notify NotifyConfig
	// SnapshotEvery is, per aggregate type, how many events apart its
	// streams are snapshotted (SNAPSHOT_EVERY=stock=100,order=0); 0, or a
	// type not named, takes none.
	SnapshotEvery map[string]int
	// DemoCatalog adds a few products, among them prod-123, when the inventory starts.
	DemoCatalog bool
	// RelaySweepInterval and RelaySweepAge tune how records that no live
	// process will publish are found (see cqrs.RelayConfig).
	RelaySweepInterval time.Duration
	RelaySweepAge      time.Duration
	// ShutdownTimeout bounds each step of a graceful stop.
	ShutdownTimeout time.Duration

	// Bus is gochannel (in process), amqp or redis.
	Bus     string
	AMQP    amqp.Config
	Streams redis.StreamsConfig
	// RedisURL, when set, keeps idempotency keys and handled message ids in
	// Redis; BUS=redis needs it. RedisKeyPrefix starts every key.
	RedisURL       string
	RedisKeyPrefix string
	// StreamTrimInterval is how often acknowledged stream entries are trimmed.
	StreamTrimInterval time.Duration
	// MongoURL, when set, keeps event stores and read models in MongoDB, one
	// database per service, named MongoDatabasePrefix+service.
	MongoURL            string
	MongoDatabasePrefix string
	// Breaker guards MongoDB, Redis and the notification sender.
	Breaker breaker.Config
	// AdminToken opens the admin API on the orders port to requests bearing
	// it; without it the admin API is off.
	AdminToken string
	// Tracing exports spans over OTLP when the OTEL_* variables ask for it.
	Tracing tracing.Config
}

// DefaultConfig is the embedded configuration.
func DefaultConfig() Config {
	return Config{
		Services:  slices.Clone(AllServices),
		Ports:     map[string]int{Orders: 3001, Inventory: 3002, Notifications: 3003},
		LogLevel:  slog.LevelInfo,
		LogFormat: logging.FormatAuto,
		Router: cqrs.RouterConfig{
			MaxRetries:       3,
			RetryDelay:       time.Second,
			MaxRetryDelay:    30 * time.Second,
			HandlerTimeout:   time.Minute,
			UnavailableDelay: time.Second,
			EarlyPatience:    10 * time.Minute,
		},
		Topics:                  cqrs.Topics{Partitions: 16},
		PartitionLeaseTTL:       6 * time.Second,
		IdempotencyTTL:          24 * time.Hour,
		DedupTTL:                24 * time.Hour,
		DedupMemoryMax:          1_000_000,
		NotificationMaxAttempts: 5,
		NotificationRetryDelay:  30 * time.Second,
		// A product is reserved and released with every order: its stream is
		// the one that grows. The others end after a handful of events.
		SnapshotEvery:      map[string]int{domaininventory.StockAggregateType: 100},
		DemoCatalog:        true,
		RelaySweepInterval: 5 * time.Second,
		RelaySweepAge:      30 * time.Second,
		ShutdownTimeout:    10 * time.Second,
		Bus:                BusGoChannel,
		AMQP:               amqp.Config{URL: "amqp://guest:guest@localhost:5672/", Prefetch: 50, ChannelPoolSize: 16, Confirms: true},
		Streams:            redis.StreamsConfig{ClaimIdle: time.Minute},
		RedisKeyPrefix:     "shop:",
		StreamTrimInterval: time.Minute,
		Breaker:            breaker.DefaultConfig(),
	}
}

// ConfigFromEnv reads the configuration from environment variables through
// lookup (os.LookupEnv in a process); hostname names this process in Redis
// consumer groups unless REDIS_CONSUMER_NAME does. Every bad value is
// reported, and none is ignored.
func ConfigFromEnv(lookup func(string) (string, bool), hostname string) (Config, error) {
	c := DefaultConfig()
	c.Streams.Consumer = hostname
	e := envReader{lookup: lookup}
	if s, ok := lookup("SERVICES"); ok && s != "" {
		services, err := ParseServices(s)
		e.fail("SERVICES", err)
		c.Services = services
	}
	c.Host = e.str("HOST", c.Host)
	for _, name := range AllServices {
		c.Ports[name] = e.port(strings.ToUpper(name)+"_PORT", c.Ports[name])
	}
	if _, ok := lookup("PORT"); ok {
		if len(c.Services) != 1 {
			e.fail("PORT", errors.New("sets the port of a single service; with several, use ORDERS_PORT, INVENTORY_PORT and NOTIFICATIONS_PORT"))
		} else {
			c.Ports[c.Services[0]] = e.port("PORT", 0)
		}
	}
	if s, ok := lookup("LOG_LEVEL"); ok {
		l, err := logging.ParseLevel(s)
		e.fail("LOG_LEVEL", err)
		c.LogLevel = l
	}
	if s, ok := lookup("LOG_FORMAT"); ok {
		f, err := logging.ParseFormat(s)
		e.fail("LOG_FORMAT", err)
		c.LogFormat = f
	}
	c.Router.MaxRetries = e.integer("MAX_RETRIES", c.Router.MaxRetries, 0, 100)
	c.Router.RetryDelay = e.millis("RETRY_DELAY", c.Router.RetryDelay)
	c.Router.MaxRetryDelay = e.millis("MAX_RETRY_DELAY", c.Router.MaxRetryDelay)
	c.Router.HandlerTimeout = e.millis("HANDLER_TIMEOUT", c.Router.HandlerTimeout)
	c.Router.UnavailableDelay = e.millis("UNAVAILABLE_DELAY", c.Router.UnavailableDelay)
	c.Router.EarlyPatience = e.millis("EARLY_PATIENCE", c.Router.EarlyPatience)
	c.Router.ThrottlePerSecond = e.integer("THROTTLE_PER_SECOND", 0, 0, 1_000_000)
	c.Topics.Partitions = e.integer("PARTITIONS", c.Topics.Partitions, 1, 256)
	c.Topics.Prefix = e.str("TOPIC_PREFIX", "")
	c.PartitionLeaseTTL = e.millis("PARTITION_LEASE_TTL", c.PartitionLeaseTTL)
	c.IdempotencyTTL = e.seconds("IDEMPOTENCY_TTL", c.IdempotencyTTL)
	c.DedupTTL = e.seconds("DEDUP_TTL", c.DedupTTL)
	c.DedupMemoryMax = e.integer("DEDUP_MEMORY_MAX", c.DedupMemoryMax, 1, 100_000_000)
	c.NotificationMaxAttempts = e.integer("NOTIFICATION_MAX_ATTEMPTS", c.NotificationMaxAttempts, 1, 100)
	c.NotificationRetryDelay = e.millis("NOTIFICATION_RETRY_DELAY", c.NotificationRetryDelay)
	if s, ok := lookup("SNAPSHOT_EVERY"); ok {
		every, err := ParseSnapshotEvery(s)
		e.fail("SNAPSHOT_EVERY", err)
		if err == nil {
			c.SnapshotEvery = every
		}
	}
	c.DemoCatalog = e.boolean("DEMO_CATALOG", c.DemoCatalog)
	c.RelaySweepInterval = e.millis("RELAY_SWEEP_INTERVAL", c.RelaySweepInterval)
	c.RelaySweepAge = e.millis("RELAY_SWEEP_AGE", c.RelaySweepAge)
	c.ShutdownTimeout = e.millis("SHUTDOWN_TIMEOUT", c.ShutdownTimeout)

	c.Bus = strings.ToLower(e.str("BUS", c.Bus))
	c.AMQP.URL = e.str("RABBITMQ_URL", c.AMQP.URL)
	c.AMQP.Prefetch = e.integer("AMQP_PREFETCH", c.AMQP.Prefetch, 1, 65535)
	c.AMQP.ChannelPoolSize = e.integer("AMQP_CHANNEL_POOL", c.AMQP.ChannelPoolSize, 0, 1024)
	c.AMQP.Confirms = e.boolean("AMQP_CONFIRMS", c.AMQP.Confirms)
	c.RedisURL = e.str("REDIS_URL", "")
	c.RedisKeyPrefix = e.str("REDIS_KEY_PREFIX", c.RedisKeyPrefix)
	c.Streams.Consumer = e.str("REDIS_CONSUMER_NAME", c.Streams.Consumer)
	c.Streams.ClaimIdle = e.millis("REDIS_CLAIM_IDLE", c.Streams.ClaimIdle)
	c.StreamTrimInterval = e.millis("REDIS_TRIM_INTERVAL", c.StreamTrimInterval)
	c.MongoURL = e.str("MONGODB_URL", "")
	c.MongoDatabasePrefix = e.str("MONGODB_DATABASE_PREFIX", "")
	c.Breaker.CallTimeout = e.millis("CIRCUIT_BREAKER_TIMEOUT", c.Breaker.CallTimeout)
	c.Breaker.ErrorThreshold = e.integer("CIRCUIT_BREAKER_ERROR_THRESHOLD", c.Breaker.ErrorThreshold, 1, 100)
	c.Breaker.FirstOpen = e.millis("CIRCUIT_BREAKER_FIRST_OPEN", c.Breaker.FirstOpen)
	c.Breaker.ResetTimeout = e.millis("CIRCUIT_BREAKER_RESET_TIMEOUT", c.Breaker.ResetTimeout)
	if _, set := lookup("CIRCUIT_BREAKER_FIRST_OPEN"); !set {
		// A reset timeout set short needs no first period longer than it.
		c.Breaker.FirstOpen = min(c.Breaker.FirstOpen, c.Breaker.ResetTimeout)
	}
	c.Notify.SMTP.URL = e.str("SMTP_URL", "")
	c.Notify.SMTP.From = e.str("NOTIFY_FROM", "")
	c.Notify.Twilio.AccountSID = e.str("TWILIO_ACCOUNT_SID", "")
	c.Notify.Twilio.AuthToken = e.str("TWILIO_AUTH_TOKEN", "")
	c.Notify.Twilio.From = e.str("TWILIO_FROM", "")
	c.Notify.Twilio.BaseURL = e.str("TWILIO_BASE_URL", "")
	c.Notify.Webhook.URL = e.str("PUSH_WEBHOOK_URL", "")
	c.Notify.Webhook.Secret = e.str("WEBHOOK_SECRET", "")
	c.AdminToken = e.str("ADMIN_TOKEN", "")
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		e.fail("ADMIN_TOKEN", errors.New("must be at least 16 characters"))
	}
	c.Tracing = e.tracing()
	if e.err != nil {
		return Config{}, e.err
	}
	return c, c.Validate()
}

// Validate reports every inconsistent setting.
func (c Config) Validate() error {
	var err error
	if len(c.Services) == 0 {
		err = errors.Join(err, errors.New("no service to run"))
	}
	for _, s := range c.Services {
		if !slices.Contains(AllServices, s) {
			err = errors.Join(err, fmt.Errorf("unknown service %q", s))
		}
	}
	// The routers wait for handlers in flight as long as any step of a stop.
	router := c.Router
	router.CloseTimeout = c.ShutdownTimeout
	if e := router.Validate(); e != nil {
		err = errors.Join(err, e)
	}
	if e := c.Topics.Validate(); e != nil {
		err = errors.Join(err, e)
	}
	if c.PartitionLeaseTTL < time.Second {
		err = errors.Join(err, errors.New("PARTITION_LEASE_TTL must be at least 1000 (ms)"))
	}
	if c.IdempotencyTTL <= 0 || c.DedupTTL <= 0 || c.RelaySweepInterval <= 0 || c.RelaySweepAge <= 0 || c.ShutdownTimeout <= 0 {
		err = errors.Join(err, errors.New("IDEMPOTENCY_TTL, DEDUP_TTL, RELAY_SWEEP_INTERVAL, RELAY_SWEEP_AGE and SHUTDOWN_TIMEOUT must be positive"))
	}
	// A predecessor a crashed process never published comes with a sweep.
	if c.Router.EarlyPatience <= c.RelaySweepAge+c.RelaySweepInterval {
		err = errors.Join(err, errors.New("EARLY_PATIENCE must exceed RELAY_SWEEP_AGE + RELAY_SWEEP_INTERVAL, the time an unpublished event may wait for a sweep"))
	}
	if kind, ok := buses[c.Bus]; !ok {
		err = errors.Join(err, fmt.Errorf("BUS %q: want one of %s", c.Bus, busNames()))
	} else if e := kind.validate(c); e != nil {
		err = errors.Join(err, e)
	}
	if c.StreamTrimInterval <= 0 {
		err = errors.Join(err, errors.New("REDIS_TRIM_INTERVAL must be positive"))
	}
	if e := c.Breaker.Validate(); e != nil {
		err = errors.Join(err, e)
	}
	if _, e := c.Notify.providers(); e != nil {
		err = errors.Join(err, e)
	}
	// A dependency that hangs must fail a call before the handler's attempt
	// times out: the call's timeout marks the dependency down (retried until
	// it is back), the attempt's timeout marks the handler slow (poisoned
	// after its retries).
	if c.Breaker.CallTimeout >= c.Router.HandlerTimeout {
		err = errors.Join(err, errors.New("CIRCUIT_BREAKER_TIMEOUT must be shorter than HANDLER_TIMEOUT"))
	}
	return err
}

// ParseSnapshotEvery reads aggregate types with how many events apart their
// streams are snapshotted: "stock=100,notification=50". Types not named take
// no snapshots.
func ParseSnapshotEvery(s string) (map[string]int, error) {
	every := map[string]int{}
	for _, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		name, n, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !ok || !slices.Contains(AggregateTypes, name) {
			return nil, fmt.Errorf("%q: want type=events, the type one of %s", pair, strings.Join(AggregateTypes, ", "))
		}
		events, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil || events < 0 || events > 1_000_000 {
			return nil, fmt.Errorf("%q: the number of events must be an integer from 0 to 1000000", pair)
		}
		every[name] = events
	}
	return every, nil
}

// ParseServices reads a comma-separated list of service names.
func ParseServices(s string) ([]string, error) {
	var services []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(strings.ToLower(name))
		if !slices.Contains(AllServices, name) {
			return nil, fmt.Errorf("unknown service %q: want orders, inventory or notifications", name)
		}
		if !slices.Contains(services, name) {
			services = append(services, name)
		}
	}
	return services, nil
}

// Runs reports whether the configuration runs the service.
func (c Config) Runs(service string) bool { return slices.Contains(c.Services, service) }

type envReader struct {
	lookup func(string) (string, bool)
	err    error
}

// tracing reads what the standard OTEL_* variables say about traces:
// exported over OTLP/HTTP when OTEL_TRACES_EXPORTER is otlp or an OTLP
// endpoint is set, unless OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none
// turns it off. Off by default: the specification's default exporter is
// otlp, but a shop that nobody collects the spans of should not try to send
// them to localhost. The exporter reads the endpoint, headers and timeout.
//
// As the specification says, a variable set empty is one not set, and the
// traces' own protocol variable wins over the general one.
func (e *envReader) tracing() tracing.Config {
	exporter := strings.ToLower(strings.TrimSpace(e.str("OTEL_TRACES_EXPORTER", "")))
	switch exporter {
	case "", "otlp", "none":
	default:
		e.fail("OTEL_TRACES_EXPORTER", fmt.Errorf("%q: want otlp or none (one exporter)", exporter))
	}
	endpoint := e.str("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "") != "" || e.str("OTEL_EXPORTER_OTLP_ENDPOINT", "") != ""
	disabled := false
	if s := e.str("OTEL_SDK_DISABLED", ""); s != "" {
		disabled = e.boolean("OTEL_SDK_DISABLED", false)
	}
	enabled := !disabled && exporter != "none" && (exporter == "otlp" || endpoint)
	if enabled {
		name, protocol := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", e.str("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "")
		if protocol == "" {
			name, protocol = "OTEL_EXPORTER_OTLP_PROTOCOL", e.str("OTEL_EXPORTER_OTLP_PROTOCOL", "")
		}
		if protocol != "" && protocol != "http/protobuf" {
			e.fail(name, fmt.Errorf("%q: spans are exported over HTTP; want http/protobuf", protocol))
		}
	}
	return tracing.Config{Enabled: enabled}
}

// traceServiceName names the process in its spans' resource, unless
// OTEL_SERVICE_NAME does: by its service where it runs one ("shop-orders"),
// else "shop".
func (c Config) traceServiceName() string {
	if len(c.Services) == 1 {
		return "shop-" + c.Services[0]
	}
	return "shop"
}

func (e *envReader) fail(name string, err error) {
	if err != nil {
		e.err = errors.Join(e.err, fmt.Errorf("%s: %w", name, err))
	}
}

func (e *envReader) str(name, def string) string {
	if s, ok := e.lookup(name); ok {
		return s
	}
	return def
}

func (e *envReader) integer(name string, def, lo, hi int) int {
	s, ok := e.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < lo || n > hi {
		e.fail(name, fmt.Errorf("%q is not an integer from %d to %d", s, lo, hi))
		return def
	}
	return n
}

func (e *envReader) port(name string, def int) int { return e.integer(name, def, 1, 65535) }

// millis reads a duration in milliseconds, as the platform's variables are
// written (RETRY_DELAY=1000), or with a unit (RETRY_DELAY=1s).
func (e *envReader) millis(name string, def time.Duration) time.Duration {
	return e.duration(name, def, time.Millisecond)
}

// seconds reads a duration in seconds (IDEMPOTENCY_TTL=86400), or with a unit.
func (e *envReader) seconds(name string, def time.Duration) time.Duration {
	return e.duration(name, def, time.Second)
}

func (e *envReader) duration(name string, def, unit time.Duration) time.Duration {
	s, ok := e.lookup(name)
	if !ok {
		return def
	}
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return time.Duration(n) * unit
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	e.fail(name, fmt.Errorf("%q is not a positive number of %s or a duration such as 1.5s", s, unitName(unit)))
	return def
}

func unitName(unit time.Duration) string {
	if unit == time.Second {
		return "seconds"
	}
	return "milliseconds"
}

func (e *envReader) boolean(name string, def bool) bool {
	s, ok := e.lookup(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		e.fail(name, fmt.Errorf("%q is not true or false", s))
		return def
	}
	return b
}
