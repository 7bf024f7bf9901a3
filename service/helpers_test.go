package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/app/orders"
	"shop/infrastructure/amqp/amqptest"
	"shop/infrastructure/memory"
	"shop/infrastructure/mongo/mongotest"
	"shop/infrastructure/redis/redistest"
	"shop/service"
)

// backend is one combination of bus and stores the component tests run on.
type backend struct {
	name  string
	bus   string
	mongo bool
}

var backends = []backend{
	{"gochannel-memory", service.BusGoChannel, false},
	{"amqp-memory", service.BusAMQP, false},
	{"amqp-mongo", service.BusAMQP, true},
	{"redis-memory", service.BusRedis, false},
	{"redis-mongo", service.BusRedis, true},
}

// forEachBackend runs test on every backend, in parallel; SHOP_TEST_BACKENDS
// (comma-separated names) narrows the list.
func forEachBackend(t *testing.T, test func(t *testing.T, be backend)) {
	forBackends(t, func(backend) bool { return true }, test)
}

// forBackends runs test on the backends that which selects.
func forBackends(t *testing.T, which func(backend) bool, test func(t *testing.T, be backend)) {
	t.Parallel()
	only := os.Getenv("SHOP_TEST_BACKENDS")
	for _, be := range backends {
		if !which(be) || (only != "" && !slices.Contains(strings.Split(only, ","), be.name)) {
			continue
		}
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			test(t, be)
		})
	}
}

// shop is the whole system, reached over HTTP as a client would. On a broker,
// each service runs in a system of its own, as separate processes would; on
// the in-process bus they share one.
type shop struct {
	t       testing.TB
	backend backend
	cfg     service.Config
	systems map[string]*service.System
	urls    map[string]string
	client  *http.Client
	// stop shuts the shop down, once, as a SIGTERM would.
	stop func()
}

type setup struct {
	cfg      service.Config
	adapters service.Adapters
	logger   *slog.Logger
}

type option func(*setup)

func withAdapters(a service.Adapters) option { return func(s *setup) { s.adapters = a } }

func withConfig(f func(*service.Config)) option { return func(s *setup) { f(&s.cfg) } }

func withLogger(l *slog.Logger) option { return func(s *setup) { s.logger = l } }

// sameNamesAs starts a shop on the servers, topics and databases of prev, as
// the next deployment of the same system.
func sameNamesAs(prev *shop) option {
	return func(s *setup) { s.cfg = prev.cfg }
}

// appendAsADeadProcess appends records to a service's store as a process
// that died before publishing them leaves them: under the origin of its
// relay, last renewed a minute ago. It returns the origin's id.
func (s *shop) appendAsADeadProcess(svc string, records ...eventstore.Record) string {
	s.t.Helper()
	ctx := context.Background()
	lastSeen := time.Now().Add(-time.Minute)
	dead := eventstore.Origin{ID: "relay-of-a-dead-process-" + records[0].EventID, Holder: "a dead process", PublishedBefore: lastSeen, RenewedAt: lastSeen}
	if saved, err := s.store(svc).SaveOrigin(ctx, dead, time.Time{}); err != nil || !saved {
		s.t.Fatalf("origin of a dead process: %v %v", saved, err)
	}
	for i := range records {
		records[i].Origin = dead.ID
	}
	if err := s.store(svc).Append(ctx, records); err != nil {
		s.t.Fatal(err)
	}
	return dead.ID
}

// testEventsGroup is the consumer group tests read events with (subscribeEvents).
const testEventsGroup = "test-events"

// testConfig is the embedded configuration with retries fast enough for tests.
func testConfig() service.Config {
	cfg := service.DefaultConfig()
	cfg.DemoCatalog = false
	cfg.Router.RetryDelay = 5 * time.Millisecond
	cfg.Router.MaxRetryDelay = 50 * time.Millisecond
	cfg.Router.UnavailableDelay = 20 * time.Millisecond
	cfg.Router.HandlerTimeout = 5 * time.Second
	cfg.Breaker.CallTimeout = 4 * time.Second
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.RelaySweepInterval = 200 * time.Millisecond
	cfg.NotificationMaxAttempts = 3
	cfg.NotificationRetryDelay = 20 * time.Millisecond
	return cfg
}

