package httpport_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"shop/app/eventstore"
	"shop/app/eventstore/eventstoretest"
	"shop/app/fault"
	"shop/app/orders"
	"shop/domain/money"
	"shop/domain/order"
	"shop/infrastructure/memory"
	"shop/ports/httpport"
)

// placedOrderStore holds one order placed with every contact channel.
func placedOrderStore(t *testing.T, orderID string) eventstore.Store {
	t.Helper()
	store := memory.NewEventStore(eventstoretest.Codec(t))
	placed := &order.Placed{
		OrderID: orderID, CustomerID: "c-1",
		Items:   []order.Item{{ProductID: "p-1", ProductName: "Laptop", Quantity: 2, UnitPrice: money.Amount(99999)}},
		Contact: order.Contact{Email: "ada@example.com", Phone: "+4915112345678", DeviceToken: "device-token-1"},
		Total:   money.Amount(199998), PlacedAt: time.Now(),
	}
	err := store.Append(context.Background(), []eventstore.Record{{
		EventID: "e-1", AggregateType: order.AggregateType, AggregateID: orderID, Version: 1,
		Type: placed.EventName(), Event: placed, OccurredAt: placed.PlacedAt,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func ordersHandler(app orders.Application, admin httpport.Admin) http.Handler {
	return httpport.NewOrdersHandler(app, admin, httpport.Base{Service: "orders", Logger: slog.New(slog.DiscardHandler)})
}

func serve(h http.Handler, method, path, body string, header map[string]string) (int, string) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, w.Body.String()
}

func TestTheOrderHistoryHidesTheContactDetails(t *testing.T) {
	t.Parallel()
	var app orders.Application
	app.Queries.OrderHistory = orders.NewGetOrderHistoryHandler(placedOrderStore(t, "o-1"))
	status, body := serve(ordersHandler(app, httpport.Admin{}), http.MethodGet, "/orders/o-1/events", "", nil)
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	for _, secret := range []string{"ada@example.com", "+4915112345678", "device-token-1"} {
		if strings.Contains(body, secret) {
			t.Errorf("the history shows %s: %s", secret, body)
		}
	}
	var history struct {
		Events []struct {
			Data struct {
				CustomerID string
				Items      []map[string]any
				Total      json.Number
				Contact    map[string]string
			} `json:"data"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(body), &history); err != nil || len(history.Events) != 1 {
		t.Fatalf("%v: %s", err, body)
	}
	data := history.Events[0].Data
	if data.CustomerID != "c-1" || len(data.Items) != 1 || data.Total.String() != "199998" {
		t.Fatalf("the rest of the payload is gone: %s", body)
	}
	if data.Contact["Email"] != "redacted" || data.Contact["Phone"] != "redacted" || data.Contact["DeviceToken"] != "redacted" {
		t.Fatalf("the channels given are not shown: %s", body)
	}
}

type placeOrderFunc func(context.Context, orders.PlaceOrder) (orders.OrderState, error)

func (f placeOrderFunc) Handle(ctx context.Context, cmd orders.PlaceOrder) (orders.OrderState, error) {
	return f(ctx, cmd)
}

// A placement whose outcome is not known is a 503 that says the order may
// exist, and how to find out without placing it twice.
func TestAPlacementOfUnknownOutcomeNamesTheOrderAndTheKey(t *testing.T) {
	t.Parallel()
	var app orders.Application
	app.Commands.PlaceOrder = placeOrderFunc(func(_ context.Context, cmd orders.PlaceOrder) (orders.OrderState, error) {
		return orders.OrderState{}, &orders.OutcomeUnknownError{OrderID: cmd.OrderID, IdempotencyKey: cmd.IdempotencyKey, Err: fault.Unavailable("mongodb", errors.New("connection reset by peer"))}
	})
	body := `{"customerId":"c-1","items":[{"productId":"p-1","productName":"Laptop","quantity":1,"unitPrice":10}],"contact":{"email":"ada@example.com"}}`
	status, answer := serve(ordersHandler(app, httpport.Admin{}), http.MethodPost, "/orders", body, map[string]string{"Idempotency-Key": "key-7"})
	var got struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(answer), &got); err != nil {
		t.Fatalf("%v: %s", err, answer)
	}
	id := orders.OrderIDForKey("key-7")
	if status != http.StatusServiceUnavailable || got.Error.Code != "outcome_unknown" ||
		!strings.Contains(got.Error.Message, id) || !strings.Contains(got.Error.Message, `"key-7"`) {
		t.Fatalf("%d %s", status, answer)
	}
}
