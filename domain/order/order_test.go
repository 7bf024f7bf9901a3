package order_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"shop/domain/es"
	"shop/domain/order"
	"shop/domain/validation"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func laptop(qty int) order.Item {
	return order.Item{ProductID: "prod-123", ProductName: "Laptop", Quantity: qty, UnitPrice: 99999}
}

func placed(t *testing.T) *order.Order {
	t.Helper()
	o, err := order.Place("o-1", "c-1", []order.Item{laptop(2), {ProductID: "p-2", ProductName: "Mouse", Quantity: 1, UnitPrice: 1050}}, order.Contact{Email: "a@example.com"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestPlaceComputesTotalsInMinorUnits(t *testing.T) {
	t.Parallel()
	o := placed(t)
	if o.Total() != 2*99999+1050 {
		t.Fatalf("total %d", o.Total())
	}
	if o.Status() != order.StatusPending || o.Version() != 1 || o.StoredVersion() != 0 {
		t.Fatalf("status %s version %d stored %d", o.Status(), o.Version(), o.StoredVersion())
	}
	e, ok := o.Changes()[0].(*order.Placed)
	if !ok || e.OrderID != "o-1" || e.CustomerID != "c-1" || len(e.Items) != 2 || e.Contact.Email != "a@example.com" || !e.PlacedAt.Equal(t0) {
		t.Fatalf("event %+v", o.Changes()[0])
	}
}

func TestPlaceReportsEveryViolation(t *testing.T) {
	t.Parallel()
	many := make([]order.Item, order.MaxItems+1)
	for i := range many {
		many[i] = order.Item{ProductID: "p" + strings.Repeat("x", i), ProductName: "n", Quantity: 1, UnitPrice: 1}
	}
	tests := []struct {
		name    string
		items   []order.Item
		contact order.Contact
		fields  []string
	}{
		{"no items", nil, order.Contact{}, []string{"items"}},
		{"too many items", many, order.Contact{}, []string{"items"}},
		{"quantity zero", []order.Item{laptop(0)}, order.Contact{}, []string{"items[0].quantity"}},
		{"quantity too big", []order.Item{laptop(order.MaxQuantity + 1)}, order.Contact{}, []string{"items[0].quantity"}},
		{"free item", []order.Item{{ProductID: "p", ProductName: "n", Quantity: 1}}, order.Contact{}, []string{"items[0].unitPrice"}},
		{"blank product", []order.Item{{ProductID: " ", ProductName: " ", Quantity: 1, UnitPrice: 1}}, order.Contact{}, []string{"items[0].productId", "items[0].productName"}},
		{"same product twice", []order.Item{laptop(1), laptop(2)}, order.Contact{}, []string{"items[1].productId"}},
		{"bad contact", []order.Item{laptop(1)}, order.Contact{Email: "nope", Phone: "12345"}, []string{"contact.email", "contact.phone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := order.Place("o-1", "c-1", tt.items, tt.contact, t0)
			var verr *validation.Error
			if !errors.As(err, &verr) {
				t.Fatalf("error %v, want *validation.Error", err)
			}
			var got []string
			for _, v := range verr.Violations {
				got = append(got, v.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Fatalf("fields %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestPlaceAcceptsEveryContactChannel(t *testing.T) {
	t.Parallel()
	_, err := order.Place("o-1", "c-1", []order.Item{laptop(1)}, order.Contact{Email: "a@b.io", Phone: "+4915112345678", DeviceToken: "tok"}, t0)
	if err != nil {
		t.Fatal(err)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	type step func(o *order.Order) error
	confirm := func(o *order.Order) error { return o.Confirm(t0) }
	reject := func(o *order.Order) error {
		return o.Reject([]order.ItemRejection{{ProductID: "prod-123", Reason: "insufficient_stock", Requested: 2}}, t0)
	}
	cancel := func(o *order.Order) error { return o.Cancel("changed my mind", t0) }
	tests := []struct {
		name  string
		steps []step
		want  order.Status
		err   error
	}{
		{"confirm", []step{confirm}, order.StatusConfirmed, nil},
		{"reject", []step{reject}, order.StatusRejected, nil},
		{"cancel pending", []step{cancel}, order.StatusCancelled, nil},
		{"cancel confirmed", []step{confirm, cancel}, order.StatusCancelled, nil},
		{"confirm twice", []step{confirm, confirm}, order.StatusConfirmed, order.ErrNotPending},
		{"reject confirmed", []step{confirm, reject}, order.StatusConfirmed, order.ErrNotPending},
		{"confirm cancelled", []step{cancel, confirm}, order.StatusCancelled, order.ErrNotPending},
		{"cancel rejected", []step{reject, cancel}, order.StatusRejected, order.ErrNotCancellable},
		{"cancel twice", []step{cancel, cancel}, order.StatusCancelled, order.ErrNotCancellable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := placed(t)
			var err error
			for _, s := range tt.steps {
				if err = s(o); err != nil {
					break
				}
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if o.Status() != tt.want {
				t.Fatalf("status %s, want %s", o.Status(), tt.want)
			}
			if o.Version() != len(o.Changes()) {
				t.Fatalf("version %d with %d changes", o.Version(), len(o.Changes()))
			}
		})
	}
}

func TestFromHistoryRebuildsState(t *testing.T) {
	t.Parallel()
	o := placed(t)
	if err := o.Reject([]order.ItemRejection{{ProductID: "p-2", Reason: "unknown_product"}}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	again, err := order.FromHistory("o-1", o.Changes())
	if err != nil {
		t.Fatal(err)
	}
	if again.Version() != 2 || again.StoredVersion() != 2 || again.Status() != order.StatusRejected ||
		again.Total() != o.Total() || len(again.Rejections()) != 1 || !again.UpdatedAt().Equal(t0.Add(time.Minute)) {
		t.Fatalf("rebuilt %+v", again)
	}
}

type alien struct{}

func (alien) EventName() string { return "alien.landed" }

func TestFromHistoryRefusesUnknownEvents(t *testing.T) {
	t.Parallel()
	_, err := order.FromHistory("o-1", []es.Event{alien{}})
	if !errors.Is(err, es.ErrUnknownEvent) {
		t.Fatalf("error %v", err)
	}
}

func TestCancelReasonIsBounded(t *testing.T) {
	t.Parallel()
	o := placed(t)
	var verr *validation.Error
	if err := o.Cancel(strings.Repeat("x", 501), t0); !errors.As(err, &verr) {
		t.Fatalf("error %v", err)
	}
	if o.Status() != order.StatusPending || len(o.Changes()) != 1 {
		t.Fatal("a refused cancel changed the order")
	}
}

func TestStatusFromString(t *testing.T) {
	t.Parallel()
	for _, s := range []order.Status{order.StatusPending, order.StatusConfirmed, order.StatusRejected, order.StatusCancelled} {
		got, err := order.StatusFromString(s.String())
		if err != nil || got != s {
			t.Fatalf("%s: %v %v", s, got, err)
		}
	}
	if _, err := order.StatusFromString("pending"); err == nil {
		t.Fatal("lower-case status accepted")
	}
}
