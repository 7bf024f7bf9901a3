package httpport

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"shop/app/eventstore"
	"shop/app/fault"
	"shop/app/orders"
	"shop/domain/refusal"
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
	refused, isRefusal := refusal.Of(err)
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
	case isRefusal:
		return refusalStatus[refused.Kind], errorBody{errorDetail{Code: refused.Code, Message: err.Error()}}
	case fault.IsTransient(err), errors.Is(err, eventstore.ErrConflict):
		return http.StatusServiceUnavailable, errorBody{errorDetail{Code: "unavailable", Message: "the service cannot answer right now; try again"}}
	default:
		return http.StatusInternalServerError, errorBody{errorDetail{Code: "internal", Message: "the request failed; the error was logged"}}
	}
}

// refusalStatus answers each kind of refusal (domain/refusal): every
// refusal the domain and the use cases declare is answered by its kind, with
// its code.
var refusalStatus = map[refusal.Kind]int{
	refusal.Invalid:  http.StatusUnprocessableEntity,
	refusal.NotFound: http.StatusNotFound,
	refusal.Conflict: http.StatusConflict,
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
