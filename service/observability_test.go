package service_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"shop/infrastructure/logging"
	"shop/service"
)

// scrape reads a service's /metrics.
func (s *shop) scrape(svc string) map[string]*dto.MetricFamily {
	s.t.Helper()
	resp, err := s.client.Get(s.urls[svc] + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var parser expfmt.TextParser
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return families
}

// value finds the value of the series with the labels; ok is false when none.
func value(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := families[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.Metric {
		match := true
		for k, v := range labels {
			found := false
			for _, l := range m.Label {
				found = found || (l.GetName() == k && l.GetValue() == v)
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// The metrics do not depend on the stores: each bus, with stores in memory.
func TestMetricsAfterAnOrder(t *testing.T) {
	forBackends(t, func(be backend) bool { return !be.mongo }, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("p", 10)
		id := s.placeOrder(orderBody("c", item{"p", 2, "5"}))
		s.waitOrder(id, "CONFIRMED")
		s.waitNotifications(id, 2)

		want := []struct {
			svc, name string
			labels    map[string]string
			value     float64
		}{
			{service.Orders, "shop_orders_total", map[string]string{"event": "placed"}, 1},
			{service.Orders, "shop_orders_total", map[string]string{"event": "confirmed"}, 1},
			{service.Inventory, "shop_reservations_total", map[string]string{"outcome": "confirmed"}, 1},
			{service.Notifications, "shop_notifications_total", map[string]string{"channel": "log", "status": "logged"}, 2},
			{service.Orders, "shop_http_requests_total", map[string]string{"service": "orders", "route": "/orders", "method": "POST", "status": "201"}, 1},
			{service.Inventory, "shop_http_requests_total", map[string]string{"service": "inventory", "route": "/products", "method": "POST", "status": "201"}, 1},
			{service.Orders, "shop_http_request_duration_seconds", map[string]string{"route": "/orders", "status": "201"}, 1},
			{service.Orders, "shop_command_duration_seconds", map[string]string{"command": "orders.place_order", "outcome": "ok"}, 1},
			{service.Orders, "shop_command_duration_seconds", map[string]string{"command": "orders.confirm_order", "outcome": "ok"}, 1},
			{service.Orders, "shop_events_appended_total", map[string]string{"service": "orders", "type": "order.placed"}, 1},
			{service.Orders, "shop_eventstore_append_duration_seconds", map[string]string{"service": "orders"}, 2},
			{service.Orders, "shop_eventstore_conflicts_total", map[string]string{"service": "orders"}, 0},
			{service.Orders, "shop_relay_lag_seconds", map[string]string{"service": "orders"}, 2},
			{service.Orders, "shop_relay_pending_events", map[string]string{"service": "orders"}, 0},
		}
		var families map[string]*dto.MetricFamily
		for _, w := range want {
			var got float64
			var ok bool
			if !eventually(10*time.Second, func() bool {
				families = s.scrape(w.svc)
				got, ok = value(families, w.name, w.labels)
				return (ok || w.value == 0) && got == w.value
			}) {
				t.Errorf("%s%v = %v (found %v), want %v", w.name, w.labels, got, ok, w.value)
			}
		}
		if _, ok := value(s.scrape(service.Orders), "shop_watermill_handler_execution_time_seconds", map[string]string{"success": "true"}); !ok {
			t.Errorf("no Watermill handler metrics")
		}
		if be.bus != service.BusGoChannel {
			if _, ok := value(s.scrape(service.Orders), "shop_broker_pending_messages", map[string]string{"consumer_group": "orders.order-projection.p0"}); !ok {
				t.Errorf("no broker backlog of the order projection")
			}
		}
		if _, ok := families["go_goroutines"]; !ok {
			t.Errorf("no runtime metrics")
		}
	})
}

// syncBuffer collects log lines from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		if key := repeatedKey(sc.Bytes()); key != "" {
			t.Fatalf("log line has %q twice, which readers take either way: %s", key, sc.Text())
		}
		out = append(out, line)
	}
	return out
}

// repeatedKey is a key the JSON object has twice at its top level.
func repeatedKey(object []byte) string {
	dec := json.NewDecoder(bytes.NewReader(object))
	seen := map[string]bool{}
	depth := 0
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
			expectKey = depth == 1
			continue
		case string:
			if depth == 1 && expectKey {
				if seen[v] {
					return v
				}
				seen[v] = true
				expectKey = false
				continue
			}
		}
		expectKey = depth == 1
	}
}

func TestLogLinesAreJSONAndNameWhatTheyAreAbout(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := logging.New(io.Writer(&logs), logging.FormatJSON, slog.LevelInfo)
	s := startShop(t, backends[0], withLogger(logger))
	s.addProduct("p", 10)
	body := orderBody("c", item{"p", 1, "5"})
	body["contact"] = map[string]any{"email": "secret.customer@example.com"}
	r := s.do(http.MethodPost, service.Orders, "/orders", body, map[string]string{"X-Correlation-ID": "corr-logs-1"})
	id := decode[orderAnswer](t, r).Order.ID
	s.waitOrder(id, "CONFIRMED")
	s.waitNotifications(id, 2)

	var request, delivered map[string]any
	if !eventually(5*time.Second, func() bool {
		request, delivered = nil, nil
		for _, l := range logs.lines(t) {
			if l["msg"] == "request" && l["route"] == "/orders" && l["method"] == "POST" {
				request = l
			}
			if l["msg"] == "notification logged" && l["correlation_id"] == "corr-logs-1" && strings.Contains(fmt.Sprint(l["notification_id"]), "order_confirmed") {
				delivered = l
			}
		}
		return request != nil && delivered != nil
	}) {
		t.Fatalf("lines not found:\n%s", logs.b.String())
	}
	if request["status"] != 201.0 || request["correlation_id"] != "corr-logs-1" || request["service"] != "orders" || request["bytes"].(float64) <= 0 || request["duration_ms"] == nil || request["level"] != "INFO" {
		t.Fatalf("access log %v", request)
	}
	if delivered["message_id"] == "" || !strings.HasPrefix(fmt.Sprint(delivered["handler"]), "notifications.order-policy.p") || delivered["attempt"] != 1.0 || delivered["service"] != "notifications" {
		t.Fatalf("message log %v", delivered)
	}
	for _, l := range logs.lines(t) {
		if line, _ := json.Marshal(l); strings.Contains(string(line), "secret.customer") {
			t.Fatalf("a log line carries the customer's address: %s", line)
		}
	}
}
