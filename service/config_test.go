package service_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"shop/service"
)

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	cfg, err := service.ConfigFromEnv(lookup(map[string]string{
		"SERVICES": "orders", "PORT": "3000", "LOG_LEVEL": "debug", "LOG_FORMAT": "json",
		"MAX_RETRIES": "5", "RETRY_DELAY": "250", "IDEMPOTENCY_TTL": "60", "HANDLER_TIMEOUT": "2s",
		"PARTITIONS": "8", "DEMO_CATALOG": "false", "THROTTLE_PER_SECOND": "100",
		"BUS": "redis", "REDIS_URL": "redis://r:6379/0", "MONGODB_URL": "mongodb://m:27017", "CIRCUIT_BREAKER_ERROR_THRESHOLD": "25",
		"CIRCUIT_BREAKER_TIMEOUT": "1500",
	}), "host-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) != 1 || cfg.Ports[service.Orders] != 3000 || cfg.LogLevel != slog.LevelDebug || cfg.LogFormat != "json" ||
		cfg.Router.MaxRetries != 5 || cfg.Router.RetryDelay != 250*time.Millisecond || cfg.IdempotencyTTL != time.Minute ||
		cfg.Router.HandlerTimeout != 2*time.Second || cfg.Topics.Partitions != 8 || cfg.DemoCatalog || cfg.Router.ThrottlePerSecond != 100 ||
		cfg.Bus != service.BusRedis || cfg.RedisURL != "redis://r:6379/0" || cfg.MongoURL != "mongodb://m:27017" ||
		cfg.Streams.Consumer != "host-1" || cfg.Breaker.ErrorThreshold != 25 {
		t.Fatalf("config %+v", cfg)
	}
	def, err := service.ConfigFromEnv(lookup(nil), "host-1")
	if err != nil || len(def.Services) != 3 || def.Ports[service.Inventory] != 3002 || !def.DemoCatalog || def.Router.RetryDelay != time.Second {
		t.Fatalf("defaults %+v %v", def, err)
	}
}

