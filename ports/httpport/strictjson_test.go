package httpport_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"shop/app/orders"
	"shop/ports/httpport"
)

// What Go's JSON decoder would take loosely is refused, naming the field,
// before anything is placed.
func TestAnOrderBodyIsReadStrictly(t *testing.T) {
	t.Parallel()
	var placed int
	var app orders.Application
	app.Commands.PlaceOrder = placeOrderFunc(func(_ context.Context, cmd orders.PlaceOrder) (orders.OrderState, error) {
		placed++
		return orders.OrderState{}, nil
	})
	h := ordersHandler(app, httpport.Admin{})
	item := `{"productId":"p-1","productName":"Laptop","quantity":1,"unitPrice":10}`
	cases := []struct {
		name, body, code, field string
	}{
		{"a field name in other case", `{"CUSTOMERID":"c-1","items":[` + item + `]}`, "unknown_field", "CUSTOMERID"},
		{"an item field in other case", `{"customerId":"c-1","items":[{"ProductId":"p-1","productName":"L","quantity":1,"unitPrice":10}]}`, "unknown_field", "items[0].ProductId"},
		{"a key twice", `{"customerId":"c-1","customerId":"c-2","items":[` + item + `]}`, "duplicate_field", "customerId"},
		{"an item key twice", `{"customerId":"c-1","items":[` + item + `,{"productId":"p","productId":"q","productName":"L","quantity":1,"unitPrice":1}]}`, "duplicate_field", "items[1].productId"},
		{"bytes that are not UTF-8", "{\"customerId\":\"c-\xff\",\"items\":[" + item + "]}", "invalid_utf8", ""},
		{"a NUL in a string", `{"customerId":"c-\u0000","items":[` + item + `]}`, "invalid_string", "customerId"},
		{"a control character in an item", `{"customerId":"c-1","items":[{"productId":"p-1","productName":"La\u0007ptop","quantity":1,"unitPrice":10}]}`, "invalid_string", "items[0].productName"},
	}
	for _, c := range cases {
		status, answer := serve(h, http.MethodPost, "/orders", c.body, nil)
		var got struct {
			Error struct {
				Code    string `json:"code"`
				Details []struct {
					Field string `json:"field"`
				} `json:"details"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(answer), &got); err != nil {
			t.Fatalf("%s: %v: %s", c.name, err, answer)
		}
		field := ""
		if len(got.Error.Details) > 0 {
			field = got.Error.Details[0].Field
		}
		if status != http.StatusBadRequest || got.Error.Code != c.code || field != c.field {
			t.Errorf("%s: %d %s, want 400 %s naming %q", c.name, status, answer, c.code, c.field)
		}
	}
	if placed != 0 {
		t.Fatalf("%d orders placed from refused bodies", placed)
	}
}
