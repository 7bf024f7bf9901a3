package eventstore_test

import (
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/app/fault"
	"shop/domain/es"
	"shop/domain/order"
)

func registry(t *testing.T) *eventstore.Registry {
	t.Helper()
	r, err := eventstore.NewRegistry(eventstore.AggregateEvents{AggregateType: order.AggregateType, Events: order.Events()})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A v1 order event as the platform this one replaces stored it, with a float
// artefact in one price.
const placedV1 = `{
  "orderId": "order-456",
  "customerId": "123e4567-e89b-12d3-a456-426614174000",
  "items": [
    {"productId": "prod-123", "productName": "Laptop", "quantity": 1, "unitPrice": 999.99, "totalPrice": 999.99},
    {"productId": "prod-7", "productName": "Cable", "quantity": 3, "unitPrice": 1099.9899999999998, "totalPrice": 3299.97}
  ],
  "totalAmount": 4299.96,
  "status": "PENDING",
  "createdAt": "2023-12-08T10:00:00.000Z"
}`

func TestAStoredV1OrderEventIsUpcastWhenRead(t *testing.T) {
	t.Parallel()
	e, err := registry(t).Decode("order.placed", 1, []byte(placedV1))
	if err != nil {
		t.Fatal(err)
	}
	placed := e.(*order.Placed)
	if placed.OrderID != "order-456" || placed.CustomerID != "123e4567-e89b-12d3-a456-426614174000" || len(placed.Items) != 2 {
		t.Fatalf("placed %+v", placed)
	}
	if placed.Items[0].UnitPrice != 99999 || placed.Items[1].UnitPrice != 109999 || placed.Total != 99999+3*109999 {
		t.Fatalf("prices %d %d total %d", placed.Items[0].UnitPrice, placed.Items[1].UnitPrice, placed.Total)
	}
	if !placed.PlacedAt.Equal(time.Date(2023, 12, 8, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("placed at %v", placed.PlacedAt)
	}
	// The upcast event rebuilds an order like a current one does.
	o, err := order.FromHistory("order-456", []es.Event{placed})
	if err != nil || o.Status() != order.StatusPending || o.Total() != placed.Total {
		t.Fatalf("order %+v %v", o, err)
	}
}

func TestCurrentEventsRoundTrip(t *testing.T) {
	t.Parallel()
	r := registry(t)
	in := &order.Confirmed{OrderID: "o-1", ConfirmedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	v, data, err := r.Encode(in)
	if err != nil || v != 1 {
		t.Fatalf("encode: %d %v", v, err)
	}
	out, err := r.Decode(in.EventName(), v, data)
	if err != nil || *out.(*order.Confirmed) != *in {
		t.Fatalf("decode: %+v %v", out, err)
	}
}

func TestDecodeRefusals(t *testing.T) {
	t.Parallel()
	r := registry(t)
	tests := []struct {
		name    string
		typ     string
		version int
		data    string
	}{
		{"unknown type", "order.teleported", 1, `{}`},
		{"newer schema than known", "order.placed", 3, `{}`},
		{"schema zero", "order.placed", 0, `{}`},
		{"broken JSON", "order.confirmed", 1, `{"OrderID":`},
		{"wrong types", "order.confirmed", 1, `{"OrderID":7}`},
		{"broken v1", "order.placed", 1, `{"items":[{"unitPrice":"free"}]}`},
	}
	for _, tt := range tests {
		if _, err := r.Decode(tt.typ, tt.version, []byte(tt.data)); !fault.IsMalformed(err) {
			t.Errorf("%s: %v, want malformed", tt.name, err)
		}
	}
}

func TestRegistryRefusesDuplicatesAndBadUpcasters(t *testing.T) {
	t.Parallel()
	_, err := eventstore.NewRegistry(
		eventstore.AggregateEvents{AggregateType: "a", Events: order.Events()},
		eventstore.AggregateEvents{AggregateType: "b", Events: order.Events()},
	)
	if err == nil {
		t.Fatal("duplicate event types accepted")
	}
	placed := order.Events()[0]
	bad := map[string]es.EventType{
		"an upcast to a version beyond the current one": {SchemaVersion: 1, New: placed.New, Upcasts: map[int]es.Upcast{1: placed.Upcasts[1]}},
		"no upcast from an older version":               {SchemaVersion: 2, New: placed.New},
		"an upcast from version 0":                      {SchemaVersion: 2, New: placed.New, Upcasts: map[int]es.Upcast{0: placed.Upcasts[1], 1: placed.Upcasts[1]}},
	}
	for name, et := range bad {
		if _, err := eventstore.NewRegistry(eventstore.AggregateEvents{AggregateType: "a", Events: []es.EventType{et}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
