package service_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"shop/ports/loadgen"
	"shop/service"
)

// BenchmarkOrdersEndToEnd places b.N orders through the HTTP API of the
// embedded system and measures each from its POST until the notification of
// its confirmation is recorded. Run it with a fixed count, for example
// -benchtime 20000x: the per-op time is not the interesting figure; orders/s
// and the latency percentiles are.
func BenchmarkOrdersEndToEnd(b *testing.B) {
	cfg := service.DefaultConfig()
	cfg.DemoCatalog = false
	cfg.Host = "127.0.0.1"
	for _, name := range service.AllServices {
		cfg.Ports[name] = 0
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sys, err := service.New(context.Background(), cfg, logger, service.Adapters{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := sys.Start(ctx); err != nil {
		b.Fatal(err)
	}
	addrs, err := sys.Serve()
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sys.Shutdown(context.Background()) }()

	s := &shop{t: b, systems: map[string]*service.System{}, urls: map[string]string{}, client: defaultClient()}
	for name, addr := range addrs {
		s.urls[name] = "http://" + addr
		s.systems[name] = sys
	}
	var products []string
	for i := range 100 {
		id := fmt.Sprintf("bench-%03d", i)
		s.addProduct(id, 1_000_000_000)
		products = append(products, id)
	}
	sub, err := sys.Platform().Bus.Subscribers("loadgen")
	if err != nil {
		b.Fatal(err)
	}
	completions, err := loadgen.Tap(ctx, sub, sys.Platform().Topics, sys.Platform().Marshaler)
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	res, err := loadgen.Run(ctx, loadgen.Config{
		OrdersURL: s.urls[service.Orders], Orders: b.N, Concurrency: 32, Products: products,
		Completions: completions, Timeout: 2 * time.Minute,
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Incomplete > 0 || res.Confirmed != b.N {
		b.Fatalf("not every order completed: %s", res)
	}
	b.ReportMetric(res.PerSecond, "orders/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.P99.Microseconds())/1000, "p99-ms")
	b.Log(res)
}
