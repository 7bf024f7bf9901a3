package service_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/cqrs"
	"shop/domain/order"
	"shop/infrastructure/mongo/mongotest"
	"shop/infrastructure/redis/redistest"
	"shop/service"
)

func TestTheTopologyNamesEveryRegisteredHandler(t *testing.T) {
	t.Parallel()
	s := startShop(t, backends[0])
	sys := s.system(service.Orders)
	key := func(b cqrs.Binding) string { return b.ConsumerGroup + " " + b.Topic }
	var registered, declared []string
	for _, b := range sys.Bindings() {
		registered = append(registered, key(b))
	}
	for _, b := range service.Topology(sys.Platform().Topics) {
		declared = append(declared, key(b))
	}
	slices.Sort(registered)
	slices.Sort(declared)
	if !slices.Equal(registered, declared) {
		t.Fatalf("registered handlers:\n%v\ntopology:\n%v", registered, declared)
	}
}

// An event appended by a process that died before publishing it is published
// by a live relay, which takes over the dead relay's origin, and takes effect
// once; the origin is dropped afterwards.
func TestAnEventADeadRelayDidNotPublishIsPublishedByALiveOne(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be, withConfig(func(c *service.Config) { c.RelaySweepAge = 200 * time.Millisecond }))
		s.addProduct("p", 10)
		ctx := context.Background()
		o, err := order.Place("orphan-1", "c", []order.Item{{ProductID: "p", ProductName: "P", Quantity: 3, UnitPrice: 100}}, order.Contact{}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		dead := s.appendAsADeadProcess(service.Orders, eventstore.Record{
			EventID: "orphan-event-1", AggregateType: order.AggregateType, AggregateID: "orphan-1", Version: 1,
			Type: o.Changes()[0].EventName(), Event: o.Changes()[0], OccurredAt: time.Now(),
		})
		store := s.store(service.Orders)
		s.waitOrder("orphan-1", "CONFIRMED")
		s.waitNotifications("orphan-1", 2)
		s.waitProduct("p", 7, 3)
		if !eventually(10*time.Second, func() bool {
			left, err := store.StaleOrigins(ctx, time.Now().Add(time.Hour))
			return err == nil && !slices.ContainsFunc(left, func(o eventstore.Origin) bool { return o.ID == dead })
		}) {
			t.Fatal("the dead relay's origin was not dropped")
		}
	})
}

// Redis only keeps idempotency keys and handled message ids on a RabbitMQ
// bus: while it is down, orders are still taken and completed, without
// duplicates, and /health says the service is degraded.
func TestOrdersCompleteWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	be := backend{"amqp-memory", service.BusAMQP, false}
	s := startShop(t, be, withConfig(func(c *service.Config) {
		c.RedisURL = "redis://127.0.0.1:1/0" // nothing listens there
		// The few calls this test makes must fall in one of the breaker's
		// windows: one begun before a window ends and ended after is not
		// counted, and on a busy machine the start (the partition leases'
		// first rounds, each bounded) can put the window's end among them.
		c.Breaker.MinRequests, c.Breaker.Window = 3, 10*time.Minute
	}))
	s.addProduct("p", 10)
	body := orderBody("c", item{"p", 2, "5"})
	first := s.do(http.MethodPost, service.Orders, "/orders", body, map[string]string{"Idempotency-Key": "k-1"})
	again := s.do(http.MethodPost, service.Orders, "/orders", body, map[string]string{"Idempotency-Key": "k-1"})
	if first.status != http.StatusCreated || again.status != http.StatusOK || decode[orderAnswer](t, again).Order.ID != decode[orderAnswer](t, first).Order.ID {
		t.Fatalf("without Redis: %d %s / %d %s", first.status, first.raw, again.status, again.raw)
	}
	other := s.do(http.MethodPost, service.Orders, "/orders", orderBody("c", item{"p", 1, "5"}), map[string]string{"Idempotency-Key": "k-1"})
	if other.status != http.StatusUnprocessableEntity {
		t.Fatalf("reused key without Redis: %d %s", other.status, other.raw)
	}
	id := decode[orderAnswer](t, first).Order.ID
	s.waitOrder(id, "CONFIRMED")
	s.waitNotifications(id, 2)
	s.waitProduct("p", 8, 2)
	r := s.get(service.Orders, "/health")
	h := decode[healthAnswer](t, r)
	if r.status != http.StatusOK || h.Status != "degraded" || h.Services["redis"] != "disconnected" || h.Services["rabbitmq"] != "connected" {
		t.Fatalf("health %d %s", r.status, r.raw)
	}
	// Open, or half-open once its first short open period is over, but
	// never closed while Redis is down.
	if state := h.CircuitBreakers["redis"]; state != "open" && state != "half-open" {
		t.Fatalf("redis breaker %q: %s", state, r.raw)
	}
}

