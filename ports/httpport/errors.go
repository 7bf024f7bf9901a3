package httpport

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"shop/app/eventstore"
	"shop/app/fault"
	"shop/app/inventory"
	"shop/app/orders"
	"shop/domain/order"
	"shop/domain/validation"
)

// errorBody is the one error shape of every endpoint.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Details []fieldDetail `json:"details,omitempty"`
}

type fieldDetail struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// httpError is an error with the status and code it is answered with.
type httpError struct {
	status  int
	code    string
	message string
	details []fieldDetail
}

func (e *httpError) Error() string { return e.message }

func badRequest(code, message string) error {
	return &httpError{status: http.StatusBadRequest, code: code, message: message}
}

// writeError answers err in the shared error shape. Only this function maps
// errors to status codes.
func writeError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	status, body := describe(err)
	if status >= 500 {
		logger.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, body)
}

func describe(err error) (int, errorBody) {
	var he *httpError
	var verr *validation.Error
	var maxBytes *http.MaxBytesError
	var unknown *orders.OutcomeUnknownError
	switch {
	case errors.As(err, &he):
		return he.status, errorBody{errorDetail{Code: he.code, Message: he.message, Details: he.details}}
	case errors.As(err, &maxBytes):
		return http.StatusRequestEntityTooLarge, errorBody{errorDetail{Code: "body_too_large", Message: "the request body is larger than 1 MiB"}}
	case errors.As(err, &verr):
		details := make([]fieldDetail, len(verr.Violations))
		for i, v := range verr.Violations {
			details[i] = fieldDetail{Field: v.Field, Message: v.Message}
		}
		return http.StatusUnprocessableEntity, errorBody{errorDetail{Code: "validation_failed", Message: "the request is not valid", Details: details}}
	case errors.As(err, &unknown):
		return http.StatusServiceUnavailable, errorBody{errorDetail{Code: "outcome_unknown", Message: outcomeUnknownMessage(unknown)}}
	case errors.Is(err, orders.ErrIdempotencyKeyReused):
		return http.StatusUnprocessableEntity, errorBody{errorDetail{Code: "idempotency_key_reused", Message: "this Idempotency-Key was used for a different order; use a new key"}}
	case errors.Is(err, orders.ErrOrderNotFound):
		return http.StatusNotFound, errorBody{errorDetail{Code: "order_not_found", Message: "no order has this id"}}
	case errors.Is(err, inventory.ErrProductNotFound):
		return http.StatusNotFound, errorBody{errorDetail{Code: "product_not_found", Message: "no product has this id"}}
	case errors.Is(err, eventstore.ErrNotFound):
		return http.StatusNotFound, errorBody{errorDetail{Code: "not_found", Message: err.Error()}}
	case errors.Is(err, order.ErrNotCancellable):
		return http.StatusConflict, errorBody{errorDetail{Code: "order_not_cancellable", Message: err.Error()}}
	case errors.Is(err, eventstore.ErrAlreadyExists):
		return http.StatusConflict, errorBody{errorDetail{Code: "already_exists", Message: err.Error()}}
	case fault.IsTransient(err), errors.Is(err, eventstore.ErrConflict):
		return http.StatusServiceUnavailable, errorBody{errorDetail{Code: "unavailable", Message: "the service cannot answer right now; try again"}}
	default:
		return http.StatusInternalServerError, errorBody{errorDetail{Code: "internal", Message: "the request failed; the error was logged"}}
	}
}

// outcomeUnknownMessage tells a client whose write may have been stored how
// to find out without doing it twice.
func outcomeUnknownMessage(e *orders.OutcomeUnknownError) string {
	msg := fmt.Sprintf("the service lost its store's answer; order %s may have been changed: GET /orders/%s tells", e.OrderID, e.OrderID)
	if e.IdempotencyKey != "" {
		msg += fmt.Sprintf(", or send the request again with Idempotency-Key %q", e.IdempotencyKey)
	}
	return msg
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
