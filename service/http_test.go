package service_test

import (
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"shop/service"
)

func TestBadInputGetsAClearErrorAndChangesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("p", 10)
		valid := `{"customerId":"c","items":[{"productId":"p","productName":"P","quantity":1,"unitPrice":9.99}]}`
		json415 := map[string]string{"Content-Type": "text/plain"}
		tests := []struct {
			name        string
			method, svc string
			path, body  string
			header      map[string]string
			status      int
			code        string
			field       string
		}{
			{"malformed JSON", "POST", service.Orders, "/orders", `{"customerId":`, nil, 400, "malformed_json", ""},
			{"not JSON at all", "POST", service.Orders, "/orders", `customer=1`, nil, 400, "malformed_json", ""},
			{"two JSON values", "POST", service.Orders, "/orders", valid + valid, nil, 400, "malformed_json", ""},
			{"empty body", "POST", service.Orders, "/orders", ``, nil, 400, "empty_body", ""},
			{"unknown field", "POST", service.Orders, "/orders", `{"customerId":"c","items":[],"coupon":"FREE"}`, nil, 400, "unknown_field", "coupon"},
			{"wrong type", "POST", service.Orders, "/orders", `{"customerId":"c","items":[{"productId":"p","productName":"P","quantity":"1","unitPrice":1}]}`, nil, 400, "wrong_type", "items[0].quantity"},
			{"body is an array", "POST", service.Orders, "/orders", `[]`, nil, 400, "wrong_type", ""},
			{"not JSON content type", "POST", service.Orders, "/orders", valid, json415, 415, "unsupported_media_type", ""},
			{"too large", "POST", service.Orders, "/orders", `{"customerId":"` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, "body_too_large", ""},
			{"no items", "POST", service.Orders, "/orders", `{"customerId":"c","items":[]}`, nil, 422, "validation_failed", "items"},
			{"price with 3 decimals", "POST", service.Orders, "/orders", `{"customerId":"c","items":[{"productId":"p","productName":"P","quantity":1,"unitPrice":9.999}]}`, nil, 422, "validation_failed", "items[0].unitPrice"},
			{"price as a string", "POST", service.Orders, "/orders", `{"customerId":"c","items":[{"productId":"p","productName":"P","quantity":1,"unitPrice":"9.99"}]}`, nil, 400, "wrong_type", "items[0].unitPrice"},
			{"price with an exponent", "POST", service.Orders, "/orders", `{"customerId":"c","items":[{"productId":"p","productName":"P","quantity":1,"unitPrice":1e308}]}`, nil, 422, "validation_failed", "items[0].unitPrice"},
			{"a field name in other case", "POST", service.Orders, "/orders", `{"CUSTOMERID":"c","items":[{"productId":"p","productName":"P","quantity":1,"unitPrice":1}]}`, nil, 400, "unknown_field", "CUSTOMERID"},
			{"a key twice", "POST", service.Orders, "/orders", `{"customerId":"c","customerId":"d","items":[{"productId":"p","productName":"P","quantity":1,"unitPrice":1}]}`, nil, 400, "duplicate_field", "customerId"},
			{"a null body", "POST", service.Orders, "/orders", `null`, nil, 400, "wrong_type", ""},
			{"negative price", "POST", service.Orders, "/orders", `{"customerId":"c","items":[{"productId":"p","productName":"P","quantity":1,"unitPrice":-1}]}`, nil, 422, "validation_failed", "items[0].unitPrice"},
			{"zero quantity", "POST", service.Orders, "/orders", `{"customerId":"c","items":[{"productId":"p","productName":"P","quantity":0,"unitPrice":1}]}`, nil, 422, "validation_failed", "items[0].quantity"},
			{"bad contact", "POST", service.Orders, "/orders", `{"customerId":"c","contact":{"email":"nope"},"items":[{"productId":"p","productName":"P","quantity":1,"unitPrice":1}]}`, nil, 422, "validation_failed", "contact.email"},
			{"unknown order", "GET", service.Orders, "/orders/nope", ``, nil, 404, "order_not_found", ""},
			{"unknown order history", "GET", service.Orders, "/orders/nope/events", ``, nil, 404, "order_not_found", ""},
			{"cancel unknown order", "POST", service.Orders, "/orders/nope/cancel", ``, nil, 404, "order_not_found", ""},
			{"orders of every customer", "GET", service.Orders, "/orders", ``, nil, 400, "invalid_parameter", ""},
			{"orders of no customer", "GET", service.Orders, "/orders?customerId=", ``, nil, 400, "invalid_parameter", ""},
			{"bad limit", "GET", service.Orders, "/orders?customerId=c&limit=0", ``, nil, 400, "invalid_parameter", ""},
			{"bad status", "GET", service.Orders, "/orders?customerId=c&status=SHIPPED", ``, nil, 400, "invalid_parameter", ""},
			{"bad cursor", "GET", service.Orders, "/orders?customerId=c&cursor=bm90LWEtY3Vyc29y", ``, nil, 400, "invalid_parameter", ""},
			{"unknown route", "GET", service.Orders, "/carts", ``, nil, 404, "route_not_found", ""},
			{"wrong method", "DELETE", service.Orders, "/orders", ``, nil, 405, "method_not_allowed", ""},
			{"product exists", "POST", service.Inventory, "/products", `{"productId":"p","name":"P","stock":1}`, nil, 409, "already_exists", ""},
			{"product without name", "POST", service.Inventory, "/products", `{"productId":"q","stock":1}`, nil, 422, "validation_failed", "name"},
			{"negative stock", "POST", service.Inventory, "/products", `{"productId":"q","name":"Q","stock":-1}`, nil, 422, "validation_failed", "stock"},
			{"no stock", "POST", service.Inventory, "/products", `{"productId":"q","name":"Q"}`, nil, 422, "validation_failed", "stock"},
			{"a product id with a slash", "POST", service.Inventory, "/products", `{"productId":"a/b","name":"Q","stock":1}`, nil, 422, "validation_failed", "productId"},
			{"a product id climbing up", "POST", service.Inventory, "/products", `{"productId":"../etc","name":"Q","stock":1}`, nil, 422, "validation_failed", "productId"},
			{"a customer id with a space", "POST", service.Orders, "/orders", `{"customerId":"c d","items":[{"productId":"p","productName":"P","quantity":1,"unitPrice":1}]}`, nil, 422, "validation_failed", "customerId"},
			{"a bad products cursor", "GET", service.Inventory, "/products?cursor=%25%25", ``, nil, 400, "invalid_parameter", ""},
			{"restock nothing", "POST", service.Inventory, "/products/p/restock", `{"quantity":0}`, nil, 422, "validation_failed", "quantity"},
			{"restock unknown", "POST", service.Inventory, "/products/nope/restock", `{"quantity":1}`, nil, 404, "product_not_found", ""},
			{"unknown product", "GET", service.Inventory, "/products/nope", ``, nil, 404, "product_not_found", ""},
			{"notifications without order", "GET", service.Notifications, "/notifications", ``, nil, 400, "missing_parameter", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				header := map[string]string{"Content-Type": "application/json"}
				for k, v := range tt.header {
					header[k] = v
				}
				var body any
				if tt.body != "" {
					body = tt.body
				}
				r := s.do(tt.method, tt.svc, tt.path, body, header)
				e := decode[errorAnswer](t, r).Error
				if r.status != tt.status || e.Code != tt.code || e.Message == "" {
					t.Fatalf("%d %s, want %d %s", r.status, r.raw, tt.status, tt.code)
				}
				if tt.field != "" {
					found := false
					for _, d := range e.Details {
						found = found || d.Field == tt.field
					}
					if !found {
						t.Fatalf("no detail for %s: %s", tt.field, r.raw)
					}
				}
			})
		}
		// Nothing of the above placed an order or moved stock.
		if n := countRecords(t, s.store(service.Orders)); n != 0 {
			t.Fatalf("%d order events stored", n)
		}
		s.waitProduct("p", 10, 0)
	})
}

