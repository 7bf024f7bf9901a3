package service_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"shop/app/operations"
	"shop/service"
)

func TestOrderIsConfirmedEndToEndWithItsNotifications(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("prod-123", 10)
		s.addProduct("prod-2", 10)

		body := orderBody("customer-1", item{"prod-123", 2, "999.99"}, item{"prod-2", 1, "0.1"})
		body["contact"] = map[string]any{"email": "ada@example.com", "phone": "+4915112345678"}
		r := s.post(service.Orders, "/orders", body)
		if r.status != http.StatusCreated {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		a := decode[orderAnswer](t, r)
		o := a.Order
		id := o.ID
		if r.header.Get("Location") != "/orders/"+id || !a.Success || a.Message != "Order created successfully" {
			t.Fatalf("response %s, location %q", r.raw, r.header.Get("Location"))
		}
		if o.Status != "PENDING" || o.TotalAmount != "2000.08" || o.CustomerID != "customer-1" || o.CreatedAt == "" || o.UpdatedAt == "" || len(o.Items) != 2 {
			t.Fatalf("order %+v", o)
		}
		if first := o.Items[0]; first.UnitPrice != "999.99" || first.TotalPrice != "1999.98" || first.Quantity != 2 {
			t.Fatalf("item %+v", first)
		}

		s.waitOrder(id, "CONFIRMED")
		s.waitProduct("prod-123", 8, 2)
		s.waitProduct("prod-2", 9, 1)
		got := s.waitNotifications(id, 4)
		var kinds []string
		for _, n := range got {
			kinds = append(kinds, fmt.Sprintf("%s/%s", n.Kind, n.Channel))
		}
		want := []string{"order_confirmed/email", "order_confirmed/sms", "order_created/email", "order_created/sms"}
		if !slices.Equal(kinds, want) {
			t.Fatalf("notifications %v, want %v", kinds, want)
		}
		// The notifications' answer shows the addresses masked only.
		for _, n := range got {
			if masked := map[string]string{"email": "a***@example.com", "sms": "+49***78"}[n.Channel]; n.Recipient != masked {
				t.Errorf("%s/%s recipient %q, want %q", n.Kind, n.Channel, n.Recipient, masked)
			}
		}
		// Nothing on the way was set aside: every consumer knows every event
		// type, also those it does not react to.
		if dead, err := s.system(service.Orders).Operations().DeadLetters(context.Background(), operations.DeadLetterFilter{}); err != nil || len(dead) != 0 {
			t.Fatalf("dead letters %+v %v", dead, err)
		}
	})
}

func TestOrderIsRejectedForLackOfStockWithNothingLeftReserved(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("plenty", 100)
		s.addProduct("scarce", 1)
		id := s.placeOrder(orderBody("c", item{"plenty", 5, "1"}, item{"scarce", 2, "1"}, item{"ghost", 1, "1"}))

		o := s.waitOrder(id, "REJECTED")
		if len(o.Rejections) != 2 {
			t.Fatalf("rejections %+v", o.Rejections)
		}
		scarce, ghost := o.Rejections[0], o.Rejections[1]
		if scarce.ProductID != "scarce" || scarce.Reason != "insufficient_stock" || scarce.Requested != 2 || scarce.Available != 1 {
			t.Fatalf("scarce %+v", scarce)
		}
		if ghost.ProductID != "ghost" || ghost.Reason != "unknown_product" {
			t.Fatalf("ghost %+v", ghost)
		}
		s.waitProduct("plenty", 100, 0)
		s.waitProduct("scarce", 1, 0)
		n := s.waitNotifications(id, 2)
		if n[0].Kind != "order_created" || n[1].Kind != "order_rejected" || n[0].Channel != "log" {
			t.Fatalf("notifications %+v", n)
		}
	})
}

func TestCancelReleasesStock(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("p", 10)
		id := s.placeOrder(orderBody("c", item{"p", 4, "10"}))
		s.waitOrder(id, "CONFIRMED")
		s.waitProduct("p", 6, 4)

		r := s.post(service.Orders, "/orders/"+id+"/cancel", map[string]any{"reason": "changed my mind"})
		if r.status != http.StatusOK || decode[orderAnswer](t, r).Order.Status != "CANCELLED" {
			t.Fatalf("cancel: %d %s", r.status, r.raw)
		}
		o := s.waitOrder(id, "CANCELLED")
		if o.CancelReason != "changed my mind" {
			t.Fatalf("order %+v", o)
		}
		s.waitProduct("p", 10, 0)
		s.waitNotifications(id, 3)

		if r := s.post(service.Orders, "/orders/"+id+"/cancel", nil); r.status != http.StatusConflict || decode[errorAnswer](t, r).Error.Code != "order_not_cancellable" {
			t.Fatalf("second cancel: %d %s", r.status, r.raw)
		}
	})
}