// backendConfig points cfg at the servers of be, under names of the test's own.
func backendConfig(t testing.TB, be backend, cfg *service.Config) {
	t.Helper()
	cfg.Bus = be.bus
	if be.bus != service.BusGoChannel {
		redisURL := redistest.URL(t)
		prefix := redistest.Prefix(t)
		cfg.Topics.Prefix, cfg.RedisKeyPrefix, cfg.RedisURL = prefix, prefix, redisURL
		// Fewer partitions: a broker test declares every queue of the system.
		cfg.Topics.Partitions = 2
	}
	switch be.bus {
	case service.BusAMQP:
		cfg.AMQP.URL = amqptest.URL(t)
		topics := cfg.Topics
		url := cfg.AMQP.URL
		t.Cleanup(func() {
			var queues, exchanges []string
			for _, b := range service.Topology(topics) {
				queues = append(queues, topics.Prefix+b.ConsumerGroup)
				exchanges = append(exchanges, b.Topic)
			}
			// and the queues the tests read the poison topic and events through
			queues = append(queues, topics.Prefix+"test-poison", topics.Prefix+testEventsGroup)
			amqptest.DeleteQueues(t, url, queues, append(exchanges, topics.Poison()))
		})
	case service.BusRedis:
		cfg.Streams.Consumer = "test"
		// Shorter than a delivery's retries: the consumers keep what they
		// hold, and a dead one's entries are claimed within the tests' waits.
		cfg.Streams.ClaimIdle = 3 * time.Second
	}
	if be.mongo {
		cfg.MongoURL = mongotest.URL(t)
		cfg.MongoDatabasePrefix = mongotest.Prefix(t)
	}
}

func startShop(t testing.TB, be backend, opts ...option) *shop {
	t.Helper()
	st := setup{cfg: testConfig(), logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	backendConfig(t, be, &st.cfg)
	for _, o := range opts {
		o(&st)
	}
	cfg, adapters, logger := st.cfg, st.adapters, st.logger
	groups := [][]string{cfg.Services}
	if be.bus != service.BusGoChannel {
		groups = nil
		for _, name := range cfg.Services {
			groups = append(groups, []string{name})
		}
		if !be.mongo && adapters.PersonalKeys == nil {
			// The systems share a key store and a parking, as processes
			// share MongoDB's.
			adapters.PersonalKeys = memory.NewPersonalKeys()
			adapters.Parking = memory.NewParking()
		}
	}
	s := &shop{t: t, backend: be, cfg: cfg, systems: map[string]*service.System{}, urls: map[string]string{}, client: defaultClient()}
	ctx, cancel := context.WithCancel(context.Background())
	var systems []*service.System
	var servers []*httptest.Server
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			// As a SIGTERM does: requests under way are answered, new
			// connections refused.
			for _, srv := range servers {
				ctx, cancelShutdown := context.WithTimeout(context.Background(), 10*time.Second)
				_ = srv.Config.Shutdown(ctx)
				cancelShutdown()
				srv.Close()
			}
			cancel()
			for _, sys := range systems {
				if err := sys.Shutdown(context.Background()); err != nil {
					t.Errorf("shutdown: %v", err)
				}
			}
		})
	}
	t.Cleanup(func() { s.stop() })
	for _, names := range groups {
		c := cfg
		c.Services = names
		sys, err := service.New(ctx, c, logger, adapters)
		if err != nil {
			t.Fatal(err)
		}
		systems = append(systems, sys)
		for _, name := range names {
			s.systems[name] = sys
		}
	}
	for _, sys := range systems {
		if err := sys.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range cfg.Services {
		srv := httptest.NewServer(s.systems[name].Service(name).Handler)
		servers = append(servers, srv)
		s.urls[name] = srv.URL
	}
	return s
}

// system is the system that runs the named service.
func (s *shop) system(name string) *service.System { return s.systems[name] }

// store is the named service's event store.
func (s *shop) store(name string) eventstore.Store { return s.systems[name].Service(name).Store }

// platform is what the orders service's process shares with its services.
func (s *shop) platform() *service.Platform { return s.systems[service.Orders].Platform() }

func defaultClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
}

// testWriter sends log lines to the test's log, so a failing test shows them.
type testWriter struct{ t testing.TB }

var logMu sync.Mutex

func (w testWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (s *shop) do(method, svc, path string, body any, header map[string]string) response {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.urls[svc]+path, r)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			s.t.Fatalf("%s %s: body is not JSON: %s", method, path, raw)
		}
	}
	return out
}

func (s *shop) post(svc, path string, body any) response {
	return s.do(http.MethodPost, svc, path, body, nil)
}
func (s *shop) get(svc, path string) response { return s.do(http.MethodGet, svc, path, nil, nil) }