func TestListOrdersNewestFirstWithCursor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("p", 100)
		s.addProduct("none", 0)
		var ids []string
		for i := range 5 {
			product := "p"
			if i%2 == 1 {
				product = "none"
			}
			ids = append(ids, s.placeOrder(orderBody("alice", item{product, 1, "1"})))
		}
		s.placeOrder(orderBody("bob", item{"p", 1, "1"}))
		for i, id := range ids {
			want := "CONFIRMED"
			if i%2 == 1 {
				want = "REJECTED"
			}
			s.waitOrder(id, want)
		}

		var seen []string
		cursor := ""
		for pages := 0; ; pages++ {
			r := s.get(service.Orders, "/orders?customerId=alice&limit=2&cursor="+cursor)
			if r.status != http.StatusOK || pages > 3 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			page := decode[orderListAnswer](t, r)
			for _, o := range page.Orders {
				seen = append(seen, o.ID)
			}
			cursor = page.NextCursor
			if cursor == "" {
				break
			}
		}
		if len(seen) != 5 {
			t.Fatalf("seen %v", seen)
		}
		for i := range seen {
			if seen[i] != ids[len(ids)-1-i] {
				t.Fatalf("order %v, want newest first of %v", seen, ids)
			}
		}
		r := s.get(service.Orders, "/orders?customerId=alice&status=REJECTED")
		if got := decode[orderListAnswer](t, r).Orders; len(got) != 2 || got[0].ID != ids[3] {
			t.Fatalf("rejected: %s", r.raw)
		}
		if r := s.get(service.Orders, "/orders?customerId=nobody"); r.status != 200 || len(decode[orderListAnswer](t, r).Orders) != 0 {
			t.Fatalf("nobody: %s", r.raw)
		}
	})
}

func TestOrderHistoryIsTheStoredEventsInOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("p", 1)
		r := s.do(http.MethodPost, service.Orders, "/orders", orderBody("c", item{"p", 1, "1"}), map[string]string{"X-Correlation-ID": "corr-42"})
		if r.header.Get("X-Correlation-ID") != "corr-42" {
			t.Fatalf("correlation header %q", r.header.Get("X-Correlation-ID"))
		}
		id := decode[orderAnswer](t, r).Order.ID
		s.waitOrder(id, "CONFIRMED")
		s.post(service.Orders, "/orders/"+id+"/cancel", nil)
		h := s.get(service.Orders, "/orders/"+id+"/events")
		events := decode[orderHistoryAnswer](t, h).Events
		var types []string
		for i, ev := range events {
			types = append(types, ev.Type)
			if ev.Version != i+1 || ev.EventID == "" || ev.RecordedAt == "" {
				t.Fatalf("event %d: %+v", i, ev)
			}
		}
		if strings.Join(types, ",") != "order.placed,order.confirmed,order.cancelled" {
			t.Fatalf("types %v", types)
		}
		// The confirmation was caused by the reservation, in the same conversation.
		confirmed := events[1]
		if confirmed.CorrelationID != "corr-42" || confirmed.CausationID == "" || confirmed.CausationID == events[0].CausationID {
			t.Fatalf("confirmed %+v", confirmed)
		}
		if data := string(events[0].Data); !strings.Contains(data, `"Total":100`) {
			t.Fatalf("data %s", data)
		}
	})
}

func TestProductsCatalog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		r := s.post(service.Inventory, "/products", map[string]any{"productId": "prod-123", "name": "Laptop", "stock": 25})
		if r.status != http.StatusCreated || r.header.Get("Location") != "/products/prod-123" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if p := decode[productAnswer](t, r).Product; p.ProductID != "prod-123" || p.Name != "Laptop" || p.Available != 25 || p.Reserved != 0 {
			t.Fatalf("product %+v", p)
		}
		r = s.post(service.Inventory, "/products/prod-123/restock", map[string]any{"quantity": 10})
		if a := decode[productAnswer](t, r); r.status != http.StatusOK || a.Message != "Product restocked" || a.Product.Available != 35 {
			t.Fatalf("restock %d %s", r.status, r.raw)
		}
		s.waitProduct("prod-123", 35, 0)
		for _, id := range []string{"b", "a", "c"} {
			s.addProduct(id, 1)
		}
		if !eventually(5*time.Second, func() bool {
			return len(decode[productListAnswer](t, s.get(service.Inventory, "/products")).Products) == 4
		}) {
			t.Fatal("catalog incomplete")
		}
		first := decode[productListAnswer](t, s.get(service.Inventory, "/products?limit=2"))
		next := first.NextCursor
		second := decode[productListAnswer](t, s.get(service.Inventory, "/products?limit=2&cursor="+next))
		ids := func(page productListAnswer) (out []string) {
			for _, p := range page.Products {
				out = append(out, p.ProductID)
			}
			return out
		}
		if strings.Join(ids(first), ",") != "a,b" || next != "b" || strings.Join(ids(second), ",") != "c,prod-123" || second.NextCursor != "" {
			t.Fatalf("pages %v %v (%s)", ids(first), ids(second), next)
		}
	})
}

func TestHealth(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		busName := map[string]string{service.BusGoChannel: "gochannel", service.BusAMQP: "rabbitmq", service.BusRedis: "redis"}[be.bus]
		for _, svc := range service.AllServices {
			r := s.get(svc, "/health")
			h := decode[healthAnswer](t, r)
			if r.status != http.StatusOK || h.Status != "healthy" || h.Services[busName] != "connected" || h.Timestamp == "" || h.Uptime < 0 {
				t.Fatalf("%s: %d %s", svc, r.status, r.raw)
			}
			if be.mongo && h.Services["mongodb"] != "connected" {
				t.Fatalf("%s: %s", svc, r.raw)
			}
			if be.bus == service.BusAMQP && h.Services["redis"] != "connected" {
				t.Fatalf("%s: %s", svc, r.raw)
			}
			// No provider is configured: every channel is logged, and no
			// provider has a breaker. A process that runs the notifications
			// service says so.
			logged := map[string]string{"email": "log", "sms": "log", "push": "log", "log": "log"}
			if (svc == service.Notifications && !maps.Equal(h.Senders, logged)) || h.CircuitBreakers["notifier-smtp"] != "" {
				t.Fatalf("%s: senders and breakers %s", svc, r.raw)
			}
			// The only replica of its service consumes every partition.
			partitions := service.DefaultConfig().Topics.Partitions
			if be.bus != service.BusGoChannel {
				partitions = 2
			}
			if len(h.Partitions[svc]) != partitions {
				t.Fatalf("%s: partitions %s, want all %d", svc, r.raw, partitions)
			}
		}
	})
}
