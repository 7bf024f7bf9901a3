package httpport

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"shop/app/operations"
	"shop/app/orders"
	"shop/domain/es"
	"shop/domain/order"
	"shop/domain/validation"
)

// IdempotencyHeader names the request header that makes POST /orders safe to retry.
const IdempotencyHeader = "Idempotency-Key"

// Admin is what the orders service's port offers operators: off unless a
// token is set.
type Admin struct {
	Operations *operations.Operations
	Token      string
}

// NewOrdersHandler is the HTTP API of the orders service, with the admin API
// when admin has a token.
func NewOrdersHandler(app orders.Application, admin Admin, base Base) http.Handler {
	h := ordersHandler{app: app, logger: base.Logger}
	r := newRouter(base)
	mountAdmin(r, admin.Operations, admin.Token, base.Logger)
	r.HandleFunc("/orders", h.place).Methods(http.MethodPost)
	r.HandleFunc("/orders", h.list).Methods(http.MethodGet)
	r.HandleFunc("/orders/{id}", h.get).Methods(http.MethodGet)
	r.HandleFunc("/orders/{id}/cancel", h.cancel).Methods(http.MethodPost)
	r.HandleFunc("/orders/{id}/events", h.history).Methods(http.MethodGet)
	return r
}

type ordersHandler struct {
	app    orders.Application
	logger *slog.Logger
}

type placeOrderRequest struct {
	CustomerID string `json:"customerId"`
	Items      []struct {
		ProductID   string          `json:"productId"`
		ProductName string          `json:"productName"`
		Quantity    int             `json:"quantity"`
		UnitPrice   json.RawMessage `json:"unitPrice"`
	} `json:"items"`
	Contact *contactJSON `json:"contact"`
}

type contactJSON struct {
	Email       string `json:"email,omitempty"`
	Phone       string `json:"phone,omitempty"`
	DeviceToken string `json:"deviceToken,omitempty"`
}

func (h ordersHandler) place(w http.ResponseWriter, r *http.Request) {
	var req placeOrderRequest
	if err := decodeJSON(w, r, &req, false); err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	cmd := orders.PlaceOrder{OrderID: uuid.Must(uuid.NewV7()).String(), CustomerID: req.CustomerID}
	var prices validation.Errors
	for i, it := range req.Items {
		price, err := parseAmount(it.UnitPrice)
		field := fmt.Sprintf("items[%d].unitPrice", i)
		if errors.Is(err, errNotANumber) {
			writeError(w, r, h.logger, fieldError("wrong_type", "a field has the wrong type", field, err.Error()))
			return
		}
		if err != nil {
			prices.Add(field, "%s", err.Error())
		}
		cmd.Items = append(cmd.Items, order.Item{ProductID: it.ProductID, ProductName: it.ProductName, Quantity: it.Quantity, UnitPrice: price})
	}
	if err := prices.Err(); err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	if req.Contact != nil {
		cmd.Contact = order.Contact{Email: req.Contact.Email, Phone: req.Contact.Phone, DeviceToken: req.Contact.DeviceToken}
	}
	if key := r.Header.Get(IdempotencyHeader); key != "" {
		if len(key) > 255 {
			writeError(w, r, h.logger, badRequest("invalid_idempotency_key", "the Idempotency-Key header must be at most 255 characters"))
			return
		}
		cmd.IdempotencyKey = key
		cmd.OrderID = orders.OrderIDForKey(key)
	}

	status, message := http.StatusCreated, "Order created successfully"
	o, err := h.app.Commands.PlaceOrder.Handle(r.Context(), cmd)
	switch {
	case errors.Is(err, orders.ErrAlreadyPlaced):
		status, message = http.StatusOK, "Order already created with this Idempotency-Key"
	case err != nil:
		writeError(w, r, h.logger, err)
		return
	}
	w.Header().Set("Location", "/orders/"+o.ID)
	writeJSON(w, status, orderResponse{Success: true, Message: message, Order: stateJSON(o)})
}