// outage places orders while restart stops and starts a server, then checks
// that every accepted order reached a final state, once. Each request carries
// an Idempotency-Key, and one that failed with a server error is sent again
// after the restart, as a client would: a write whose answer the outage cut
// off may have been made, and the retry then finds the order (200) instead
// of placing a second one.
func outage(t *testing.T, s *shop, restart func()) {
	t.Helper()
	s.addProduct("p", 1_000_000)
	placed := make(chan string, 1000)
	var failed []int
	var restarted atomic.Bool
	var before, after atomic.Int32
	stop := make(chan struct{})
	done := make(chan struct{})
	place := func(i int) response {
		return s.do(http.MethodPost, service.Orders, "/orders", orderBody(fmt.Sprint("c-", i), item{"p", 1, "1"}),
			map[string]string{"Idempotency-Key": fmt.Sprint("outage-", i)})
	}
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			switch r := place(i); {
			case r.status == http.StatusCreated:
				placed <- str(r.body, "order", "id")
				if restarted.Load() {
					after.Add(1)
				} else {
					before.Add(1)
				}
			case r.status >= http.StatusInternalServerError:
				failed = append(failed, i)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	restart()
	restarted.Store(true)
	// Until the clients reconnected and a few orders went through.
	for deadline := time.Now().Add(30 * time.Second); after.Load() < 5 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	<-done
	if before.Load() < 5 || after.Load() < 5 {
		t.Fatalf("%d orders accepted before the restart, %d after it: too few to tell", before.Load(), after.Load())
	}
	retried := 0
	for _, i := range failed {
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := place(i)
			if r.status == http.StatusCreated || r.status == http.StatusOK {
				placed <- str(r.body, "order", "id")
				if r.status == http.StatusOK {
					retried++
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("order %d still refused after the restart: %d %s", i, r.status, r.raw)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	close(placed)
	var ids []string
	for id := range placed {
		ids = append(ids, id)
	}
	for _, id := range ids {
		s.waitOrder(id, "CONFIRMED")
		s.waitNotifications(id, 2)
		records, err := s.store(service.Orders).Load(context.Background(), order.AggregateType, id)
		if err != nil || len(records) != 2 {
			t.Fatalf("order %s: %d events, %v", id, len(records), err)
		}
	}
	s.waitProduct("p", 1_000_000-len(ids), len(ids))
	t.Logf("%d orders placed across the restart, each completed once; %d refused during it, %d of those placed all the same", len(ids), len(failed), retried)
}

func TestOrdersSurviveARestartOfRedisCarryingTheBus(t *testing.T) {
	t.Parallel()
	server := redistest.StartServer(t)
	s := startShop(t, backend{"redis-memory", service.BusRedis, false}, withConfig(func(c *service.Config) {
		c.RedisURL = server.URL()
	}))
	outage(t, s, func() {
		server.Kill()
		time.Sleep(2 * time.Second)
		server.Start()
	})
}

func TestOrdersSurviveARestartOfMongoDB(t *testing.T) {
	t.Parallel()
	server := mongotest.StartServer(t)
	s := startShop(t, backend{"amqp-mongo", service.BusAMQP, true}, withConfig(func(c *service.Config) {
		c.MongoURL = server.URL()
		// A write whose answer the outage cut off is published by the sweep.
		c.RelaySweepAge = time.Second
	}))
	outage(t, s, func() {
		server.Stop()
		time.Sleep(2 * time.Second)
		server.Start()
	})
}

// A router that cannot subscribe returns at once; the process must stop
// with the reason rather than wait forever for it to run, serving nothing.
func TestAProcessWhoseRoutersCannotSubscribeStopsWithTheReason(t *testing.T) {
	t.Parallel()
	server := redistest.StartServer(t)
	cfg := service.DefaultConfig()
	cfg.DemoCatalog = false
	cfg.Host = "127.0.0.1"
	for _, name := range service.AllServices {
		cfg.Ports[name] = 0
	}
	backendConfig(t, backend{"redis-memory", service.BusRedis, false}, &cfg)
	cfg.RedisURL = server.URL()
	cfg.ShutdownTimeout = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sys, err := service.New(ctx, cfg, slog.New(slog.DiscardHandler), service.Adapters{})
	if err != nil {
		t.Fatal(err)
	}
	server.Kill() // between the declarations and the subscriptions
	err = sys.Run(ctx, func(map[string]string) { t.Error("the system served without its routers") })
	if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "router stopped") {
		t.Fatalf("run: %v", err)
	}
}
