package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"shop/service"
)

// shop is the whole system running in the test's process, reached over HTTP
// as a client would.
type shop struct {
	t      testing.TB
	sys    *service.System
	urls   map[string]string
	client *http.Client
}

type option func(*service.Config, *service.Adapters)

func withAdapters(a service.Adapters) option {
	return func(_ *service.Config, to *service.Adapters) { *to = a }
}

// testConfig is the embedded configuration with retries fast enough for tests.
func testConfig() service.Config {
	cfg := service.DefaultConfig()
	cfg.DemoCatalog = false
	cfg.Router.RetryDelay = 5 * time.Millisecond
	cfg.Router.MaxRetryDelay = 50 * time.Millisecond
	cfg.Router.UnavailableDelay = 20 * time.Millisecond
	cfg.Router.HandlerTimeout = 5 * time.Second
	cfg.Router.CloseTimeout = 5 * time.Second
	return cfg
}

func startShop(t testing.TB, opts ...option) *shop {
	t.Helper()
	cfg := testConfig()
	var adapters service.Adapters
	for _, o := range opts {
		o(&cfg, &adapters)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sys, err := service.New(cfg, logger, adapters)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := sys.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s := &shop{t: t, sys: sys, urls: map[string]string{}, client: defaultClient()}
	var servers []*httptest.Server
	for _, name := range cfg.Services {
		srv := httptest.NewServer(sys.Service(name).Handler)
		servers = append(servers, srv)
		s.urls[name] = srv.URL
	}
	t.Cleanup(func() {
		for _, srv := range servers {
			srv.Close()
		}
		cancel()
		if err := sys.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

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
	return str(r.body, "order", "id")
}

// waitOrderStatus waits until the read model shows the order in a final state
// and returns its view.
func (s *shop) waitOrder(id string, want string) map[string]any {
	s.t.Helper()
	var last response
	ok := eventually(10*time.Second, func() bool {
		last = s.get(service.Orders, "/orders/"+id)
		return last.status == http.StatusOK && str(last.body, "order", "status") == want
	})
	if !ok {
		s.t.Fatalf("order %s never became %s; last answer %d %s", id, want, last.status, last.raw)
	}
	return last.body["order"].(map[string]any)
}

func (s *shop) product(id string) (available, reserved int) {
	s.t.Helper()
	r := s.get(service.Inventory, "/products/"+id)
	if r.status != http.StatusOK {
		s.t.Fatalf("product %s: %d %s", id, r.status, r.raw)
	}
	p := r.body["product"].(map[string]any)
	return int(p["available"].(float64)), int(p["reserved"].(float64))
}

// waitProduct waits until the products read model shows the counts.
func (s *shop) waitProduct(id string, available, reserved int) {
	s.t.Helper()
	var a, r int
	if !eventually(10*time.Second, func() bool {
		a, r = s.product(id)
		return a == available && r == reserved
	}) {
		s.t.Fatalf("product %s: available %d reserved %d, want %d and %d", id, a, r, available, reserved)
	}
}

func (s *shop) notifications(orderID string) []map[string]any {
	s.t.Helper()
	r := s.get(service.Notifications, "/notifications?orderId="+orderID)
	if r.status != http.StatusOK {
		s.t.Fatalf("notifications: %d %s", r.status, r.raw)
	}
	var out []map[string]any
	for _, n := range r.body["notifications"].([]any) {
		out = append(out, n.(map[string]any))
	}
	return out
}

// waitNotifications waits until the order has n notifications, all sent.
func (s *shop) waitNotifications(orderID string, n int) []map[string]any {
	s.t.Helper()
	var got []map[string]any
	if !eventually(10*time.Second, func() bool {
		got = s.notifications(orderID)
		if len(got) != n {
			return false
		}
		for _, x := range got {
			if x["status"] != "sent" {
				return false
			}
		}
		return true
	}) {
		s.t.Fatalf("order %s: notifications %v, want %d sent", orderID, got, n)
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

// str digs a string out of decoded JSON.
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