func TestBadConfigIsRefusedWithEveryReason(t *testing.T) {
	t.Parallel()
	_, err := service.ConfigFromEnv(lookup(map[string]string{
		"SERVICES": "orders,payments", "PORT": "3000", "MAX_RETRIES": "-1", "RETRY_DELAY": "soon",
		"LOG_LEVEL": "loud", "PARTITIONS": "0", "DEMO_CATALOG": "maybe", "ORDERS_PORT": "70000",
		"AMQP_PREFETCH": "0", "CIRCUIT_BREAKER_ERROR_THRESHOLD": "150",
	}), "host-1")
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"SERVICES", "MAX_RETRIES", "RETRY_DELAY", "LOG_LEVEL", "PARTITIONS", "DEMO_CATALOG", "ORDERS_PORT", "AMQP_PREFETCH", "CIRCUIT_BREAKER_ERROR_THRESHOLD"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no word about %s in %v", want, err)
		}
	}
	if _, err := service.ConfigFromEnv(lookup(map[string]string{"PORT": "3000"}), "host-1"); err == nil || !strings.Contains(err.Error(), "single service") {
		t.Fatalf("PORT with three services: %v", err)
	}
	for env, want := range map[string]string{
		"BUS=kafka":              "want one of amqp, gochannel, redis",
		"BUS=redis":              "needs REDIS_URL",
		"BUS=amqp RABBITMQ_URL=": "RABBITMQ_URL is required",
		// GoChannel is one process's memory: not durable, not shared.
		"MONGODB_URL=mongodb://m:27017":                      "with MONGODB_URL, use BUS=amqp or BUS=redis",
		"SERVICES=orders":                                    "run every service",
		"BUS=redis REDIS_URL=redis://r REDIS_CLAIM_IDLE=900": "REDIS_CLAIM_IDLE must be at least 1000",
		"HANDLER_TIMEOUT=30000":                              "CIRCUIT_BREAKER_TIMEOUT must be shorter than HANDLER_TIMEOUT",
		// An early message must outwait a sweep, and on Redis a claim.
		"EARLY_PATIENCE=30000":                               "EARLY_PATIENCE must exceed RELAY_SWEEP_AGE + RELAY_SWEEP_INTERVAL",
		"BUS=redis REDIS_URL=redis://r EARLY_PATIENCE=70000": "EARLY_PATIENCE must exceed REDIS_CLAIM_IDLE",
		// Notification providers: what cannot work, and what is half given.
		"SMTP_URL=http://mail.example.com NOTIFY_FROM=shop@example.com":           "scheme",
		"SMTP_URL=smtp://mail.example.com NOTIFY_FROM=nobody":                     "NOTIFY_FROM",
		"NOTIFY_FROM=shop@example.com":                                            "NOTIFY_FROM is set without SMTP_URL",
		"TWILIO_ACCOUNT_SID=AC1 TWILIO_FROM=+1555":                                "go together",
		"WEBHOOK_SECRET=0123456789abcdef":                                         "WEBHOOK_SECRET is set without PUSH_WEBHOOK_URL",
		"PUSH_WEBHOOK_URL=https://push.example.com WEBHOOK_SECRET=short":          "at least 16",
		"PUSH_WEBHOOK_URL=push.example.com WEBHOOK_SECRET=0123456789abcdef012345": "PUSH_WEBHOOK_URL",
		// Snapshots of a type there is, every so many events.
		"SNAPSHOT_EVERY=cart=100":  "the type one of order, stock, reservation, notification",
		"SNAPSHOT_EVERY=stock=-1":  "an integer from 0 to 1000000",
		"SNAPSHOT_EVERY=stock":     "want type=events",
		"SNAPSHOT_EVERY=stock=ten": "an integer from 0 to 1000000",
		// Traces go out over OTLP/HTTP, or not at all.
		"OTEL_TRACES_EXPORTER=jaeger":                                       "want otlp or none",
		"OTEL_TRACES_EXPORTER=otlp,console":                                 "want otlp or none",
		"OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_PROTOCOL=grpc":        "want http/protobuf",
		"OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc": "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_SDK_DISABLED=maybe":                                           "OTEL_SDK_DISABLED",
	} {
		vars := map[string]string{}
		for _, kv := range strings.Fields(env) {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
		if _, err := service.ConfigFromEnv(lookup(vars), "host-1"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", env, err, want)
		}
	}
}

func TestTracingIsOffUnlessTheOTELVariablesAskForIt(t *testing.T) {
	t.Parallel()
	for env, want := range map[string]bool{
		"":                          false,
		"OTEL_TRACES_EXPORTER=otlp": true,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318":                           true,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://collector:4318/v1/traces":       true,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318 OTEL_TRACES_EXPORTER=none": false,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318 OTEL_SDK_DISABLED=true":    false,
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf":                                false,
		// A protocol for other signals, with tracing off, or overridden.
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc": false,
		"OTEL_TRACES_EXPORTER=otlp OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/protobuf": true,
		"OTEL_TRACES_EXPORTER=otlp OTEL_SDK_DISABLED=":                                                                true,
	} {
		vars := map[string]string{}
		for _, kv := range strings.Fields(env) {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
		cfg, err := service.ConfigFromEnv(lookup(vars), "host-1")
		if err != nil || cfg.Tracing.Enabled != want {
			t.Errorf("%q: tracing %+v %v, want enabled %v", env, cfg.Tracing, err, want)
		}
	}
}

func TestSnapshotsAreTakenOfWhatSnapshotEverySays(t *testing.T) {
	t.Parallel()
	def := service.DefaultConfig()
	if def.SnapshotEvery["stock"] != 100 || len(def.SnapshotEvery) != 1 {
		t.Fatalf("default %v", def.SnapshotEvery)
	}
	cfg, err := service.ConfigFromEnv(lookup(map[string]string{"SNAPSHOT_EVERY": " notification=50, stock=0 ,"}), "host-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.SnapshotEvery) != 2 || cfg.SnapshotEvery["notification"] != 50 || cfg.SnapshotEvery["stock"] != 0 {
		t.Fatalf("parsed %v", cfg.SnapshotEvery)
	}
}