type orderResponse struct {
	Success bool      `json:"success"`
	Message string    `json:"message,omitempty"`
	Order   orderJSON `json:"order"`
}

type orderListResponse struct {
	Success    bool        `json:"success"`
	Orders     []orderJSON `json:"orders"`
	NextCursor string      `json:"nextCursor,omitempty"`
}

type orderJSON struct {
	ID           string          `json:"id"`
	CustomerID   string          `json:"customerId"`
	Items        []itemJSON      `json:"items"`
	TotalAmount  amount          `json:"totalAmount"`
	Status       string          `json:"status"`
	Contact      *contactJSON    `json:"contact,omitempty"`
	Rejections   []rejectionJSON `json:"rejections,omitempty"`
	CancelReason string          `json:"cancelReason,omitempty"`
	CreatedAt    string          `json:"createdAt"`
	UpdatedAt    string          `json:"updatedAt"`
}

type itemJSON struct {
	ProductID   string `json:"productId"`
	ProductName string `json:"productName"`
	Quantity    int    `json:"quantity"`
	UnitPrice   amount `json:"unitPrice"`
	TotalPrice  amount `json:"totalPrice"`
}

type rejectionJSON struct {
	ProductID string `json:"productId"`
	Reason    string `json:"reason"`
	Requested int    `json:"requested"`
	Available int    `json:"available"`
}

func itemsJSON(items []order.Item) []itemJSON {
	out := make([]itemJSON, len(items))
	for i, it := range items {
		out[i] = itemJSON{ProductID: it.ProductID, ProductName: it.ProductName, Quantity: it.Quantity, UnitPrice: amount(it.UnitPrice), TotalPrice: amount(it.Total())}
	}
	return out
}

func rejectionsJSON(rs []order.ItemRejection) []rejectionJSON {
	var out []rejectionJSON
	for _, r := range rs {
		out = append(out, rejectionJSON{ProductID: r.ProductID, Reason: r.Reason, Requested: r.Requested, Available: r.Available})
	}
	return out
}

// stateJSON is an order as a command left it, with the customer's contact.
func stateJSON(o orders.OrderState) orderJSON {
	j := viewJSON(o.OrderView)
	if c := o.Contact; c != (order.Contact{}) {
		j.Contact = &contactJSON{Email: c.Email, Phone: c.Phone, DeviceToken: c.DeviceToken}
	}
	return j
}

func viewJSON(v orders.OrderView) orderJSON {
	return orderJSON{
		ID: v.ID, CustomerID: v.CustomerID, Items: itemsJSON(v.Items), TotalAmount: amount(v.Total),
		Status: v.Status.String(), Rejections: rejectionsJSON(v.Rejections), CancelReason: v.CancelReason,
		CreatedAt: v.CreatedAt.UTC().Format(timeFormat), UpdatedAt: v.UpdatedAt.UTC().Format(timeFormat),
	}
}

func (h ordersHandler) get(w http.ResponseWriter, r *http.Request) {
	v, err := h.app.Queries.Order.Handle(r.Context(), orders.GetOrder{OrderID: mux.Vars(r)["id"]})
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	writeJSON(w, http.StatusOK, orderResponse{Success: true, Order: viewJSON(v)})
}