func (s *shop) addProduct(id string, stock int) {
	s.t.Helper()
	if r := s.post(service.Inventory, "/products", map[string]any{"productId": id, "name": "Product " + id, "stock": stock}); r.status != http.StatusCreated {
		s.t.Fatalf("add product %s: %d %s", id, r.status, r.raw)
	}
}

type item struct {
	product  string
	quantity int
	price    string
}

func orderBody(customer string, items ...item) map[string]any {
	var its []map[string]any
	for _, it := range items {
		its = append(its, map[string]any{"productId": it.product, "productName": "Name of " + it.product, "quantity": it.quantity, "unitPrice": json.Number(it.price)})
	}
	return map[string]any{"customerId": customer, "items": its}
}

// placeOrder places an order and returns its id.
func (s *shop) placeOrder(body map[string]any) string {
	s.t.Helper()
	r := s.post(service.Orders, "/orders", body)
	if r.status != http.StatusCreated {
		s.t.Fatalf("place order: %d %s", r.status, r.raw)
	}
	return decode[orderAnswer](s.t, r).Order.ID
}

// placeOrderOnPartition places an order whose id falls on the partition, by
// choosing its idempotency key.
func (s *shop) placeOrderOnPartition(partition int, body map[string]any) string {
	s.t.Helper()
	topics := s.platform().Topics
	for i := 0; ; i++ {
		key := fmt.Sprintf("partition-%d-%d", partition, i)
		if topics.Partition(orders.OrderIDForKey(key)) != partition {
			continue
		}
		r := s.do(http.MethodPost, service.Orders, "/orders", body, map[string]string{"Idempotency-Key": key})
		if r.status != http.StatusCreated {
			s.t.Fatalf("place order: %d %s", r.status, r.raw)
		}
		return decode[orderAnswer](s.t, r).Order.ID
	}
}

// waitOrderStatus waits until the read model shows the order in a final state
// and returns its view.
func (s *shop) waitOrder(id string, want string) orderJSON {
	s.t.Helper()
	var last response
	ok := eventually(30*time.Second, func() bool {
		last = s.get(service.Orders, "/orders/"+id)
		return last.status == http.StatusOK && decode[orderAnswer](s.t, last).Order.Status == want
	})
	if !ok {
		s.t.Fatalf("order %s never became %s; last answer %d %s", id, want, last.status, last.raw)
	}
	return decode[orderAnswer](s.t, last).Order
}

func (s *shop) findProduct(id string) (available, reserved int, found bool) {
	s.t.Helper()
	r := s.get(service.Inventory, "/products/"+id)
	switch r.status {
	case http.StatusOK:
	case http.StatusNotFound:
		return 0, 0, false
	default:
		s.t.Fatalf("product %s: %d %s", id, r.status, r.raw)
	}
	p := decode[productAnswer](s.t, r).Product
	return p.Available, p.Reserved, true
}

// waitProduct waits until the products read model shows the counts.
func (s *shop) waitProduct(id string, available, reserved int) {
	s.t.Helper()
	var a, r int
	if !eventually(30*time.Second, func() bool {
		var found bool
		a, r, found = s.findProduct(id)
		return found && a == available && r == reserved
	}) {
		s.t.Fatalf("product %s: available %d reserved %d, want %d and %d", id, a, r, available, reserved)
	}
}

func (s *shop) notifications(orderID string) []notificationJSON {
	s.t.Helper()
	r := s.get(service.Notifications, "/notifications?orderId="+orderID)
	if r.status != http.StatusOK {
		s.t.Fatalf("notifications: %d %s", r.status, r.raw)
	}
	return decode[notificationsAnswer](s.t, r).Notifications
}

// waitNotifications waits until the order has n notifications, all logged
// (the tests configure no provider).
func (s *shop) waitNotifications(orderID string, n int) []notificationJSON {
	s.t.Helper()
	var got []notificationJSON
	if !eventually(30*time.Second, func() bool {
		got = s.notifications(orderID)
		if len(got) != n {
			return false
		}
		for _, x := range got {
			if x.Status != "logged" {
				return false
			}
		}
		return true
	}) {
		s.t.Fatalf("order %s: notifications %v, want %d logged", orderID, got, n)
	}
	return got
}

func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// str digs a string out of an answer that may have one shape or another (an
// order, or an error while it is not there yet); an answer of one known
// shape is read with decode.
func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}