func TestCancelWhileReservingGivesTheStockBack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("p", 1000)
		var ids []string
		for range 20 {
			id := s.placeOrder(orderBody("c", item{"p", 3, "1"}))
			// Cancelled at once, often before the reservation was made.
			if r := s.post(service.Orders, "/orders/"+id+"/cancel", nil); r.status != http.StatusOK {
				t.Fatalf("cancel: %d %s", r.status, r.raw)
			}
			ids = append(ids, id)
		}
		for _, id := range ids {
			s.waitOrder(id, "CANCELLED")
		}
		s.waitProduct("p", 1000, 0)
	})
}

func TestIdempotencyKeySequential(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("p", 10)
		body := orderBody("c", item{"p", 1, "5"})
		key := map[string]string{"Idempotency-Key": "key-1"}

		first := s.do(http.MethodPost, service.Orders, "/orders", body, key)
		second := s.do(http.MethodPost, service.Orders, "/orders", body, key)
		if first.status != http.StatusCreated || second.status != http.StatusOK {
			t.Fatalf("statuses %d, %d: %s", first.status, second.status, second.raw)
		}
		id := decode[orderAnswer](t, first).Order.ID
		if decode[orderAnswer](t, second).Order.ID != id || second.header.Get("Location") != "/orders/"+id {
			t.Fatalf("second answer %s", second.raw)
		}
		other := s.do(http.MethodPost, service.Orders, "/orders", orderBody("c", item{"p", 2, "5"}), key)
		if other.status != http.StatusUnprocessableEntity || decode[errorAnswer](t, other).Error.Code != "idempotency_key_reused" {
			t.Fatalf("reused key: %d %s", other.status, other.raw)
		}
		s.waitOrder(id, "CONFIRMED")
		s.waitProduct("p", 9, 1)
		if page := s.get(service.Orders, "/orders?customerId=c"); len(decode[orderListAnswer](t, page).Orders) != 1 {
			t.Fatalf("orders %s", page.raw)
		}
	})
}

func TestIdempotencyKeyRacing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("p", 100)
		body := orderBody("c", item{"p", 3, "5"})
		const n = 20
		statuses := make([]int, n)
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r := s.do(http.MethodPost, service.Orders, "/orders", body, map[string]string{"Idempotency-Key": "race"})
				statuses[i], ids[i] = r.status, str(r.body, "order", "id")
			})
		}
		wg.Wait()
		created := 0
		for i := range n {
			switch statuses[i] {
			case http.StatusCreated:
				created++
			case http.StatusOK:
			default:
				t.Fatalf("request %d: status %d", i, statuses[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("ids differ: %v", ids)
			}
		}
		if created != 1 {
			t.Fatalf("%d requests created an order", created)
		}
		s.waitOrder(ids[0], "CONFIRMED")
		s.waitProduct("p", 97, 3)
	})
}

func TestConcurrentOrdersNeverOversell(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be)
		s.addProduct("hot", 50)
		const n = 200
		ids := make([]string, n)
		answers := make([]response, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				answers[i] = s.post(service.Orders, "/orders", orderBody(fmt.Sprintf("c-%d", i), item{"hot", 1, "19.99"}))
			})
		}
		wg.Wait()
		// Stops at the first placement refused, with its answer: the test's
		// goroutines cannot stop the test themselves.
		for i, r := range answers {
			if r.status != http.StatusCreated {
				t.Fatalf("placement %d: %d %s", i, r.status, r.raw)
			}
			ids[i] = decode[orderAnswer](t, r).Order.ID
		}
		confirmed, rejected := 0, 0
		for _, id := range ids {
			if !eventually(30*time.Second, func() bool {
				st := str(s.get(service.Orders, "/orders/"+id).body, "order", "status")
				switch st {
				case "CONFIRMED":
					confirmed++
				case "REJECTED":
					rejected++
				default:
					return false
				}
				return true
			}) {
				t.Fatalf("order %s never decided", id)
			}
		}
		if confirmed != 50 || rejected != 150 {
			t.Fatalf("confirmed %d, rejected %d", confirmed, rejected)
		}
		s.waitProduct("hot", 0, 50)
	})
}