func (h ordersHandler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := orders.ListOrders{CustomerID: q.Get("customerId")}
	if f.CustomerID == "" {
		writeError(w, r, h.logger, badRequest("invalid_parameter", orders.ErrCustomerRequired.Message))
		return
	}
	var err error
	if f.Limit, err = parseLimit(q.Get("limit")); err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	if s := q.Get("status"); s != "" {
		if f.Status, err = order.StatusFromString(strings.ToUpper(s)); err != nil {
			writeError(w, r, h.logger, badRequest("invalid_parameter", "status must be PENDING, CONFIRMED, REJECTED or CANCELLED"))
			return
		}
	}
	if c := q.Get("cursor"); c != "" {
		if f.After, err = decodeOrderCursor(c); err != nil {
			writeError(w, r, h.logger, badRequest("invalid_parameter", "cursor is not one this API returned"))
			return
		}
	}
	page, err := h.app.Queries.Orders.Handle(r.Context(), f)
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	body := orderListResponse{Success: true, Orders: mapSlice(page.Orders, viewJSON)}
	if page.Next != nil {
		body.NextCursor = encodeOrderCursor(*page.Next)
	}
	writeJSON(w, http.StatusOK, body)
}

func parseLimit(s string) (int, error) {
	if s == "" {
		return 20, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 100 {
		return 0, badRequest("invalid_parameter", "limit must be an integer from 1 to 100")
	}
	return n, nil
}

func encodeOrderCursor(c orders.OrderCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID))
}

func decodeOrderCursor(s string) (*orders.OrderCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	at, id, ok := strings.Cut(string(b), "|")
	if !ok || id == "" {
		return nil, errors.New("cursor without id")
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return nil, err
	}
	return &orders.OrderCursor{CreatedAt: t, ID: id}, nil
}

type cancelRequest struct {
	Reason string `json:"reason"`
}

func (h ordersHandler) cancel(w http.ResponseWriter, r *http.Request) {
	var req cancelRequest
	if err := decodeJSON(w, r, &req, true); err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	o, err := h.app.Commands.CancelOrder.Handle(r.Context(), orders.CancelOrder{OrderID: mux.Vars(r)["id"], Reason: req.Reason})
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	// Anyone who knows the order id may cancel it: the answer, like GET
	// /orders/{id}, keeps the customer's contact details to itself.
	writeJSON(w, http.StatusOK, orderResponse{Success: true, Message: "Order cancelled", Order: viewJSON(o.OrderView)})
}

type eventJSON struct {
	EventID       string          `json:"eventId"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	Version       int             `json:"version"`
	OccurredAt    string          `json:"occurredAt"`
	RecordedAt    string          `json:"recordedAt"`
	CorrelationID string          `json:"correlationId,omitempty"`
	CausationID   string          `json:"causationId,omitempty"`
	Data          json.RawMessage `json:"data"`
}

func (h ordersHandler) history(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	records, err := h.app.Queries.OrderHistory.Handle(r.Context(), orders.GetOrderHistory{OrderID: id})
	if err != nil {
		writeError(w, r, h.logger, err)
		return
	}
	events := make([]eventJSON, len(records))
	for i, rec := range records {
		data, err := json.Marshal(withoutContact(rec.Event))
		if err != nil {
			writeError(w, r, h.logger, err)
			return
		}
		events[i] = eventJSON{
			EventID: rec.EventID, Type: rec.Type, SchemaVersion: rec.SchemaVersion, Version: rec.Version,
			OccurredAt: rec.OccurredAt.UTC().Format(timeFormat), RecordedAt: rec.RecordedAt.UTC().Format(timeFormat),
			CorrelationID: rec.CorrelationID, CausationID: rec.CausationID, Data: data,
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Success bool        `json:"success"`
		OrderID string      `json:"orderId"`
		Events  []eventJSON `json:"events"`
	}{true, id, events})
}

// withoutContact hides the customer's contact details: like GET /orders/{id},
// the audit trail answers anyone who knows the order's id. It shows which
// channels were given, not their addresses.
func withoutContact(e es.Event) es.Event {
	placed, ok := e.(*order.Placed)
	if !ok {
		return e
	}
	hidden := *placed
	hidden.Contact = order.Contact{Email: redact(placed.Contact.Email), Phone: redact(placed.Contact.Phone), DeviceToken: redact(placed.Contact.DeviceToken)}
	return &hidden
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "redacted"
}

func mapSlice[T, U any](in []T, f func(T) U) []U {
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
