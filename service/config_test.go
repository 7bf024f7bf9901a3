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
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) != 1 || cfg.Ports[service.Orders] != 3000 || cfg.LogLevel != slog.LevelDebug || cfg.LogFormat != "json" ||
		cfg.Router.MaxRetries != 5 || cfg.Router.RetryDelay != 250*time.Millisecond || cfg.IdempotencyTTL != time.Minute ||
		cfg.Router.HandlerTimeout != 2*time.Second || cfg.Topics.Partitions != 8 || cfg.DemoCatalog || cfg.Router.ThrottlePerSecond != 100 {
		t.Fatalf("config %+v", cfg)
	}
	def, err := service.ConfigFromEnv(lookup(nil))
	if err != nil || len(def.Services) != 3 || def.Ports[service.Inventory] != 3002 || !def.DemoCatalog || def.Router.RetryDelay != time.Second {
		t.Fatalf("defaults %+v %v", def, err)
	}
}

func TestBadConfigIsRefusedWithEveryReason(t *testing.T) {
	t.Parallel()
	_, err := service.ConfigFromEnv(lookup(map[string]string{
		"SERVICES": "orders,payments", "PORT": "3000", "MAX_RETRIES": "-1", "RETRY_DELAY": "soon",
		"LOG_LEVEL": "loud", "PARTITIONS": "0", "DEMO_CATALOG": "maybe", "ORDERS_PORT": "70000",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"SERVICES", "MAX_RETRIES", "RETRY_DELAY", "LOG_LEVEL", "PARTITIONS", "DEMO_CATALOG", "ORDERS_PORT"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no word about %s in %v", want, err)
		}
	}
	if _, err := service.ConfigFromEnv(lookup(map[string]string{"PORT": "3000"})); err == nil || !strings.Contains(err.Error(), "single service") {
		t.Fatalf("PORT with three services: %v", err)
	}
}
