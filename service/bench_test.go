package service_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"shop/cqrs"
	"shop/infrastructure/amqp/amqptest"
	"shop/ports/loadgen"
	"shop/service"
)

// messagesPerOrder is how many messages one order puts on the bus: six events
// (placed, stock reserved, reservation confirmed, confirmed, two notifications
// sent). Commands do not travel on the bus: each service's policies call its
// own command handlers.
const messagesPerOrder = 6

// BenchmarkOrdersEndToEnd places b.N orders through the HTTP API of a system
// running all three services, 32 customers at a time, each waiting for its
// order's confirmation notification before placing the next, and measures each
// order from its POST until that notification is recorded. Run it with a fixed
// count, for example -benchtime 20000x: orders/s and the latency percentiles
// are the figures, not the time per op.
//
// On a broker it also measures the bare transport in the same run (publish and
// consume of small messages, as many partitions in parallel) and reports the
// share of that ceiling the system's own messages reach.
func BenchmarkOrdersEndToEnd(b *testing.B) {
	for _, bus := range []string{service.BusGoChannel, service.BusAMQP, service.BusRedis} {
		b.Run(bus, func(b *testing.B) { benchmarkOrders(b, bus) })
	}
}

// processSeconds is the CPU time this process used so far, user and system.
func processSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func benchmarkOrders(b *testing.B, bus string) {
	cfg := service.DefaultConfig()
	cfg.DemoCatalog = false
	cfg.Host = "127.0.0.1"
	for _, name := range service.AllServices {
		cfg.Ports[name] = 0
	}
	if bus != service.BusGoChannel {
		backendConfig(b, backend{name: bus, bus: bus}, &cfg)
		cfg.Topics.Partitions = service.DefaultConfig().Topics.Partitions
		if p := os.Getenv("BENCH_PARTITIONS"); p != "" {
			fmt.Sscan(p, &cfg.Topics.Partitions)
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sys, err := service.New(ctx, cfg, logger, service.Adapters{})
	if err != nil {
		b.Fatal(err)
	}
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
	p := sys.Platform()
	subscriber := func(partition int) (message.Subscriber, error) {
		sub, err := p.Bus.Subscribers(cqrs.PartitionName("loadgen", partition))
		if err == nil {
			b.Cleanup(func() { _ = sub.Close() })
		}
		return sub, err
	}
	completions, err := loadgen.Tap(ctx, subscriber, p.Topics, p.Marshaler)
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	cpuBefore := processSeconds()
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
	// CPU time per order, the load generator's included: steadier than
	// orders/s on a machine that shares its cores.
	b.ReportMetric((processSeconds()-cpuBefore)*1e6/float64(res.Confirmed+res.Rejected), "cpu-µs/order")
	b.Log(res)
	if bus == service.BusGoChannel || b.N < 1000 {
		return
	}

	// The bare transport, on topics and consumer groups of its own, in the same run.
	var topics, groups []string
	for i := range p.Topics.Partitions {
		topics = append(topics, fmt.Sprintf("%sceiling.%d", p.Topics.Prefix, i))
		groups = append(groups, fmt.Sprintf("ceiling.%d", i))
	}
	if bus == service.BusAMQP {
		url := cfg.AMQP.URL
		var queues []string
		for _, g := range groups {
			queues = append(queues, cfg.Topics.Prefix+g)
		}
		b.Cleanup(func() { amqptest.DeleteQueues(b, url, queues, topics) })
	}
	perSecond, err := loadgen.Ceiling(ctx, p.Bus.Publisher, func(topic string) (<-chan *message.Message, error) {
		group := groups[slices.Index(topics, topic)]
		if err := p.Bus.Declare(ctx, group, topic); err != nil {
			return nil, err
		}
		sub, err := p.Bus.Subscribers(group)
		if err != nil {
			return nil, err
		}
		b.Cleanup(func() { _ = sub.Close() })
		return sub.Subscribe(ctx, topic)
	}, topics, 5000)
	if err != nil {
		b.Fatal(err)
	}
	ratio := res.PerSecond * messagesPerOrder / perSecond
	b.ReportMetric(perSecond, "ceiling-msgs/s")
	b.ReportMetric(ratio, "share-of-ceiling")
	b.Logf("transport ceiling %.0f msgs/s; the system moves %.0f msgs/s (%d per order), %.0f%% of it",
		perSecond, res.PerSecond*messagesPerOrder, messagesPerOrder, 100*ratio)
}
