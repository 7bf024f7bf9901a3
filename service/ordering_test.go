package service_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/app/operations"
	"shop/domain/order"
	"shop/service"
)

// An order's placement a crashed process never published, and its
// cancellation published at once by a live one: every consumer sees the
// cancellation first. It waits for the placement, which a live relay brings
// once it takes the dead one's origin over, and both take effect in order;
// nothing is set aside.
func TestAnEventThatOvertookItsPredecessorWaitsForIt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, be backend) {
		s := startShop(t, be, withConfig(func(c *service.Config) {
			c.RelaySweepAge = time.Second
			c.RelaySweepInterval = 100 * time.Millisecond
		}))
		s.addProduct("p", 10)
		ctx := context.Background()
		o, err := order.Place("overtaken-1", "c", []order.Item{{ProductID: "p", ProductName: "P", Quantity: 3, UnitPrice: 100}},
			order.Contact{Email: "ada@example.com"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		s.appendAsADeadProcess(service.Orders, eventstore.Record{
			EventID: "overtaken-placed", AggregateType: order.AggregateType, AggregateID: "overtaken-1", Version: 1,
			Type: o.Changes()[0].EventName(), Event: o.Changes()[0], OccurredAt: time.Now(),
		})
		r := s.post(service.Orders, "/orders/overtaken-1/cancel", map[string]any{"reason": "too slow"})
		if r.status != http.StatusOK {
			t.Fatalf("cancel: %d %s", r.status, r.raw)
		}
		// Whoever knows the order id may cancel it; the answer keeps the
		// customer's contact details to itself.
		if strings.Contains(string(r.raw), "ada@example.com") {
			t.Fatalf("the cancellation shows the contact: %s", r.raw)
		}
		view := s.waitOrder("overtaken-1", "CANCELLED")
		if view.CancelReason != "too slow" {
			t.Fatalf("order %+v", view)
		}
		s.waitProduct("p", 10, 0)
		kinds := map[string]bool{}
		for _, n := range s.waitNotifications("overtaken-1", 2) {
			kinds[n.Kind] = true
		}
		if !kinds["order_created"] || !kinds["order_cancelled"] {
			t.Fatalf("notifications %v", kinds)
		}
		if dead, err := s.system(service.Orders).Operations().DeadLetters(ctx, operations.DeadLetterFilter{}); err != nil || len(dead) != 0 {
			t.Fatalf("dead letters %+v %v", dead, err)
		}
	})
}
